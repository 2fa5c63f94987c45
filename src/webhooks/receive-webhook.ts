import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import * as bitbucket from './bitbucket.ts';
import * as forgejo from './forgejo.ts';
import * as generic from './generic.ts';
import * as gitea from './gitea.ts';
import * as github from './github.ts';
import * as gitlab from './gitlab.ts';
import type { Rejection } from './adapter-support.ts';
import type { WebhookOutcome } from './push-event.ts';

/**
 * What can be refused from the headers alone, before a byte of the body is
 * read: a site without a webhook, and a request without the signature
 * header (or token) its forge's scheme sends in a header. (GitLab's secret
 * token is checked in full here: it is the whole proof.) Undefined when the
 * body is worth reading.
 */
export function checkBeforeBody(site: ResolvedSite, headers: IncomingHttpHeaders, now: number = Date.now()): Rejection | undefined {
  const webhook = site.webhook;
  if (webhook === undefined) {
    return { kind: 'reject', status: 401, code: 'E_WEBHOOK_SIGNATURE', message: 'site has no webhook configured' };
  }
  switch (webhook.forge) {
    case 'github':
      return github.checkBeforeBody(site, headers);
    case 'gitlab':
      return gitlab.checkBeforeBody(site, headers, now);
    case 'gitea':
      return gitea.checkBeforeBody(site, headers);
    case 'forgejo':
      return forgejo.checkBeforeBody(site, headers);
    case 'bitbucket':
      return bitbucket.checkBeforeBody(site, headers);
    case 'generic':
      return generic.checkBeforeBody(site, headers);
  }
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
