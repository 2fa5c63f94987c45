import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log/logger.ts';
import type { PushReply } from '../deploy/deployer.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import { readBody, WEBHOOK_BODY_LIMIT } from '../webhooks/read-body.ts';
import { receiveWebhook } from '../webhooks/receive-webhook.ts';
import type { SiteTable } from './site-table.ts';

export const HOOKS_PREFIX = '/_berth/hooks/';

/** Where verified pushes go: the deployer, in this process or the primary's. */
export type PushSink = (event: PushEvent) => Promise<PushReply>;

export interface WebhookAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

function answer(status: number, body: object, extra: Record<string, string> = {}): WebhookAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra },
    body: `${JSON.stringify(body)}\n`,
  };
}

/**
 * `POST /_berth/hooks/<site>` on any host name: the path names the site and
 * the signature proves the sender. The body is capped before it is read
 * whole; nothing is triggered unless the signature checks out. Never
 * rejects: an unexpected failure is logged with an id and answered 500 with
 * only that id.
 */
export async function handleWebhook(
  path: string,
  method: string | undefined,
  request: AsyncIterable<Buffer> & { headers: IncomingHttpHeaders },
  table: SiteTable,
  sink: PushSink | undefined,
  logger: Logger,
): Promise<WebhookAnswer> {
  try {
    return await answerWebhook(path, method, request, table, sink, logger);
  } catch (error) {
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
): Promise<WebhookAnswer> {
  const name = path.slice(HOOKS_PREFIX.length).split('?', 1)[0] ?? '';
  if (method !== 'POST') return answer(405, { error: 'E_WEBHOOK_METHOD', message: 'Webhooks are POST requests' }, { allow: 'POST' });
  const site = table.sites.find((candidate) => candidate.config.name === name);
  if (site === undefined) return answer(404, { error: 'E_SITE_UNKNOWN', message: 'No site by that name here' });
  const read = await readBody(request, WEBHOOK_BODY_LIMIT);
  if (!read.ok) {
    logger.warn({ site: name, status: read.status }, 'webhook refused before reading');
    // Closing spares reading the rest of an oversized body just to keep the connection.
    return answer(read.status, { error: read.status === 413 ? 'E_WEBHOOK_TOO_LARGE' : 'E_WEBHOOK_MALFORMED', message: read.message }, { connection: 'close' });
  }
  const outcome = receiveWebhook(site.config, request.headers, read.body);
  if (outcome.kind === 'reject') {
    logger.warn({ site: name, status: outcome.status, code: outcome.code }, 'webhook refused');
    return answer(outcome.status, { error: outcome.code, message: outcome.message });
  }
  if (outcome.kind === 'ignore') {
    logger.info({ site: name, delivery: outcome.delivery, reason: outcome.reason }, 'webhook ignored');
    return answer(202, { status: 'ignored', message: outcome.reason });
  }
  if (sink === undefined) {
    return answer(503, { error: 'E_DEPLOYS_OFF', message: 'This server does not run deploys' }, { 'retry-after': '60' });
  }
  const reply = await sink(outcome.event);
  logger.info({ site: name, delivery: outcome.event.delivery, sha: outcome.event.sha, status: reply.body.status, deploy: reply.body.deploy }, 'webhook received');
  return answer(reply.status, reply.body);
}
