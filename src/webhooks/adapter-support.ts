import type { IncomingHttpHeaders } from 'node:http';
import type { Forge, ResolvedSite } from '../config/resolved-config.ts';
import type { PushEvent, WebhookOutcome } from './push-event.ts';
import { sha256Hex } from './signature.ts';

/**
 * What the forge adapters share: refusing a request, reading headers and
 * JSON, checking refs and commit ids, and deciding whether a push is one to
 * deploy.
 *
 * Messages never contain the secret, a signature, or a value taken from the
 * body other than ref and branch names (which the reasons for ignoring a push
 * must name). A field that is wrong is described by its type and length only,
 * so a body cannot make Berth repeat what it says.
 */

export type Rejection = Extract<WebhookOutcome, { kind: 'reject' }>;

/** A JSON object from a payload. */
export type JsonObject = Record<string, unknown>;

/** Thrown by the helpers below; `settle` turns it into the outcome it carries. */
class Refusal extends Error {
  readonly outcome: Rejection;

  constructor(outcome: Rejection) {
    super(outcome.message);
    this.name = 'Refusal';
    this.outcome = outcome;
  }
}

/**
 * Runs an adapter's steps, which refuse a request by throwing through the
 * helpers here, and returns the outcome. Any other error is a bug and is
 * thrown on.
 */
export function settle(steps: () => WebhookOutcome): WebhookOutcome {
  try {
    return steps();
  } catch (error) {
    if (error instanceof Refusal) return error.outcome;
    throw error;
  }
}

/** 401: the request is not shown to come from the forge. */
export function refuseSignature(message: string): never {
  throw new Refusal({ kind: 'reject', status: 401, code: 'E_WEBHOOK_SIGNATURE', message });
}

/** 400: signed, but not a request Berth can read. */
export function refuseMalformed(message: string): never {
  throw new Refusal({ kind: 'reject', status: 400, code: 'E_WEBHOOK_MALFORMED', message });
}

export function ignore(reason: string, delivery: string | undefined): WebhookOutcome {
  return { kind: 'ignore', reason, delivery };
}

/** The site's webhook secret, or a 401 when the site cannot verify anything. */
export function siteSecret(site: ResolvedSite): string {
  if (site.webhook === undefined) refuseSignature('site has no webhook configured');
  const secret = site.webhook.secret.reveal();
  // Config loading refuses an empty secret; this guards against a caller
  // that builds a ResolvedSite by hand, since an empty HMAC key is public.
  if (secret === '') refuseSignature('site has an empty webhook secret; set one in berth.toml');
  return secret;
}

/**
 * A request header by its lower-case name. Node joins repeated headers with
 * ", " (which then fails any signature check); an array is joined the same way.
 */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * The media type of the body, lower-cased and without parameters, if it is
 * one of `accepted`; otherwise a 415.
 */
export function requireMediaType(headers: IncomingHttpHeaders, accepted: readonly string[], hint: string): string {
  const value = header(headers, 'content-type');
  const media = value?.split(';')[0]?.trim().toLowerCase();
  if (media !== undefined && accepted.includes(media)) return media;
  const sent = value === undefined ? 'no Content-Type' : media !== undefined && isToken(media) ? `Content-Type ${media}` : 'an unreadable Content-Type';
  throw new Refusal({
    kind: 'reject',
    status: 415,
    code: 'E_WEBHOOK_CONTENT_TYPE',
    message: `the request has ${sent}; expected ${accepted.join(' or ')} (${hint})`,
  });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 text, or a 400 naming `what`. */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    return refuseMalformed(`${what} is not valid UTF-8 text; expected JSON`);
  }
}

/**
 * Parses JSON that must be an object. The parser's own message is not used:
 * it quotes the text around the error, and the text is the body.
 */
