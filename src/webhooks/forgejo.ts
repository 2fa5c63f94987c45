import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import { receiveGiteaLike, type GiteaFlavour } from './gitea-like.ts';
import type { WebhookOutcome } from './push-event.ts';

/**
 * Forgejo webhooks: `X-Forgejo-Signature` (hex HMAC-SHA256 of the body),
 * `X-Forgejo-Event: push`, `X-Forgejo-Delivery`. Forgejo sends the same
 * values under `X-Gitea-*` as well, so those are accepted when the
 * `X-Forgejo-*` ones are absent.
 */
const FORGEJO: GiteaFlavour = {
  forge: 'forgejo',
  label: 'Forgejo',
  signatureHeaders: ['x-forgejo-signature', 'x-gitea-signature'],
  eventHeaders: ['x-forgejo-event', 'x-gitea-event'],
  deliveryHeaders: ['x-forgejo-delivery', 'x-gitea-delivery'],
};

export function receive(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return receiveGiteaLike(FORGEJO, site, headers, body);
}
