import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import {
  decidePush,
  decodeUtf8,
  deliveryFromHeaders,
  header,
  isDeliveryId,
  parseJsonObject,
  refuseField,
  refuseSignature,
  requireMediaType,
  requireRef,
  requireSha,
  settle,
  siteSecret,
  type JsonObject,
} from './adapter-support.ts';
import type { WebhookOutcome } from './push-event.ts';
import { parseHexSignature, verifyHexSignature } from './signature.ts';

/**
 * Berth's own webhook format, for a CI job, a git hook or a forge that is not
 * listed. Documented in docs/webhooks.md:
 *
 * - the hex HMAC-SHA256 of the body under the site's secret in the header
 *   named by `signature_header` (`X-Berth-Signature` by default), bare or as
 *   `sha256=<hex>`;
 * - a JSON body `{"ref": "refs/heads/main" or "main", "sha": "<commit>",
 *   "delivery"?, "author"?, "message"?, "repository"?}`;
 * - the delivery id from `delivery`, else the `X-Request-Id` header, else the
 *   hash of the body.
 *
 * There is no event type: every request is a push.
 */

export function receive(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return settle(() => {
    const secret = siteSecret(site);
    const shown = site.webhook?.signatureHeader ?? '';
    const name = shown.toLowerCase();
    const presented = header(headers, name);
    if (presented === undefined) {
      refuseSignature(`the request has no ${shown} header; send the hex HMAC-SHA256 of the body, keyed with this site's webhook secret, in it`);
    }
    const parsed = parseHexSignature(presented, presented.startsWith('sha256=') ? 'sha256=' : '');
    if (!parsed.ok) refuseSignature(`the ${shown} header ${parsed.problem}; expected the hex HMAC-SHA256 of the body, bare or after sha256=`);
    if (!verifyHexSignature(secret, body, parsed.hex)) {
      refuseSignature(`the ${shown} header does not match the body; sign the exact bytes sent, with the secret Berth has for this site`);
    }

    requireMediaType(headers, ['application/json'], 'send Content-Type: application/json');
    const payload = parseJsonObject(decodeUtf8(body, 'the body'), 'the body');

    const delivery = payload.delivery === undefined ? deliveryFromHeaders(headers, ['x-request-id'], body) : deliveryField(payload.delivery);
    const ref = requireRef(fullRef(payload.ref), 'ref');
    const sha = requireSha(payload.sha, 'sha');
    return decidePush(site, 'generic', {
      delivery,
      ref,
      sha,
      deleted: false,
      author: optionalString(payload, 'author'),
      message: optionalString(payload, 'message'),
      repository: optionalString(payload, 'repository'),
    });
  });
}

/** `main` -> `refs/heads/main`; a full ref is kept; anything else is left for `requireRef` to refuse. */
function fullRef(value: unknown): unknown {
  return typeof value === 'string' && value !== '' && !value.startsWith('refs/') ? `refs/heads/${value}` : value;
}

function deliveryField(value: unknown): string {
  if (typeof value !== 'string' || !isDeliveryId(value)) {
    return refuseField('delivery', value, 'an id of 1 to 255 visible ASCII characters, unique to this delivery');
  }
  return value;
}

function optionalString(payload: JsonObject, key: string): string | undefined {
  const value = payload[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') refuseField(key, value, 'a string');
  return value;
}
