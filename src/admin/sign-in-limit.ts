import { isIPv4, isIPv6 } from 'node:net';
import { BerthError } from '../errors.ts';
import type { AdminStore, AttemptKind, AttemptRecord } from './admin-store.ts';

export interface SignInLimitOptions {
  /** Failed password sign-ins to one admin within `windowMs` that lock that admin's password sign-in. @default 5 */
  perAdmin?: number;
  /** Failed sign-ins from one client address within `windowMs` that lock that address out. @default 20 */
  perClient?: number;
  /** @default 15 minutes */
  windowMs?: number;
  /** How long a lock lasts from the failure that set it. @default 15 minutes */
  lockMs?: number;
  /** Most client addresses, and most admin names, counted at once; past it the oldest counts are dropped. @default 5000 */
  maxKeys?: number;
}

export type ResolvedSignInLimitOptions = Readonly<Required<SignInLimitOptions>>;

export const DEFAULT_SIGN_IN_LIMIT: ResolvedSignInLimitOptions = Object.freeze({
  perAdmin: 5,
  perClient: 20,
  windowMs: 15 * 60 * 1000,
  lockMs: 15 * 60 * 1000,
  maxKeys: 5000,
});

export interface SignInLock {
  /** Which count is over: the name's (whoever tries it) or the client address's (whichever name it tries). */
  scope: 'admin' | 'client';
  /** When password sign-in is allowed again, ms since the epoch (for Retry-After). */
  until: number;
}

export interface SignInLimit {
  readonly options: ResolvedSignInLimitOptions;
  /** The lock that refuses a password sign-in to `admin` from `client` now, if any. */
  lockOf(admin: string, client: string, now?: number): SignInLock | undefined;
  /** Throws E_ADMIN_LOCKED when `lockOf` finds a lock. Call before checking the password. */
  check(admin: string, client: string, now?: number): void;
  /**
   * Counts a failed sign-in against the client address and against the name
   * tried (`undefined` to count the address only). A name that is not an
   * admin is counted and locked like one, so a lock does not tell which
   * names are admins.
   */
  recordFailure(admin: string | undefined, client: string, now?: number): void;
  /** Clears the admin's failures after a correct password. The client's count stays. */
  recordSuccess(admin: string): void;
}

/**
 * Bounded password guessing: at most `perAdmin` wrong passwords per admin,
 * and `perClient` failures per client address, in a window of `windowMs`;
 * the one that reaches the bound locks for `lockMs`, and attempts while
 * locked are refused without looking at the password (and are not counted,
 * so a lock ends on time). Counts are fixed windows: across a window's
 * edge a few more tries fit, never twice the bound.
 *
 * The per-admin lock is what stops guessing from many addresses, and it
 * also lets anyone lock an admin's password sign-in by trying; a one-time
 * link (`berth admin link NAME` on the server) is not subject to it.
 *
 * The table stays small: one row per key, rows whose window is over and
 * that lock nothing are deleted at every failure, and beyond `maxKeys`
 * addresses (or names) the oldest unlocked counts are dropped first; names
 * and addresses are bounded apart, so many addresses cannot crowd out the
 * count of an admin's name.
 */
export function createSignInLimit(store: AdminStore, options: SignInLimitOptions = {}): SignInLimit {
  const resolved: ResolvedSignInLimitOptions = Object.freeze({ ...DEFAULT_SIGN_IN_LIMIT, ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) });

  function lockOf(admin: string, client: string, now = Date.now()): SignInLock | undefined {
    const adminRow = store.getAttempts(adminKey(admin));
    const clientRow = store.getAttempts(clientAttemptKey(client));
    const locks: SignInLock[] = [];
    if (adminRow?.lockedUntil !== undefined && adminRow.lockedUntil > now) locks.push({ scope: 'admin', until: adminRow.lockedUntil });
    if (clientRow?.lockedUntil !== undefined && clientRow.lockedUntil > now) locks.push({ scope: 'client', until: clientRow.lockedUntil });
    return locks.sort((a, b) => b.until - a.until)[0];
  }

  function count(key: string, kind: AttemptKind, bound: number, now: number): void {
    const row = store.getAttempts(key);
    const fresh = row === undefined || row.windowStart <= now - resolved.windowMs;
    const next: AttemptRecord = fresh
      ? { key, kind, failures: 1, windowStart: now, lockedUntil: undefined }
      : { ...row, failures: row.failures + 1 };
    if (next.failures >= bound) next.lockedUntil = now + resolved.lockMs;
    store.putAttempts(next);
  }

  return {
    options: resolved,
    lockOf,

    check(admin, client, now = Date.now()) {
      const lock = lockOf(admin, client, now);
      if (lock === undefined) return;
      const minutes = Math.max(1, Math.ceil((lock.until - now) / 60_000));
      const why = lock.scope === 'admin' ? 'too many wrong passwords for this name' : 'too many failed sign-ins from this address';
      throw new BerthError('E_ADMIN_LOCKED', `Password sign-in is locked for ${minutes} min: ${why}; wait, or sign in with a one-time link (berth admin link NAME on the server)`);
    },

    recordFailure(admin, client, now = Date.now()) {
      store.pruneStaleAttempts(now, now - resolved.windowMs);
      count(clientAttemptKey(client), 'client', resolved.perClient, now);
      if (admin !== undefined) count(adminKey(admin), 'admin', resolved.perAdmin, now);
      // Trimmed back to nine tenths when over, so the sort this takes runs once per many failures, not at each.
      for (const kind of ['client', 'admin'] as const) {
        if (store.countAttempts(kind) > resolved.maxKeys) store.trimAttempts(kind, now, Math.floor(resolved.maxKeys * 0.9));
      }
    },

    recordSuccess(admin) {
      store.deleteAttempts(adminKey(admin));
    },
  };
}

/**
 * The key a client address is counted under: an IPv4 address as it is
 * (also when written IPv4-mapped, `::ffff:192.0.2.1`), an IPv6 address by
 * its /64, the block one subscriber usually holds, so that walking through
 * the addresses of one's own network does not reset the count.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (isIPv4(address)) return address;
  const bare = address.replace(/%.*$/, '');
  if (!isIPv6(bare)) return address;
  return `${expandIPv6(bare).slice(0, 4).join(':')}::/64`;
}

function adminKey(admin: string): string {
  return `admin:${admin}`;
}

function clientAttemptKey(client: string): string {
  return `client:${clientKey(client)}`;
}

/** The eight groups of an IPv6 address, lower-case, without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.toLowerCase().split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':')).flatMap((group) => (group.includes('.') ? ipv4Groups(group) : [group]));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}

/** `192.0.2.1` at the end of an IPv6 address, as its two groups. */
function ipv4Groups(dotted: string): string[] {
  const [a = 0, b = 0, c = 0, d = 0] = dotted.split('.').map(Number);
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
