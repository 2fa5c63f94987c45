import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Caller } from '../admin/admin-caller.ts';
import { readFields, sendJson } from '../admin/admin-http.ts';
import type { ShownState } from '../deploy/shown-state.ts';
import { BerthError } from '../errors.ts';
import { resumePosition, streamLogEvents } from './log-events.ts';
import type { SiteService } from './site-service.ts';
import { readDeployLog } from './read-deploy-log.ts';

export const API_PREFIX = '/_berth/api/v1/';

export interface ApiContext {
  service: SiteService;
  dataDir: string;
  caller: Caller;
  /** Checks a change's CSRF token and origin (see admin-caller.ts); given the body's `csrf` field. */
  checkChange(formToken: string | undefined): void;
}

/** A change to a site: the caller's right to deploy it first, then the body, then the body's (or header's) CSRF token. */
async function siteChange(req: IncomingMessage, context: ApiContext, site: string): Promise<Map<string, string>> {
  context.caller.need(site, 'deploy');
  const fields = await readFields(req);
  context.checkChange(fields.get('csrf'));
  return fields;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL, context: ApiContext) => Promise<void>;

interface Route {
  method: 'GET' | 'POST';
  /** Segments after /_berth/api/v1/; `*` matches one segment of a name or id. */
  pattern: string[];
  handle: Handler;
}

/** Segments are names and ids: letters, digits, `-`, `_`, `.`; never `..`. Anything else matches no route. */
const SEGMENT = /^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

