import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The small pieces every forge adapter uses to check a request's signature.
 * Nothing here puts a secret, a signature or a body into a message: callers
 * get booleans and parsed parts back, and word their own messages.
 */

/** Hex HMAC-SHA256 of `data` under `key` (lower-case, 64 digits). */
export function hmacSha256Hex(key: string | Buffer, data: string | Buffer): string {
  return createHmac('sha256', key).update(data).digest('hex');
}

/** Base64 HMAC-SHA256 of the concatenated `parts` under `key`. */
export function hmacSha256Base64(key: string | Buffer, ...parts: Array<string | Buffer>): string {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(part);
  return hmac.digest('base64');
}

/** Hex SHA-256 of `data`. */
export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Compares two strings in time that depends on neither their contents nor
 * their lengths. `timingSafeEqual` needs inputs of the same length, and
 * returning early on a length mismatch would tell an attacker how long the
 * expected value is; comparing the SHA-256 digests of both gives two 32-byte
 * inputs whatever was sent.
 */
export function safeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A signature header, taken apart. */
export type ParsedSignature =
  | { ok: true; hex: string }
  /** Why it cannot be a signature: words that name no value from the header. */
  | { ok: false; problem: string };

/**
 * Reads a hex HMAC-SHA256 signature in the form `<prefix><64 lower-case hex
 * digits>`: `prefix` is `sha256=` for GitHub and Bitbucket, empty for Gitea
 * and Forgejo. The prefix is matched exactly, case included, since forges
 * send it one way only; upper-case hex digits are refused for the same reason.
 */
export function parseHexSignature(value: string, prefix: string): ParsedSignature {
  if (value === '') return { ok: false, problem: 'is empty' };
  if (prefix !== '' && !value.startsWith(prefix)) return { ok: false, problem: `does not start with ${prefix}` };
  const hex = value.slice(prefix.length);
  if (!SHA256_HEX.test(hex)) {
    return { ok: false, problem: `is not 64 lower-case hex digits${prefix === '' ? '' : ` after ${prefix}`}` };
  }
  return { ok: true, hex };
}

/**
 * Checks a hex HMAC-SHA256 signature of `body` under `secret`, in constant
 * time. `presented` is the hex part only (see `parseHexSignature`).
 */
export function verifyHexSignature(secret: string, body: Buffer, presented: string): boolean {
  return safeEqual(hmacSha256Hex(secret, body), presented);
}
