import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import { receiveGiteaLike, type GiteaFlavour } from './gitea-like.ts';
import type { WebhookOutcome } from './push-event.ts';

/**
 * Gitea webhooks: `X-Gitea-Signature` (hex HMAC-SHA256 of the body),
 * `X-Gitea-Event: push`, `X-Gitea-Delivery`. Gitea also sends GitHub- and
 * Gogs-style headers; only its own are read.
 */
const GITEA: GiteaFlavour = {
  forge: 'gitea',
  label: 'Gitea',
  signatureHeaders: ['x-gitea-signature'],
  eventHeaders: ['x-gitea-event'],
  deliveryHeaders: ['x-gitea-delivery'],
};

export function receive(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return receiveGiteaLike(GITEA, site, headers, body);
}
