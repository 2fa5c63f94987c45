import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import {
  decideGithubStylePush,
  decodeUtf8,
  deliveryFromHeaders,
  eventLabel,
  header,
  ignore,
  parseJsonObject,
  refuseMalformed,
  refuseSignature,
  requireMediaType,
  settle,
  siteSecret,
} from './adapter-support.ts';
import type { WebhookOutcome } from './push-event.ts';
import { parseHexSignature, verifyHexSignature } from './signature.ts';

/**
 * GitHub (and GitHub Enterprise Server) webhooks.
 *
 * - Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
 *   The older SHA-1 `X-Hub-Signature` is not accepted.
 * - Event: `X-GitHub-Event` (`push`; `ping` when the hook is created).
 * - Delivery id: `X-GitHub-Delivery`; a redelivery from GitHub's settings
 *   page keeps it, so it is answered as a duplicate.
 * - Body: JSON, or `application/x-www-form-urlencoded` with the JSON in the
 *   `payload` field (GitHub's "Content type" setting); the signature covers
 *   the raw body as sent, form encoding included.
 */

const SIGNATURE_HEADER = 'x-hub-signature-256';
const FORM = 'application/x-www-form-urlencoded';

export function receive(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return settle(() => {
    const secret = siteSecret(site);
    const presented = header(headers, SIGNATURE_HEADER);
    if (presented === undefined) {
      refuseSignature('GitHub sent no X-Hub-Signature-256 header; set a secret in the webhook settings on GitHub, the same secret Berth has for this site');
    }
    const parsed = parseHexSignature(presented, 'sha256=');
    if (!parsed.ok) refuseSignature(`the X-Hub-Signature-256 header ${parsed.problem}; expected sha256= and the hex HMAC-SHA256 of the body`);
    if (!verifyHexSignature(secret, body, parsed.hex)) {
      refuseSignature('the X-Hub-Signature-256 header does not match the body; check that the secret set on GitHub is the one Berth has for this site');
    }

    const media = requireMediaType(headers, ['application/json', FORM], 'choose application/json as the content type in the webhook settings on GitHub');
    const payload = parseJsonObject(media === FORM ? formPayload(body) : decodeUtf8(body, 'the body'), media === FORM ? 'the payload form field' : 'the body');
    const delivery = deliveryFromHeaders(headers, ['x-github-delivery'], body);

    const event = header(headers, 'x-github-event')?.trim();
    if (event === undefined || event === '') refuseMalformed('GitHub sent no X-GitHub-Event header; expected push or ping');
    if (event === 'ping') return ignore('ping', delivery);
    if (event !== 'push') return ignore(`event ${eventLabel(event)} is not a push; nothing to deploy`, delivery);

    return decideGithubStylePush(site, 'github', payload, delivery);
  });
}

/** The `payload` field of a form-encoded body. */
function formPayload(body: Buffer): string {
  const form = new URLSearchParams(decodeUtf8(body, 'the form body'));
  const values = form.getAll('payload');
  if (values.length === 0) refuseMalformed('the form body has no payload field; expected payload=<the JSON push payload>');
  if (values.length > 1) refuseMalformed(`the form body has ${values.length} payload fields; expected one`);
  return values[0] as string;
}
