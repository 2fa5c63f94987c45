import { createHash, randomBytes } from 'node:crypto';

/** Random bytes in a sign-in link, a session and an API token: 256 bits, beyond guessing and beyond reversing a hash of them. */
const TOKEN_BYTES = 32;

/** base64url of 32 bytes, unpadded. */
const TOKEN_TEXT = /^[A-Za-z0-9_-]{43}$/;

/** A new random token: 43 characters of base64url. */
export function newSecretToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** Whether `text` has the form `newSecretToken` gives (checked before any lookup). */
export function isSecretToken(text: string): boolean {
  return TOKEN_TEXT.test(text);
}

/**
 * What state.db keeps of a token: its SHA-256, hex. A fast hash is enough
 * here, unlike for passwords: the token has 256 random bits, so there is
 * nothing to guess from the hash. Lookups are by the hash, an index match on
 * a value the client cannot choose, so timing tells nothing useful either.
 */
export function hashSecretToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