export function parseJsonObject(text: string, what: string): JsonObject {
  if (text.trim() === '') refuseMalformed(`${what} is empty; expected a JSON object`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    return refuseMalformed(`${what} is not valid JSON${position === undefined ? '' : ` (error at character ${position})`}`);
  }
  if (!isObject(value)) refuseMalformed(`${what} is JSON but ${describe(value)}; expected a JSON object`);
  return value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `obj[key]` if it is an object. */
export function objectAt(obj: JsonObject | undefined, key: string): JsonObject | undefined {
  const value = obj?.[key];
  return isObject(value) ? value : undefined;
}

/** `obj[key]` if it is a string. */
export function stringAt(obj: JsonObject | undefined, key: string): string | undefined {
  const value = obj?.[key];
  return typeof value === 'string' ? value : undefined;
}

/** A JSON value described by its kind and size, never by its content. */
export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Complains about field `path`, whose value is `value`, wanting `expected`. */
export function refuseField(path: string, value: unknown, expected: string): never {
  const what = describe(value);
  return refuseMalformed(`field ${path} ${what === 'missing' ? 'is missing' : `is ${what}`}; expected ${expected}`);
}

const SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
const ZERO_SHA = /^0+$/;

/** A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, returned lower-cased. */
export function requireSha(value: unknown, path: string): string {
  if (typeof value !== 'string' || !SHA.test(value)) refuseField(path, value, 'a commit SHA of 40 or 64 hex digits');
  return value.toLowerCase();
}

export const REF_MAX_LENGTH = 255;

/**
 * Why `ref` cannot be used as a git ref, or undefined. Besides the length
 * and control characters, this refuses what `git check-ref-format` refuses
 * and could be read as something else on a git command line (spaces, `..`,
 * `~^:?*[\`, `@{`), since the ref is later handed to `git fetch`.
 */
export function refProblem(ref: string): string | undefined {
  if (ref === '') return 'is empty';
  if (ref.length > REF_MAX_LENGTH) return `is ${ref.length} characters long, more than ${REF_MAX_LENGTH}`;
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\u0000-\u001f\u007f]/.test(ref)) return 'contains control characters';
  if (/[ ~^:?*[\\]/.test(ref) || ref.includes('..') || ref.includes('@{') || ref.includes('//')) {
    return 'contains characters git does not allow in a ref';
  }
  if (ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.') || ref.startsWith('-')) return 'is not a valid git ref name';
  return undefined;
}

/** A full ref such as `refs/heads/main`, or a 400 for field `path`. */
export function requireRef(value: unknown, path: string): string {
  if (typeof value !== 'string') return refuseField(path, value, 'a git ref such as refs/heads/main');
  const problem = refProblem(value);
  if (problem !== undefined) refuseMalformed(`field ${path} ${problem}; expected a git ref such as refs/heads/main`);
  return value;
}

const DELIVERY = /^[\u0021-\u007e]{1,255}$/;

/** The delivery id of a body that came without one, so a repeat is still recognised. */
export function bodyDelivery(body: Buffer): string {
  return `sha256:${sha256Hex(body)}`;
}

/** Whether `value` can serve as a delivery id: 1 to 255 visible ASCII characters. */
export function isDeliveryId(value: string): boolean {
  return DELIVERY.test(value);
}

/**
 * The delivery id from the first of `names` the request carries, else the
 * hash of the body. A header that is there but unusable is a 400 rather than
 * silently replaced, since duplicates would then go unnoticed.
 */
export function deliveryFromHeaders(headers: IncomingHttpHeaders, names: readonly string[], body: Buffer): string {
  for (const name of names) {
    const value = header(headers, name)?.trim();
    if (value === undefined || value === '') continue;
    if (!isDeliveryId(value)) refuseMalformed(`the ${displayName(name)} header is not a usable delivery id; expected 1 to 255 visible ASCII characters`);
    return value;
  }
  return bodyDelivery(body);
}

/** An event name from a header, for a message: shown only if it is plainly a name. */
export function eventLabel(value: string): string {
  return /^[A-Za-z0-9_:. -]{1,64}$/.test(value) ? value : 'of an unknown kind';
}

const SPELLED = new Map([
  ['github', 'GitHub'],
  ['uuid', 'UUID'],
]);

/** `x-github-delivery` -> `X-GitHub-Delivery`, for messages. */
export function displayName(name: string): string {
  return name
    .split('-')
    .map((word) => SPELLED.get(word) ?? word.charAt(0).toUpperCase() + word.slice(1))
    .join('-');
}

function isToken(text: string): boolean {
  return /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/.test(text);
}

/** The head commit's author and message, where the payload says. */
export interface CommitFacts {
  author: string | undefined;
  message: string | undefined;
}

/**
 * Author name and message of commit `sha`: from `head_commit` (GitHub,
 * Gitea, Forgejo) when it is that commit, else from the entry of `commits`
 * with that id (GitLab, and the others when `head_commit` is absent).
 */
export function commitFacts(payload: JsonObject, sha: string): CommitFacts {
  const head = objectAt(payload, 'head_commit');
  const headId = stringAt(head, 'id')?.toLowerCase();
  if (head !== undefined && (headId === undefined || headId === sha)) return factsOf(head);
  const commits = payload.commits;
  if (Array.isArray(commits)) {
    for (const commit of commits) {
      if (isObject(commit) && stringAt(commit, 'id')?.toLowerCase() === sha) return factsOf(commit);
    }
  }
  return { author: undefined, message: undefined };
}

function factsOf(commit: JsonObject): CommitFacts {
  return { author: stringAt(objectAt(commit, 'author'), 'name'), message: stringAt(commit, 'message') };
}

/** What an adapter read from a push, checked. */
export interface PushFacts {
  delivery: string;
  /** A full ref that passed `requireRef`. */
  ref: string;
  /** Undefined only for a deletion. */
  sha: string | undefined;
  /** The forge said the ref was deleted. An all-zero `sha` means the same. */
  deleted: boolean;
  author: string | undefined;
  message: string | undefined;
  repository: string | undefined;
}

const BRANCH_PREFIX = 'refs/heads/';
const TAG_PREFIX = 'refs/tags/';

/**
 * A push to the site's branch becomes a push outcome; a tag, another branch,
 * another kind of ref or a deleted branch is ignored with a reason that says
 * which.
 */
export function decidePush(site: ResolvedSite, forge: Forge, facts: PushFacts): WebhookOutcome {
  const { delivery, ref } = facts;
  if (ref.startsWith(TAG_PREFIX)) {
    return ignore(`push to tag ${ref.slice(TAG_PREFIX.length)}; site ${site.name} deploys branch ${site.branch}, not tags`, delivery);
  }
  if (!ref.startsWith(BRANCH_PREFIX)) {
    return ignore(`push to ${ref}, which is not a branch; site ${site.name} deploys branch ${site.branch}`, delivery);
  }
  const branch = ref.slice(BRANCH_PREFIX.length);
  if (branch !== site.branch) {
    return ignore(`push to branch ${branch}; site ${site.name} deploys branch ${site.branch}`, delivery);
  }
  if (facts.deleted || facts.sha === undefined || ZERO_SHA.test(facts.sha)) {
    return ignore(`branch ${branch} was deleted; nothing to deploy`, delivery);
  }
  const event: PushEvent = {
    site: site.name,
    forge,
    delivery,
    ref,
    sha: facts.sha,
    author: facts.author,
    message: facts.message,
    repository: facts.repository,
  };
  return { kind: 'push', event };
}

/**
 * The push payload GitHub defined and Gitea and Forgejo copied: `ref`,
 * `after`, `deleted` (GitHub only), `head_commit`, `repository.full_name`.
 */
export function decideGithubStylePush(site: ResolvedSite, forge: Forge, payload: JsonObject, delivery: string): WebhookOutcome {
  const ref = requireRef(payload.ref, 'ref');
  const sha = requireSha(payload.after, 'after');
  const deleted = payload.deleted;
  if (deleted !== undefined && typeof deleted !== 'boolean') refuseField('deleted', deleted, 'true or false');
  const { author, message } = commitFacts(payload, sha);
  const repository = stringAt(objectAt(payload, 'repository'), 'full_name');
  return decidePush(site, forge, { delivery, ref, sha, deleted: deleted === true, author, message, repository });
}