const ROUTES: Route[] = [
  {
    method: 'GET',
    pattern: ['session'],
    async handle(_req, res, _params, _url, { caller }) {
      // A script signed in with the cookie reads its CSRF token here; a token caller has none to send.
      sendJson(res, 200, { caller: caller.name, kind: caller.session === undefined ? 'token' : 'session', csrfToken: caller.session?.csrfToken ?? null });
    },
  },
  {
    method: 'GET',
    pattern: ['sites'],
    async handle(_req, res, _params, _url, { service, caller }) {
      sendJson(res, 200, { sites: await service.sites((site) => caller.sees(site)) });
    },
  },
  {
    method: 'GET',
    pattern: ['sites', '*'],
    async handle(_req, res, [site], _url, { service, caller }) {
      caller.need(site as string, 'read');
      sendJson(res, 200, { site: await service.site(site as string) });
    },
  },
  {
    method: 'GET',
    pattern: ['sites', '*', 'deploys'],
    async handle(_req, res, [site], url, { service, caller }) {
      caller.need(site as string, 'read');
      const limit = url.searchParams.get('limit');
      const deploys = await service.deploys(site as string, {
        state: (url.searchParams.get('state') ?? undefined) as ShownState | undefined,
        branch: url.searchParams.get('branch') ?? undefined,
        limit: limit === null ? undefined : /^\d{1,4}$/.test(limit) ? Number(limit) : Number.NaN,
        before: url.searchParams.get('before') ?? undefined,
      });
      sendJson(res, 200, { deploys });
    },
  },
  {
    method: 'POST',
    pattern: ['sites', '*', 'deploys'],
    async handle(req, res, [site], _url, context) {
      const fields = await siteChange(req, context, site as string);
      sendJson(res, 202, { deploy: await context.service.redeploy(site as string, fields.get('ref'), context.caller.name) });
    },
  },
  {
    method: 'GET',
    pattern: ['sites', '*', 'releases'],
    async handle(_req, res, [site], _url, { service, caller }) {
      caller.need(site as string, 'read');
      sendJson(res, 200, { releases: await service.releases(site as string) });
    },
  },
  {
    method: 'POST',
    pattern: ['sites', '*', 'rollback'],
    async handle(req, res, [site], _url, context) {
      const fields = await siteChange(req, context, site as string);
      const release = fields.get('release');
      if (release === undefined || release === '') throw new BerthError('E_API_BAD_REQUEST', 'Name the release to roll back to: {"release": "<id>"}');
      sendJson(res, 200, await context.service.rollback(site as string, release, context.caller.name));
    },
  },
  {
    method: 'POST',
    pattern: ['sites', '*', 'lock'],
    async handle(req, res, [site], _url, context) {
      const fields = await siteChange(req, context, site as string);
      sendJson(res, 200, { lock: context.service.lock(site as string, context.caller.name, fields.get('reason')) });
    },
  },
  {
    method: 'POST',
    pattern: ['sites', '*', 'unlock'],
    async handle(req, res, [site], _url, context) {
      await siteChange(req, context, site as string);
      context.service.unlock(site as string, context.caller.name);
      sendJson(res, 200, { lock: null });
    },
  },
  {
    method: 'GET',
    pattern: ['deploys', '*'],
    async handle(_req, res, [id], _url, { service, caller }) {
      const { deploy } = await service.deploy(id as string);
      caller.need(deploy.site, 'read');
      sendJson(res, 200, { deploy });
    },
  },
  {
    method: 'POST',
    pattern: ['deploys', '*', 'cancel'],
    async handle(req, res, [id], _url, context) {
      const { deploy } = await context.service.deploy(id as string);
      context.caller.need(deploy.site, 'deploy');
      const fields = await readFields(req);
      context.checkChange(fields.get('csrf'));
      sendJson(res, 202, { deploy: await context.service.cancel(deploy.id, context.caller.name) });
    },
  },
  {
    method: 'GET',
    pattern: ['deploys', '*', 'log'],
    async handle(req, res, [id], url, { service, caller, dataDir }) {
      const { deploy, record } = await service.deploy(id as string);
      caller.need(deploy.site, 'read');
      const after = resumePosition(req.headers['last-event-id'], url.searchParams.get('after'));
      if ((req.headers.accept ?? '').includes('text/event-stream')) {
        await streamLogEvents(res, { dataDir, after, record: () => service.deployRecord(record.id) });
        return;
      }
      // Plain text, as far as it is written: for curl and scripts.
      const text = await readDeployLog(dataDir, record.id);
      const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
      if (after > lines.length) throw new BerthError('E_API_LOG_POSITION', `The log has ${lines.length} lines so far; it cannot start after line ${after}`);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      res.end(lines.slice(after).map((line) => `${line}\n`).join(''));
    },
  },
  {
    method: 'GET',
    pattern: ['certificates'],
    async handle(_req, res, _params, _url, { service, caller }) {
      sendJson(res, 200, { certificates: await service.certificates((site) => caller.sees(site)) });
    },
  },
];

/**
 * Answers a request under /_berth/api/v1/. Routes are matched segment by
 * segment against a fixed table; a name or id that is not a plain segment
 * (`..`, `%2e%2e`, a slash) matches nothing and is a 404 before any lookup.
 */
export async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL, context: ApiContext): Promise<void> {
  const rest = url.pathname.slice(API_PREFIX.length);
  const segments = rest === '' ? [] : rest.split('/');
  let methodMismatch = false;
  for (const route of ROUTES) {
    const params = match(route.pattern, segments);
    if (params === undefined) continue;
    if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) {
      methodMismatch = true;
      continue;
    }
    await route.handle(req, res, params, url, context);
    return;
  }
  if (methodMismatch) throw new BerthError('E_API_METHOD', `${String(req.method).slice(0, 10)} is not allowed on ${url.pathname.slice(0, 200)}`);
  throw new BerthError('E_API_NOT_FOUND', `No API route ${url.pathname.slice(0, 200)}; docs/api.md lists them`);
}

function match(pattern: readonly string[], segments: readonly string[]): string[] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] as string;
    const got = segments[i] as string;
    if (want === '*') {
      if (!SEGMENT.test(got)) return undefined;
      params.push(got);
    } else if (want !== got) return undefined;
  }
  return params;
}
