import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Forge, ResolvedSite } from '../../src/config/resolved-config.ts';
import { createSecret } from '../../src/config/secret.ts';
import type { PushEvent, WebhookErrorCode, WebhookOutcome } from '../../src/webhooks/push-event.ts';

/** The secret every fixture site has. Long and distinctive, so a leak is easy to spot. */
export const SECRET = 'berth-test-secret-7f3a9c2e51d84b06';

/** A commit id used across fixtures. */
export const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';
export const ZEROS = '0'.repeat(40);

/** A site as `loadConfig` would produce it, built by hand. */
export function siteFixture(forge: Forge, options: { branch?: string; secret?: string; signatureHeader?: string } = {}): ResolvedSite {
  return Object.freeze({
    name: 'blog',
    domains: Object.freeze(['blog.example.com']),
    repo: 'https://git.example.com/jo/blog.git',
    branch: options.branch ?? 'main',
    build: Object.freeze({ command: undefined, publish: undefined, environment: Object.freeze({}), timeoutMs: 600_000, maxProcesses: 1024, maxOutputBytes: 1_073_741_824 }),
    webhook: Object.freeze({
      forge,
      secret: createSecret(options.secret ?? SECRET, 'env BLOG_WEBHOOK_SECRET'),
      signatureHeader: options.signatureHeader ?? 'X-Berth-Signature',
    }),
    retain: 5,
    deployKeyFile: undefined,
    token: undefined,
    submodules: false,
    hsts: undefined,
    pollIntervalMs: undefined,
  });
}

export function hmacHex(body: Buffer | string, secret: string = SECRET): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** A deep copy of a fixture with changes applied by `edit`. */
export function edited<T>(value: T, edit: (copy: T) => void): T {
  const copy = structuredClone(value);
  edit(copy);
  return copy;
}

export function assertPush(outcome: WebhookOutcome, expected: PushEvent): void {
  assert.equal(outcome.kind, 'push', `expected a push, got ${JSON.stringify(outcome)}`);
  assert.deepEqual(outcome.event, expected);
}

export function assertIgnored(outcome: WebhookOutcome, reason: RegExp | string, delivery?: string): void {
  assert.equal(outcome.kind, 'ignore', `expected to be ignored, got ${JSON.stringify(outcome)}`);
  if (typeof reason === 'string') assert.equal(outcome.reason, reason);
  else assert.match(outcome.reason, reason);
  if (delivery !== undefined) assert.equal(outcome.delivery, delivery);
}

export function assertRejected(outcome: WebhookOutcome, status: 400 | 401 | 413 | 415, code: WebhookErrorCode, message?: RegExp): void {
  assert.equal(outcome.kind, 'reject', `expected a rejection, got ${JSON.stringify(outcome)}`);
  assert.equal(outcome.status, status, outcome.message);
  assert.equal(outcome.code, code);
  if (message !== undefined) assert.match(outcome.message, message);
  assertNoSecret(outcome);
}

/** Nothing in the outcome, messages included, contains the secret. */
export function assertNoSecret(outcome: WebhookOutcome, secret: string = SECRET): void {
  assert.ok(!JSON.stringify(outcome).includes(secret), `the secret leaked into ${JSON.stringify(outcome)}`);
}

/** Every signature header value that must be refused, given the valid one. */
export function badHexSignatures(valid: string, prefix: string): Array<[string, string]> {
  const hex = valid.slice(prefix.length);
  const flipped = `${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}`;
  const cases: Array<[string, string]> = [
    ['an empty header', ''],
    ['a signature with one digit changed', `${prefix}${flipped}`],
    ['a truncated signature', `${prefix}${hex.slice(0, 40)}`],
    ['a signature with a digit too many', `${prefix}${hex}0`],
    ['the signature in upper case', `${prefix}${hex.toUpperCase()}`],
    ['the signature under the SHA-1 prefix', `sha1=${hex}`],
    ['the signature with spaces around it', ` ${valid} `],
    ['the signature of an empty body', `${prefix}${hmacHex('')}`],
    ['the secret itself instead of a signature', SECRET],
  ];
  if (prefix !== '') {
    cases.push(['the signature without its prefix', hex]);
    cases.push(['the prefix in upper case', `${prefix.toUpperCase()}${hex}`]);
  } else {
    cases.push(['the signature with a sha256= prefix', `sha256=${hex}`]);
  }
  return cases;
}

/** A payload that smuggles the secret into every free-text field. */
export const SECRET_TEXT = `note: ${SECRET}`;
