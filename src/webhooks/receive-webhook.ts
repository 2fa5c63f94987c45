import type { IncomingHttpHeaders } from 'node:http';
import { isBerthNotification } from './notification-loop.ts';
import type { ResolvedSite } from '../config/resolved-config.ts';
import * as bitbucket from './bitbucket.ts';
import * as forgejo from './forgejo.ts';
import * as generic from './generic.ts';
import * as gitea from './gitea.ts';
import * as github from './github.ts';
import * as gitlab from './gitlab.ts';
import type { WebhookOutcome } from './push-event.ts';

/** The headers the forges Berth knows send their signature or token in (lower case). */
const FORGE_SIGNATURE_HEADERS = ['x-hub-signature-256', 'x-hub-signature', 'x-gitea-signature', 'x-forgejo-signature', 'x-gitlab-token', 'webhook-signature'];

/**
 * Whether the request carries a header that any forge, or any site's
 * generic webhook, sends its signature in. A request without one cannot be
 * signed, and its body is not worth reading.
 *
 * Deliberately not the header of the site's own forge: the same question
 * for every site, and for a site name nobody configured, means the answer
 * (and whether the body is read before it) does not tell which sites exist
 * or which forge they use. A request with some signature header has its body
 * read, within the limits, and then fails the signature check.
 */
export function hasSignatureHeader(headers: IncomingHttpHeaders, sites: readonly ResolvedSite[]): boolean {
  if (FORGE_SIGNATURE_HEADERS.some((name) => headers[name] !== undefined)) return true;
  return sites.some((site) => site.webhook?.forge === 'generic' && headers[site.webhook.signatureHeader.toLowerCase()] !== undefined);
}

/**
 * Turns a webhook request for `site` into what to do about it, using the
 * adapter of the site's forge. A pure function of its inputs (and, for a
 * GitLab signing token, the clock): nothing is read, written or triggered.
 *
 * Every adapter checks in the same order, so the status says how far a
 * request got: the signature first (401 whatever the body holds), then the
 * content type (415), then the JSON and its fields (400), then the event and
 * the branch (202 ignored, or a push). `body` must be the raw bytes as
 * received, already capped by `readBody`.
 *
 * @param now the current time in milliseconds; only GitLab's signing-token
 *   scheme, which signs a timestamp, reads it
 */
export function receiveWebhook(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer, now: number = Date.now()): WebhookOutcome {
  const webhook = site.webhook;
  if (webhook === undefined) {
    return { kind: 'reject', status: 401, code: 'E_WEBHOOK_SIGNATURE', message: 'site has no webhook configured' };
  }
  if (isBerthNotification(headers)) {
    return { kind: 'ignore', reason: 'a notification from Berth is never a push; not deployed', delivery: undefined };
  }
  switch (webhook.forge) {
    case 'github':
      return github.receive(site, headers, body);
    case 'gitlab':
      return gitlab.receive(site, headers, body, now);
    case 'gitea':
      return gitea.receive(site, headers, body);
    case 'forgejo':
      return forgejo.receive(site, headers, body);
    case 'bitbucket':
      return bitbucket.receive(site, headers, body);
    case 'generic':
      return generic.receive(site, headers, body);
  }
}
