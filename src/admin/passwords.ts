import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { BerthError } from '../errors.ts';

/**
 * Admin passwords, hashed with scrypt (RFC 7914) from Node's crypto.
 *
 * Parameters: N = 2^15, r = 8, p = 3, a 16-byte random salt per password
 * and a 32-byte result. That is one of the scrypt settings OWASP's Password
 * Storage Cheat Sheet lists as equal in strength (N=2^17/p=1, 2^16/p=2,
 * 2^15/p=3): 32 MiB of memory per hash rather than 128, which a small server
 * signing in a few admins can spare, at about three times the work of the
 * classic interactive setting (N=2^15, r=8, p=1). A hash carries its
 * parameters, `$scrypt$ln=15,r=8,p=3$<salt>$<hash>` (base64, unpadded), so
 * stronger ones later leave existing passwords valid.
 */
export const SCRYPT_PARAMS = Object.freeze({ ln: 15, r: 8, p: 3 });

/** Shorter passwords are refused; a passphrase of a few words is the idea. */
export const MIN_PASSWORD_LENGTH = 12;
/** Longer input is refused before hashing, so a request cannot make Berth hash megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Bounds for parameters read back from state.db: a tampered hash cannot ask for gigabytes or hours. */
const MAX_LN = 20;
const MAX_R = 16;
const MAX_P = 16;

interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** Refuses a password too short or too long for an admin (E_ADMIN_PASSWORD). */
export function checkPasswordRules(password: string): void {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new BerthError('E_ADMIN_PASSWORD', `The password has ${length} characters; an admin's password needs at least ${MIN_PASSWORD_LENGTH} (a few words in a row will do)`);
  }
  if (length > MAX_PASSWORD_LENGTH) throw new BerthError('E_ADMIN_PASSWORD', `The password has ${length} characters; at most ${MAX_PASSWORD_LENGTH} are accepted`);
}

/** The stored form of a new password: checked against the rules, then hashed with a new salt. */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordRules(password);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, SCRYPT_PARAMS);
  return encode(SCRYPT_PARAMS, salt, key);
}

/**
 * Whether `password` matches the stored hash. With no hash (an unknown admin
 * name, or an admin without a password) the same work is done against a
 * stand-in hash and the answer is false, so the time taken does not tell
 * whether a name is an admin. A stored value that is not a hash Berth wrote
 * is false as well.
 */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parsed = stored === undefined ? undefined : decode(stored);
  const target = parsed ?? (await standIn());
  // Overlong input is hashed cut short rather than refused early, for the same timing.
  const key = await derive(password.slice(0, MAX_PASSWORD_LENGTH * 2), target.salt, target.params);
  const same = key.length === target.key.length && timingSafeEqual(key, target.key);
  return same && parsed !== undefined;
}

let standInHash: Promise<{ params: ScryptParams; salt: Buffer; key: Buffer }> | undefined;

/** A hash of a random password with the current parameters, made once per process. */
function standIn(): Promise<{ params: ScryptParams; salt: Buffer; key: Buffer }> {
  standInHash ??= (async () => {
    const salt = randomBytes(SALT_BYTES);
    return { params: SCRYPT_PARAMS, salt, key: await derive(randomBytes(32).toString('base64'), salt, SCRYPT_PARAMS) };
  })();
  return standInHash;
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  // scrypt needs 128·N·r bytes; Node refuses more than maxmem (32 MiB by default), so allow what the parameters need.
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

function encode(params: ScryptParams, salt: Buffer, key: Buffer): string {
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

function decode(stored: string): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (match === null) return undefined;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (params.ln < 10 || params.ln > MAX_LN || params.r < 1 || params.r > MAX_R || params.p < 1 || params.p > MAX_P) return undefined;
  const salt = Buffer.from(match[4] as string, 'base64url');
  const key = Buffer.from(match[5] as string, 'base64url');
  if (salt.length < SALT_BYTES || key.length !== KEY_BYTES) return undefined;
  return { params, salt, key };
}
