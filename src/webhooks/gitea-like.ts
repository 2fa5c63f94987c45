import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import {
  decideGithubStylePush,
  decodeUtf8,
  deliveryFromHeaders,
  displayName,
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
 * Gitea and Forgejo (a fork of Gitea) send the same webhooks under their own
 * header names: the hex HMAC-SHA256 of the body with no prefix, an event name
 * (`push`), a delivery id, and a GitHub-like push payload. Forgejo also sends
 * the `X-Gitea-*` headers, so either set is accepted from it.
 */
export interface GiteaFlavour {
  forge: 'gitea' | 'forgejo';
  /** For messages: `Gitea`, `Forgejo`. */
  label: string;
  /** Lower-case header names, most specific first; the first one present is the one checked. */
  signatureHeaders: readonly string[];
  eventHeaders: readonly string[];
  deliveryHeaders: readonly string[];
}

export function receiveGiteaLike(flavour: GiteaFlavour, site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return settle(() => {
    const secret = siteSecret(site);
    // The first signature header present decides: a bad X-Forgejo-Signature
    // is not rescued by a good X-Gitea-Signature next to it.
    const signatureHeader = flavour.signatureHeaders.find((name) => header(headers, name) !== undefined);
    if (signatureHeader === undefined) {
      const names = flavour.signatureHeaders.map(displayName).join(' or ');
      refuseSignature(`${flavour.label} sent no ${names} header; set a secret in the webhook settings on ${flavour.label}, the same secret Berth has for this site`);
    }
    const shown = displayName(signatureHeader);
    const parsed = parseHexSignature(header(headers, signatureHeader) ?? '', '');
    if (!parsed.ok) refuseSignature(`the ${shown} header ${parsed.problem}; expected the hex HMAC-SHA256 of the body`);
    if (!verifyHexSignature(secret, body, parsed.hex)) {
      refuseSignature(`the ${shown} header does not match the body; check that the secret set on ${flavour.label} is the one Berth has for this site`);
    }

    requireMediaType(headers, ['application/json'], `choose POST and application/json for the webhook on ${flavour.label}`);
    const payload = parseJsonObject(decodeUtf8(body, 'the body'), 'the body');
    const delivery = deliveryFromHeaders(headers, flavour.deliveryHeaders, body);

    const eventHeader = flavour.eventHeaders.find((name) => header(headers, name) !== undefined);
    const event = eventHeader === undefined ? undefined : header(headers, eventHeader)?.trim();
    if (event === undefined || event === '') {
      refuseMalformed(`${flavour.label} sent no ${flavour.eventHeaders.map(displayName).join(' or ')} header; expected push`);
    }
    if (event !== 'push') return ignore(`event ${eventLabel(event)} is not a push; nothing to deploy`, delivery);
    return decideGithubStylePush(site, flavour.forge, payload, delivery);
  });
}
