import type { IncomingHttpHeaders } from 'node:http';
import type { ResolvedSite } from '../config/resolved-config.ts';
import {
  decidePush,
  decodeUtf8,
  deliveryFromHeaders,
  eventLabel,
  header,
  ignore,
  isObject,
  objectAt,
  parseJsonObject,
  refuseField,
  refuseMalformed,
  refProblem,
  refuseSignature,
  requireMediaType,
  requireSha,
  settle,
  siteSecret,
  stringAt,
  type JsonObject,
} from './adapter-support.ts';
import type { WebhookOutcome } from './push-event.ts';
import { parseHexSignature, verifyHexSignature } from './signature.ts';

/**
 * Bitbucket Cloud webhooks.
 *
 * - Signature: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`
 *   (SHA-256 despite the header name GitHub uses for SHA-1), sent when the
 *   webhook has a secret.
 * - Event: `X-Event-Key: repo:push`; `diagnostics:ping` is a ping.
 * - Delivery id: `X-Request-UUID`. `X-Hook-UUID` is deliberately not used:
 *   it names the webhook, not the delivery, so it is the same on every push
 *   and would make every push after the first look like a duplicate.
 * - Payload: `push.changes[]`, one per ref updated, each with `new` and `old`
 *   states (`null` when the ref was created or deleted).
 */

const DELIVERY_HEADERS = ['x-request-uuid'];

export function receive(site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer): WebhookOutcome {
  return settle(() => {
    const secret = siteSecret(site);
    const presented = header(headers, 'x-hub-signature');
    if (presented === undefined) {
      refuseSignature('Bitbucket sent no X-Hub-Signature header; set a secret in the webhook settings on Bitbucket, the same secret Berth has for this site');
    }
    const parsed = parseHexSignature(presented, 'sha256=');
    if (!parsed.ok) refuseSignature(`the X-Hub-Signature header ${parsed.problem}; expected sha256= and the hex HMAC-SHA256 of the body`);
    if (!verifyHexSignature(secret, body, parsed.hex)) {
      refuseSignature('the X-Hub-Signature header does not match the body; check that the secret set on Bitbucket is the one Berth has for this site');
    }

    requireMediaType(headers, ['application/json'], 'Bitbucket always sends application/json');
    const payload = parseJsonObject(decodeUtf8(body, 'the body'), 'the body');
    const delivery = deliveryFromHeaders(headers, DELIVERY_HEADERS, body);

    const event = header(headers, 'x-event-key')?.trim();
    if (event === undefined || event === '') refuseMalformed('Bitbucket sent no X-Event-Key header; expected repo:push');
    if (event === 'diagnostics:ping') return ignore('ping', delivery);
    if (event !== 'repo:push') return ignore(`event ${eventLabel(event)} is not a push; nothing to deploy`, delivery);

    const push = payload.push;
    if (!isObject(push)) refuseField('push', push, 'an object with the list of changes');
    const changes = push.changes;
    if (!Array.isArray(changes)) refuseField('push.changes', changes, 'a list of changes');
    const read = changes.map((change: unknown, index) => readChange(change, `push.changes[${index}]`));

    const mine = read.find((change) => change.kind === 'branch' && change.name === site.branch);
    if (mine === undefined) {
      if (read.length === 0) return ignore('push with no changes; nothing to deploy', delivery);
      const shown = read.map((change) => `${change.kind} ${change.name}`).join(', ');
      const tagsOnly = read.every((change) => change.kind === 'tag');
      return ignore(`push to ${shown}; site ${site.name} deploys branch ${site.branch}${tagsOnly ? ', not tags' : ''}`, delivery);
    }
    const target = mine.target;
    const sha = target === undefined ? undefined : requireSha(target.hash, `${mine.path}.new.target.hash`);
    return decidePush(site, 'bitbucket', {
      delivery,
      ref: `refs/heads/${mine.name}`,
      sha,
      deleted: target === undefined,
      author: authorName(stringAt(objectAt(target, 'author'), 'raw')),
      message: stringAt(target, 'message'),
      repository: stringAt(objectAt(payload, 'repository'), 'full_name'),
    });
  });
}

interface Change {
  path: string;
  /** `ref` for a type Berth does not know. */
  kind: 'branch' | 'tag' | 'ref';
  name: string;
  /** `new.target`; undefined when the ref was deleted (`new` is null). */
  target: JsonObject | undefined;
}

/** One entry of `push.changes`, from `new`, or from `old` when the ref was deleted. */
function readChange(change: unknown, path: string): Change {
  if (!isObject(change)) return refuseField(path, change, 'an object with new and old');
  const next = change.new;
  if (next !== null && next !== undefined && !isObject(next)) refuseField(`${path}.new`, next, 'an object, or null for a deleted ref');
  const side = isObject(next) ? next : objectAt(change, 'old');
  if (side === undefined) return refuseMalformed(`field ${path} has neither new nor old; expected at least one of them`);
  const sidePath = `${path}.${isObject(next) ? 'new' : 'old'}`;
  const name = side.name;
  if (typeof name !== 'string') refuseField(`${sidePath}.name`, name, 'the name of a branch or tag');
  const problem = refProblem(`refs/heads/${name}`);
  if (problem !== undefined) refuseMalformed(`field ${sidePath}.name ${problem}; expected a branch or tag name`);
  const kind = side.type === 'branch' ? 'branch' : side.type === 'tag' ? 'tag' : 'ref';
  if (!isObject(next)) return { path, kind, name, target: undefined };
  const target = next.target;
  if (!isObject(target)) refuseField(`${sidePath}.target`, target, 'an object with the commit hash');
  return { path, kind, name, target };
}

/** `Jane Doe <jane@example.com>` -> `Jane Doe`. */
function authorName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const name = /^(.*?)\s*<[^<>]*>$/.exec(raw)?.[1]?.trim();
  return name === undefined || name === '' ? raw : name;
}
