import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { PushReply } from '../deploy/deployer.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import { BodyBudget } from '../webhooks/body-budget.ts';
import { readBody, WEBHOOK_BODIES_IN_FLIGHT_LIMIT, WEBHOOK_BODY_LIMIT } from '../webhooks/read-body.ts';
import { sha256Hex } from '../webhooks/signature.ts';
import { hasSignatureHeader, receiveWebhook } from '../webhooks/receive-webhook.ts';
import type { SiteTable } from './site-table.ts';
import type { WebhookResult } from './serving-metrics.ts';

/** Hears each webhook request's forge (of the site named, when one is configured) and result, for the metrics. */
export type WebhookCount = (forge: string | undefined, result: WebhookResult) => void;

export const HOOKS_PREFIX = '/_berth/hooks/';

/**
 * The webhook bodies this process holds, all sites and listeners together
 * (see `WEBHOOK_BODIES_IN_FLIGHT_LIMIT`). One per process, as memory is; its
 * counters are what the tests read to see how much was read.
 */
export const webhookBodies = new BodyBudget(WEBHOOK_BODIES_IN_FLIGHT_LIMIT);

/** Seconds a client is asked to wait when the bodies in flight are at their limit. */
const BUSY_RETRY_AFTER_SECONDS = 10;

/** Where verified pushes go: the deployer, in this process or the primary's. */
export type PushSink = (event: PushEvent) => Promise<PushReply>;

export interface WebhookAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function answer(status: number, body: object, extra: Record<string, string> = {}): WebhookAnswer {
  const text = `${JSON.stringify(body)}\n`;
  return {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(text)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...extra,
    },
    body: text,
  };
}

/**
 * Every refusal for want of proof, whatever the reason, and for a site name
 * nobody configured: one answer, so the URL does not tell which site names
 * exist. The reason goes to the log. The connection is closed, since the
 * body may be left unread.
 */
function unauthorized(): WebhookAnswer {
  return answer(
    401,
    { error: 'E_WEBHOOK_SIGNATURE', message: 'The request is not signed for a site on this server; the server log says why' },
    { connection: 'close' },
  );
}

/** Why a request without a signature header is refused for `site`, in its forge's words, for the log. */
function refusalReason(site: ResolvedSite, headers: IncomingHttpHeaders): string {
  // The adapters check the signature before anything else, so an empty body gets the reason the request would.
  const outcome = receiveWebhook(site, headers, Buffer.alloc(0));
  return outcome.kind === 'reject' ? outcome.message : 'no signature header';
}

/** What the log shows of a site name from a URL: any text a client sent, so short and printable only. */
function shownName(name: string): string {
  return /^[A-Za-z0-9._-]{1,64}$/.test(name) ? name : '(not a site name)';
}

/**
 * `POST /_berth/hooks/<site>` on any host name: the path names the site and
 * the signature proves the sender. A request without a signature header
 * (see `hasSignatureHeader`) is refused before its body is read; the body is
 * capped on its own and, with the bodies of other requests, by
 * `webhookBodies`; nothing is triggered unless the signature checks out. Never rejects: an unexpected failure is logged with an id and
 * answered 500 with only that id.
 */
export async function handleWebhook(
  path: string,
  method: string | undefined,
  request: AsyncIterable<Buffer> & { headers: IncomingHttpHeaders },
  table: SiteTable,
  sink: PushSink | undefined,
  logger: Logger,
  count: WebhookCount = () => undefined,
): Promise<WebhookAnswer> {
  try {
    return await answerWebhook(path, method, request, table, sink, logger, count);
  } catch (error) {
    count(undefined, 'error');
    const id = randomUUID().slice(0, 8);
    logger.error({ err: error, errorId: id }, 'webhook handling failed');
    return answer(500, { message: `Internal error ${id}` });
  }
}

async function answerWebhook(
  path: string,
  method: string | undefined,
  request: AsyncIterable<Buffer> & { headers: IncomingHttpHeaders },
  table: SiteTable,
  sink: PushSink | undefined,
  logger: Logger,
  countAs: WebhookCount,
): Promise<WebhookAnswer> {
  const name = path.slice(HOOKS_PREFIX.length).split('?', 1)[0] ?? '';
  const site = table.sites.find((candidate) => candidate.config.name === name);
  // The forge of a configured site only: a name from the URL is the client's and never a label.
  const count = (result: WebhookResult): void => countAs(site?.config.webhook?.forge, result);
  if (method !== 'POST') {
    count('refused');
    return answer(405, { error: 'E_WEBHOOK_METHOD', message: 'Webhooks are POST requests' }, { allow: 'POST' });
  }
  // The same steps whether or not the site exists, so that neither the
  // answer nor when it comes tells which site names do.
  if (!hasSignatureHeader(request.headers, table.sites.map((candidate) => candidate.config))) {
    logger.warn({ site: shownName(name), reason: site === undefined ? 'no site by that name' : refusalReason(site.config, request.headers) }, 'webhook refused before reading its body');
    count('bad_signature');
    return unauthorized();
  }
  const read = await readBody(request, WEBHOOK_BODY_LIMIT, webhookBodies);
  if (!read.ok) {
    logger.warn({ site: shownName(name), status: read.status, reason: read.message }, 'webhook refused while reading its body');
    count('refused');
    // Closing spares reading the rest of an oversized body just to keep the connection.
    if (read.status === 503) {
      return answer(503, { error: 'E_WEBHOOK_BUSY', message: read.message }, { connection: 'close', 'retry-after': String(BUSY_RETRY_AFTER_SECONDS) });
    }
    return answer(read.status, { error: read.status === 413 ? 'E_WEBHOOK_TOO_LARGE' : 'E_WEBHOOK_MALFORMED', message: read.message }, { connection: 'close' });
  }
  let outcome;
  try {
    if (site === undefined) {
      // About the time a signature check of the body takes.
      sha256Hex(read.body);
      logger.warn({ site: shownName(name), reason: 'no site by that name' }, 'webhook refused');
      count('bad_signature');
      return unauthorized();
    }
    outcome = receiveWebhook(site.config, request.headers, read.body);
  } finally {
    read.release();
  }
  if (outcome.kind === 'reject') {
    logger.warn({ site: name, status: outcome.status, code: outcome.code, reason: outcome.message }, 'webhook refused');
    count(outcome.status === 401 ? 'bad_signature' : 'refused');
    if (outcome.status === 401) return unauthorized();
    return answer(outcome.status, { error: outcome.code, message: outcome.message });
  }
  if (outcome.kind === 'ignore') {
    logger.info({ site: name, delivery: outcome.delivery, reason: outcome.reason }, 'webhook ignored');
    count('ignored');
    return answer(202, { status: 'ignored', message: outcome.reason });
  }
  if (sink === undefined) {
    count('refused');
    return answer(503, { error: 'E_DEPLOYS_OFF', message: 'This server does not run deploys' }, { 'retry-after': '60' });
  }
  const reply = await sink(outcome.event);
  count(reply.body.status === 'duplicate' ? 'duplicate' : 'accepted');
  logger.info({ site: name, delivery: outcome.event.delivery, sha: outcome.event.sha, status: reply.body.status, deploy: reply.body.deploy }, 'webhook received');
  return answer(reply.status, reply.body);
}
