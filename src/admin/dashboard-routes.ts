import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SiteService } from '../api/site-service.ts';
import type { ApiLogLine } from '../api/api-types.ts';
import { readDeployLog } from '../api/read-deploy-log.ts';
import { SHOWN_STATES, type ShownState } from '../deploy/shown-state.ts';
import { BerthError } from '../errors.ts';
import { DASHBOARD_ASSET_CACHE_CONTROL, dashboardAsset } from '../dashboard/dashboard-assets.ts';
import { deployPath, releasesPath, sitePath } from '../dashboard/dashboard-paths.ts';
import type { PageContext } from '../dashboard/page-context.ts';
import { renderCertificatesPage } from '../dashboard/pages/certificates-page.ts';
import { renderDeployPage, type DeploySummary } from '../dashboard/pages/deploy-page.ts';
import { renderMessagePage } from '../dashboard/pages/message-page.ts';
import { renderReleasesPage } from '../dashboard/pages/releases-page.ts';
import { renderRollbackPage } from '../dashboard/pages/rollback-page.ts';
import { renderSignInLinkPage } from '../dashboard/pages/sign-in-link-page.ts';
import { renderSignInPage } from '../dashboard/pages/sign-in-page.ts';
import { renderSiteDeploysPage } from '../dashboard/pages/site-deploys-page.ts';
import { renderSitesPage } from '../dashboard/pages/sites-page.ts';
import type { DashboardPages } from './admin-app.ts';
import type { Caller } from './admin-caller.ts';
import { readFields, redirect, sendHtml } from './admin-http.ts';

/** A deploy page shows at most this many of the log's last lines; the API has the rest. */
const PAGE_LOG_LINES = 2_000;
/** Deploys on one page of a site's history; "Older deploys" shows the next. */
const DEPLOYS_PER_PAGE = 100;
const SEGMENT = /^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad request',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Not allowed',
  409: 'Not now',
  413: 'Too large',
  415: 'Bad request',
  416: 'Bad request',
  429: 'Too many attempts',
  500: 'Server error',
};

export interface DashboardDeps {
  service: SiteService;
  dataDir: string;
  /** The admin a sign-in link was made for, without using the link up; undefined for a link that is not valid. */
  linkAdmin(token: string): string | undefined;
}

/**
 * The dashboard's pages: each GET renders from the same service the API
 * answers from, each form's POST acts through it and sends the browser on
 * with a 303 (so a reload does not post twice).
 */
