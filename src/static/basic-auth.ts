/**
 * HTTP Basic authentication for paths a `_headers` `Basic-Auth` rule or the
 * site's `basic_auth` config protects.
 *
 * Passwords are never kept as written. A plain password is stored as
 * `hmac-sha256$<key>$<mac>` (base64): HMAC-SHA256 of the password under a
 * random 32-byte key made when it was stored. That keeps the password itself
 * out of the manifest and the config in memory, but, like any fast salted
 * hash, does not stop someone who can read the manifest from guessing a weak
 * password offline (they can read the protected files there anyway). A
 * password given already hashed is `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`
 * (base64), checked with node:crypto's scrypt; its cost is bounded by
 * `SCRYPT_LIMITS`, a successful check is remembered (by a SHA-256 of the
 * Authorization header) so a visitor pays it once, and at most
 * `SCRYPT_LIMITS.checksPerSecond` checks run per second per gate, so wrong
 * passwords cannot take all of a worker's CPU: beyond that the answer is 503.
 *
 * User names are compared as map keys (they are not secret); passwords in
 * constant time.
 */

import { Buffer } from 'node:buffer';
import { createHash, createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { textReply, type Reply } from './reply.ts';

/** A user as stored in a manifest or resolved config: never the password itself. */
export interface AuthUser {
  name: string;
  /** `hmac-sha256$…` or `$scrypt$…`, as described above. */
  hash: string;
}

export const SCRYPT_LIMITS = Object.freeze({
  /** log2 of N, the CPU/memory cost. */
  maxLn: 17,
  maxR: 16,
  maxP: 4,
  /** 128 * N * r bytes of memory per check. */
  maxMemoryBytes: 64 * 1024 * 1024,
  checksPerSecond: 8,
  /** Successful checks remembered per gate. */
  rememberedLogins: 1024,
});

const HMAC_PREFIX = 'hmac-sha256$';
const SCRYPT_PREFIX = '$scrypt$';
const BASE64 = '([A-Za-z0-9+/]+={0,2})';
const SCRYPT_FORMAT = new RegExp(`^\\$scrypt\\$ln=(\\d{1,2}),r=(\\d{1,2}),p=(\\d{1,2})\\$${BASE64}\\$${BASE64}$`);
const HMAC_FORMAT = new RegExp(`^hmac-sha256\\$${BASE64}\\$${BASE64}$`);

/** True when a password as written is a hash to check against, not the password itself. */
export function isPasswordHash(password: string): boolean {
  return password.startsWith(SCRYPT_PREFIX);
}

interface ScryptHash {
  kind: 'scrypt';
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

interface HmacHash {
  kind: 'hmac';
  key: Buffer;
  mac: Buffer;
}

type ParsedHash = ScryptHash | HmacHash;

/** The parsed hash, or a problem phrased to follow "the password hash". */
function parseHash(text: string): ParsedHash | string {
  const hmac = HMAC_FORMAT.exec(text);
  if (hmac !== null) {
    const key = Buffer.from(hmac[1] as string, 'base64');
    const mac = Buffer.from(hmac[2] as string, 'base64');
    if (key.length < 16 || mac.length !== 32) return 'is not a valid hmac-sha256 hash';
    return { kind: 'hmac', key, mac };
  }
  const found = SCRYPT_FORMAT.exec(text);
  if (found === null) return 'is not in the form $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>';
  const ln = Number(found[1]);
  const r = Number(found[2]);
  const p = Number(found[3]);
  if (ln < 1 || ln > SCRYPT_LIMITS.maxLn) return `has ln=${ln}; use 1 to ${SCRYPT_LIMITS.maxLn}`;
  if (r < 1 || r > SCRYPT_LIMITS.maxR) return `has r=${r}; use 1 to ${SCRYPT_LIMITS.maxR}`;
  if (p < 1 || p > SCRYPT_LIMITS.maxP) return `has p=${p}; use 1 to ${SCRYPT_LIMITS.maxP}`;
  if (128 * 2 ** ln * r > SCRYPT_LIMITS.maxMemoryBytes) return `needs more than ${SCRYPT_LIMITS.maxMemoryBytes / 1024 / 1024} MiB (128 * 2^ln * r); lower ln or r`;
  const salt = Buffer.from(found[4] as string, 'base64');
  const hash = Buffer.from(found[5] as string, 'base64');
  if (salt.length < 8 || salt.length > 64) return 'has a salt that is not 8 to 64 bytes';
  if (hash.length < 16 || hash.length > 64) return 'has a hash that is not 16 to 64 bytes';
  return { kind: 'scrypt', n: 2 ** ln, r, p, salt, hash };
}

/** A problem with a `$scrypt$` password hash as written, phrased to follow "the password hash", or undefined. */
export function passwordHashProblem(text: string): string | undefined {
  if (text.startsWith(HMAC_PREFIX)) return 'is in the stored form; give the password or a $scrypt$ hash';
  const parsed = parseHash(text);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * The form a password is stored in: a `$scrypt$` hash as given, anything
 * else as an HMAC under a fresh random key.
 */
export function storedPassword(password: string): string {
  if (isPasswordHash(password)) return password;
  const key = randomBytes(32);
  const mac = createHmac('sha256', key).update(password, 'utf8').digest();
  return `${HMAC_PREFIX}${key.toString('base64')}$${mac.toString('base64')}`;
}

/** Hashes a password in the `$scrypt$` form this module checks; for documentation and tests. */
export function scryptPasswordHash(password: string, ln = 14, r = 8, p = 1): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 2 ** ln, r, p, maxmem: SCRYPT_LIMITS.maxMemoryBytes + 1024 * 1024 });
  return `${SCRYPT_PREFIX}ln=${ln},r=${r},p=${p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Users one `Basic-Auth` line may list. */
export const MAX_AUTH_USERS = 100;

/**
 * Reads `Basic-Auth: user:password user2:password2`: users separated by
 * spaces, each a name and a password (or a `$scrypt$` hash) split at the
 * first colon. Problems name the user, never the password.
 */
export function parseAuthUsers(value: string): AuthUser[] | string {
  const tokens = value.split(/[ \t]+/).filter((token) => token !== '');
  if (tokens.length === 0) return 'Basic-Auth has no users; write Basic-Auth: name:password';
  if (tokens.length > MAX_AUTH_USERS) return `Basic-Auth lists ${tokens.length} users; the limit is ${MAX_AUTH_USERS}`;
  const users: AuthUser[] = [];
  for (const [i, token] of tokens.entries()) {
    const colon = token.indexOf(':');
    const name = colon === -1 ? '' : token.slice(0, colon);
    const password = colon === -1 ? '' : token.slice(colon + 1);
    if (colon <= 0 || password === '') {
      return `Basic-Auth user ${i + 1} is not in the form name:password (names cannot contain a colon, and spaces separate users)`;
    }
    if (!/^[\u0021-\u007e]+$/.test(name)) return `Basic-Auth user ${i + 1} has a name that is not printable ASCII`;
    if (isPasswordHash(password)) {
      const problem = passwordHashProblem(password);
      if (problem !== undefined) return `Basic-Auth user ${i + 1}: the password hash ${problem}`;
    }
    users.push({ name, hash: storedPassword(password) });
  }
  return users;
}

export type AuthResult = 'ok' | 'denied' | 'busy';

export interface AuthGate {
  /** Shown by the browser's login prompt; the site name. */
  readonly realm: string;
  /** The 401 answer: a Basic challenge for the realm, `Cache-Control: no-store`, no content of the site. */
  readonly challenge: Reply;
  check(authorization: string | undefined): AuthResult;
}

interface Candidate {
  hash: ParsedHash;
}

/** Decodes `Basic <base64 of user:password>`; undefined for anything else. */
function credentialsOf(authorization: string | undefined): [string, string] | undefined {
  if (authorization === undefined || authorization.length > 4096) return undefined;
  const match = /^basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(authorization);
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return [decoded.slice(0, colon), decoded.slice(colon + 1)];
}

const DUMMY_KEY = randomBytes(32);

/**
 * A gate accepting `users`. Entries whose stored hash cannot be read are
 * skipped (publish and config loading refuse them, so only a damaged
 * manifest has any).
 */
export function createAuthGate(users: readonly AuthUser[], realm: string): AuthGate {
  const byName = new Map<string, Candidate[]>();
  for (const user of users) {
    const hash = parseHash(user.hash);
    if (typeof hash === 'string') continue;
    const list = byName.get(user.name) ?? [];
    list.push({ hash });
    byName.set(user.name, list);
  }
  const remembered = new Set<string>();
  let tokens: number = SCRYPT_LIMITS.checksPerSecond;
  let refilledAt = Date.now();

  const takeToken = (): boolean => {
    const now = Date.now();
    tokens = Math.min(SCRYPT_LIMITS.checksPerSecond, tokens + ((now - refilledAt) / 1000) * SCRYPT_LIMITS.checksPerSecond);
    refilledAt = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };

  const shown = realm.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const challenge = textReply(401, 'Unauthorized: this page needs a user name and password', [
    'www-authenticate',
    `Basic realm="${shown}", charset="UTF-8"`,
  ]);

  return {
    realm,
    challenge,
    check(authorization) {
      const credentials = credentialsOf(authorization);
      if (credentials === undefined) return 'denied';
      const [name, password] = credentials;
      const candidates = byName.get(name);
      if (candidates === undefined) {
        // Same work as a known user with a plain password, so timing says little about which names exist.
        createHmac('sha256', DUMMY_KEY).update(password, 'utf8').digest();
        return 'denied';
      }
      let busy = false;
      for (const { hash } of candidates) {
        if (hash.kind === 'hmac') {
          const mac = createHmac('sha256', hash.key).update(password, 'utf8').digest();
          if (timingSafeEqual(mac, hash.mac)) return 'ok';
          continue;
        }
        const fingerprint = createHash('sha256').update(authorization as string).update('\0').update(hash.hash).digest('base64');
        if (remembered.has(fingerprint)) return 'ok';
        if (!takeToken()) {
          busy = true;
          continue;
        }
        const computed = scryptSync(password, hash.salt, hash.hash.length, {
          N: hash.n,
          r: hash.r,
          p: hash.p,
          maxmem: SCRYPT_LIMITS.maxMemoryBytes + 1024 * 1024,
        });
        if (timingSafeEqual(computed, hash.hash)) {
          if (remembered.size >= SCRYPT_LIMITS.rememberedLogins) remembered.clear();
          remembered.add(fingerprint);
          return 'ok';
        }
      }
      return busy ? 'busy' : 'denied';
    },
  };
}