export function createDashboardPages(deps: DashboardDeps): DashboardPages {
  const { service } = deps;
  const contextOf = (caller: Caller): PageContext => {
    if (caller.session === undefined) throw new BerthError('E_ADMIN_SESSION', 'The dashboard is for signed-in admins; API tokens are for /_berth/api/v1/');
    return { admin: caller.name, csrfToken: caller.session.csrfToken, now: new Date() };
  };

  const get = async (res: ServerResponse, parts: string[], url: URL, context: PageContext): Promise<boolean> => {
    const [first, name, third, id, fifth] = parts;
    if (parts.length === 0) {
      sendHtml(res, 200, renderSitesPage({ ...context, sites: await service.sites() }));
      return true;
    }
    if (first === 'certificates' && parts.length === 1) {
      sendHtml(res, 200, renderCertificatesPage({ ...context, certificates: await service.certificates() }));
      return true;
    }
    if (first === 'sites' && name !== undefined && parts.length === 2) {
      const site = await service.site(name);
      const state = url.searchParams.get('state') || null;
      const branch = url.searchParams.get('branch') || null;
      if (state !== null && !SHOWN_STATES.includes(state as ShownState)) throw new BerthError('E_API_BAD_REQUEST', `State ${JSON.stringify(state.slice(0, 40))} is not one of ${SHOWN_STATES.join(', ')}`);
      const before = url.searchParams.get('before') || undefined;
      // One more than a page: whether an older page exists.
      const found = await service.deploys(name, { state: (state ?? undefined) as ShownState | undefined, branch: branch ?? undefined, limit: DEPLOYS_PER_PAGE + 1, before });
      const deploys = found.slice(0, DEPLOYS_PER_PAGE);
      const branches = [...new Set([site.branch, ...(await service.deploys(name, { limit: 200 })).flatMap((deploy) => (deploy.branch === null ? [] : [deploy.branch]))])];
      sendHtml(res, 200, renderSiteDeploysPage({ ...context, site, deploys, filter: { state: state as ShownState | null, branch }, branches, paged: before !== undefined, more: found.length > DEPLOYS_PER_PAGE }));
      return true;
    }
    if (first === 'sites' && name !== undefined && third === 'releases' && parts.length === 3) {
      sendHtml(res, 200, renderReleasesPage({ ...context, site: await service.site(name), releases: await service.releases(name) }));
      return true;
    }
    if (first === 'sites' && name !== undefined && third === 'releases' && id !== undefined && fifth === 'rollback' && parts.length === 5) {
      const releases = await service.releases(name);
      const target = releases.find((release) => release.id === id);
      if (target === undefined) throw new BerthError('E_RELEASE_NOT_FOUND', `Site ${name} has no release ${id}`);
      sendHtml(res, 200, renderRollbackPage({ ...context, site: await service.site(name), target, live: releases.find((release) => release.live) ?? null }));
      return true;
    }
    if (first === 'deploys' && name !== undefined && parts.length === 2) {
      const { deploy } = await service.deploy(name);
      const log = await logLines(deps.dataDir, deploy.id);
      sendHtml(res, 200, renderDeployPage({ ...context, deploy, summary: await summaryOf(service, deploy.site, deploy.releaseId, log), log }));
      return true;
    }
    return false;
  };

  const post = async (req: IncomingMessage, res: ServerResponse, parts: string[], caller: Caller, check: (formToken: string | undefined) => void): Promise<boolean> => {
    const [first, name, third, id, fifth] = parts;
    const fields = await readFields(req);
    check(fields.get('csrf'));
    if (first === 'sites' && name !== undefined && parts.length === 3) {
      caller.need(name, 'deploy');
      if (third === 'deploy') {
        const deploy = await service.redeploy(name, fields.get('ref'), caller.name);
        redirect(res, deployPath(deploy.id));
        return true;
      }
      if (third === 'lock') service.lock(name, caller.name, fields.get('reason'));
      else if (third === 'unlock') service.unlock(name, caller.name);
      else return false;
      redirect(res, sitePath(name));
      return true;
    }
    if (first === 'sites' && name !== undefined && third === 'releases' && id !== undefined && fifth === 'rollback' && parts.length === 5) {
      caller.need(name, 'deploy');
      await service.rollback(name, fields.get('release') ?? id, caller.name);
      redirect(res, releasesPath(name));
      return true;
    }
    if (first === 'deploys' && name !== undefined && third === 'cancel' && parts.length === 3) {
      await service.cancel(name, caller.name);
      redirect(res, deployPath(name));
      return true;
    }
    return false;
  };

  return {
    asset(req, res, url) {
      if (!url.pathname.startsWith('/_berth/assets/')) return false;
      const asset = dashboardAsset(url.pathname);
      if (asset === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
      const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      const body = gzip ? asset.gzip : asset.body;
      res.writeHead(200, {
        'content-type': asset.contentType,
        'content-length': String(body.length),
        'cache-control': DASHBOARD_ASSET_CACHE_CONTROL,
        etag: asset.etag,
        vary: 'accept-encoding',
        'x-content-type-options': 'nosniff',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },

    signIn(res, { status, error, name: given, linkToken }) {
      if (linkToken !== undefined) {
        const name = deps.linkAdmin(linkToken);
        if (name !== undefined) {
          sendHtml(res, status, renderSignInLinkPage({ name, token: linkToken, error: error ?? null }));
          return;
        }
        sendHtml(res, 401, renderSignInPage({ error: 'This sign-in link is not valid any more (used, expired, or never made). Ask for a new one: berth admin link NAME on the server.' }));
        return;
      }
      sendHtml(res, status, renderSignInPage({ error: error ?? null, ...(given === undefined ? {} : { name: given }) }));
    },

    async page(req, res, url, caller, check) {
      const parts = url.pathname.split('/').slice(1).filter((part, i, all) => part !== '' || i < all.length - 1);
      if (parts.some((part) => !SEGMENT.test(part))) throw new BerthError('E_API_NOT_FOUND', 'Nothing is at this address');
      const context = contextOf(caller);
      const answered = req.method === 'GET' || req.method === 'HEAD' ? await get(res, parts, url, context) : req.method === 'POST' ? await post(req, res, parts, caller, check) : false;
      if (!answered) throw new BerthError('E_API_NOT_FOUND', 'Nothing is at this address');
    },

    error(res, status, message, code, caller) {
      const context = caller?.session === undefined ? null : { admin: caller.name, csrfToken: caller.session.csrfToken, now: new Date() };
      sendHtml(
        res,
        status,
        renderMessagePage({ context, status, title: TITLES[status] ?? 'Error', text: message, code: code ?? null, back: context === null ? { href: '/_berth/sign-in', label: 'Sign in' } : { href: '/', label: 'Sites' } }),
        status === 405 ? { allow: 'GET, POST' } : {},
      );
    },
  };
}

/** The log's last lines, numbered from the file's first, read without following a link. */
async function logLines(dataDir: string, id: string): Promise<ApiLogLine[]> {
  const text = await readDeployLog(dataDir, id);
  if (text === '') return [];
  const lines = text.split('\n');
  // A last line without its newline yet is left for the live log to bring whole.
  lines.pop();
  const from = Math.max(0, lines.length - PAGE_LOG_LINES);
  return lines.slice(from).map((line, i) => ({ n: from + i + 1, text: line }));
}

/** What a deploy's release holds and changed, read from the release list and the log's warnings; null before it has a release. */
async function summaryOf(service: SiteService, site: string, releaseId: string | null, log: readonly ApiLogLine[]): Promise<DeploySummary | null> {
  if (releaseId === null) return null;
  const releases = await service.releases(site);
  const at = releases.findIndex((release) => release.id === releaseId);
  const release = releases[at];
  if (release === undefined) return null;
  const changes = await service.releaseChanges(site, releaseId, releases[at + 1]?.id);
  return {
    filesChanged: changes.filesChanged,
    filesTotal: release.files ?? changes.filesTotal,
    redirects: changes.redirects,
    headers: changes.headers,
    warnings: log.filter((line) => /\bwarn(ing)?\b/i.test(line.text)).map((line) => line.text.replace(/^\[\s*[\d.]+s\] /, '')).slice(0, 20),
  };
}
