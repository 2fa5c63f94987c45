import type { SQLInputValue, StatementSync } from 'node:sqlite';
import { BerthError } from '../errors.ts';
import { openStateDatabase } from '../state/state-database.ts';

/**
 * Admins, their sign-in links, sessions, passkeys and API tokens, and the
 * sign-in attempt counters, in tables of their own in `<dataDir>/state.db`. Like the
 * notification results (notify/delivery-results.ts), the tables are created
 * if missing and the state store's schema versions do not cover them.
 *
 * Nothing secret is stored as given: a sign-in link, a session and an API
 * token are kept as the SHA-256 of their random value (32 bytes, so a hash
 * cannot be reversed by guessing), a password as its scrypt hash. Someone who
 * reads state.db learns who the admins are and what the tokens may do, and
 * can sign in as nobody. A session's CSRF secret is kept as is: it is of no
 * use without the session's own value, which only the browser has. A
 * passkey is kept as its public key, which signs nobody in either.
 *
 * Times are milliseconds since the epoch. This is a row store with no
 * policy: sessions.ts, sign-in-limit.ts and api-tokens.ts decide.
 *
 * One file for these tables, because they share one connection, its
 * transactions and the cascade from an admin to their links, sessions and
 * passkeys;
 * most of its length is this interface and the row mapping.
 */
export interface AdminStore {
  readonly file: string;
  /** Adds an admin; E_ADMIN_EXISTS when the name is taken. */
  addAdmin(admin: { name: string; passwordHash: string | undefined; createdAt: number }): AdminRecord;
  getAdmin(name: string): AdminRecord | undefined;
  listAdmins(): AdminRecord[];
  setPasswordHash(name: string, passwordHash: string): void;
  /**
   * Removes an admin with their sign-in links, sessions and passkeys, and revokes the
   * API tokens they made. Returns false when there was no such admin.
   */
  removeAdmin(name: string, now: number): boolean;

  addSignInLink(link: { tokenHash: string; admin: string; createdAt: number; expiresAt: number }): void;
  /**
   * Marks a link used, once: the first caller gets the row as it was (with
   * `usedAt` undefined); a second gets it with the first use's time. A link
   * that is not stored (or whose admin was removed) gives undefined. The
   * caller judges expiry, so an expired link is reported as expired, not
   * used, and stays unused.
   */
  useSignInLink(tokenHash: string, now: number, isExpired: (link: SignInLinkRecord) => boolean): SignInLinkRecord | undefined;
  /** The link as stored, without using it (to name its admin on the page that asks to use it). */
  getSignInLink(tokenHash: string): SignInLinkRecord | undefined;
  /** Deletes links that expired before `before`; returns how many. */
  pruneSignInLinks(before: number): number;

  addSession(session: Omit<SessionRecord, 'revokedAt'>): void;
  getSessionByHash(tokenHash: string): SessionRecord | undefined;
  getSession(id: string): SessionRecord | undefined;
  /** Sessions newest first: of one admin, or all; with `activeAt`, only those neither revoked nor expired then. */
  listSessions(options?: { admin?: string; activeAt?: number }): SessionRecord[];
  touchSession(id: string, lastSeenAt: number): void;
  /** Revokes the sessions named and returns how many were active. */
  revokeSessions(where: { id: string } | { admin: string } | { all: true }, now: number): number;
  /** Deletes sessions that ended (expired or revoked) before `before`; returns how many. */
  pruneSessions(before: number): number;

  /** Adds a token; E_ADMIN_TOKEN_EXISTS when an active token has the name. */
  addApiToken(token: Omit<ApiTokenRecord, 'lastUsedAt' | 'revokedAt'>): void;
  getApiTokenByHash(tokenHash: string): ApiTokenRecord | undefined;
  /** Oldest first, revoked ones included. */
  listApiTokens(): ApiTokenRecord[];
  touchApiToken(tokenHash: string, lastUsedAt: number): void;
  /** Revokes the active token of that name; false when there is none. */
  revokeApiToken(name: string, now: number): boolean;

  getAttempts(key: string): AttemptRecord | undefined;
  putAttempts(record: AttemptRecord): void;
  deleteAttempts(key: string): void;
  /** Deletes counters that neither count nor lock anything at `now`: their window began before `windowStart` and no lock runs. */
  pruneStaleAttempts(now: number, windowStart: number): number;
  /** Deletes the counters of `kind` beyond the `keep` to keep: running locks first, then the newest windows. */
  trimAttempts(kind: AttemptKind, now: number, keep: number): number;
  countAttempts(kind?: AttemptKind): number;

  /**
   * The WebAuthn user handle of `admin`: the one stored, or else `candidate`,
   * stored now. It stays the same for the admin's life, whatever passkeys
   * come and go, so an authenticator replaces its old passkey for the admin
   * rather than keeping two.
   */
  passkeyUserHandle(admin: string, candidate: string): string;
  /** The stored user handle of `admin`, if a passkey was ever started for them. */
  getPasskeyUserHandle(admin: string): string | undefined;
  /** Adds a passkey; E_ADMIN_PASSKEY when a passkey with that credential id is stored already. */
  addPasskey(passkey: Omit<PasskeyRecord, 'lastUsedAt'>): void;
  getPasskey(id: string): PasskeyRecord | undefined;
  /** Oldest first: of one admin, or all. */
  listPasskeys(admin?: string): PasskeyRecord[];
  /**
   * Notes a sign-in with a passkey: its new signature counter (never
   * lowered), backup state and time. False when the passkey is gone.
   */
  usePasskey(id: string, use: { counter: number; backedUp: boolean; lastUsedAt: number }): boolean;
  /** Removes one of the admin's passkeys; false when they have none with that id. */
  removePasskey(admin: string, id: string): boolean;

  close(): void;
}

export interface AdminRecord {
  name: string;
  /** scrypt hash (passwords.ts), or undefined for an admin who signs in with links only. */
  passwordHash: string | undefined;
  createdAt: number;
}

export interface SignInLinkRecord {
  tokenHash: string;
  admin: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | undefined;
}

export interface SessionRecord {
  /** Public, shown by `berth admin sessions` to revoke it by; not a credential. */
  id: string;
  /** SHA-256 of the cookie's value. */
  tokenHash: string;
  admin: string;
  createdAt: number;
  lastSeenAt: number;
  /** The absolute end, whatever the activity. */
  expiresAt: number;
  revokedAt: number | undefined;
  /** The browser's User-Agent, cut short, to tell sessions apart in a list. */
  userAgent: string | undefined;
  /** Key of the session's CSRF token (sessions.ts). */
  csrfSecret: string;
}

export type ApiRight = 'read' | 'deploy';

export interface ApiTokenRecord {
  tokenHash: string;
  name: string;
  /** The admin who made it, or undefined when made with `berth admin token add`. */
  createdBy: string | undefined;
  /** Site names, or 'all' (sites added later included). */
  sites: readonly string[] | 'all';
  rights: ApiRight;
  createdAt: number;
  lastUsedAt: number | undefined;
  revokedAt: number | undefined;
}

export type AttemptKind = 'admin' | 'client';

export interface PasskeyRecord {
  /** The credential id, base64url, as the authenticator made it. */
  id: string;
  admin: string;
  /** The credential's public key, a COSE key as the authenticator gave it. */
  publicKey: Uint8Array;
  /** The authenticator's signature counter at the last sign-in (0 for those that keep none). */
  counter: number;
  /** How the browser can reach the authenticator (usb, nfc, ble, hybrid, internal), as it said at registration. */
  transports: readonly string[];
  /** Whether the passkey may be copied to other devices (synced), or lives on one. */
  deviceType: 'singleDevice' | 'multiDevice';
  /** Whether it was backed up (synced) at its last use. */
  backedUp: boolean;
  label: string;
  createdAt: number;
  lastUsedAt: number | undefined;
}

export interface AttemptRecord {
  /** e.g. `admin:alice`, `client:203.0.113.7`. */
  key: string;
  kind: AttemptKind;
  failures: number;
  windowStart: number;
  lockedUntil: number | undefined;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS admins (
    name          TEXT PRIMARY KEY,
    password_hash TEXT,
    created_at    INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS admin_sign_in_links (
    token_hash TEXT PRIMARY KEY,
    admin      TEXT NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
  ) STRICT;
  CREATE INDEX IF NOT EXISTS admin_sign_in_links_by_expiry ON admin_sign_in_links (expires_at);
  CREATE TABLE IF NOT EXISTS admin_sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    admin        TEXT NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    user_agent   TEXT,
    csrf_secret  TEXT NOT NULL
  ) STRICT;
  CREATE INDEX IF NOT EXISTS admin_sessions_by_admin ON admin_sessions (admin, created_at);
  CREATE TABLE IF NOT EXISTS admin_api_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    created_by   TEXT,
    sites        TEXT NOT NULL,
    rights       TEXT NOT NULL CHECK (rights IN ('read', 'deploy')),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
  ) STRICT;
  CREATE UNIQUE INDEX IF NOT EXISTS admin_api_tokens_active_name ON admin_api_tokens (name) WHERE revoked_at IS NULL;
  CREATE TABLE IF NOT EXISTS admin_sign_in_attempts (
    key          TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('admin', 'client')),
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
  ) STRICT;
  CREATE INDEX IF NOT EXISTS admin_sign_in_attempts_by_kind ON admin_sign_in_attempts (kind, window_start);
  CREATE INDEX IF NOT EXISTS admin_sign_in_attempts_by_age ON admin_sign_in_attempts (window_start);
  CREATE TABLE IF NOT EXISTS admin_passkey_users (
    admin       TEXT PRIMARY KEY REFERENCES admins (name) ON DELETE CASCADE,
    user_handle TEXT NOT NULL UNIQUE
  ) STRICT;
  CREATE TABLE IF NOT EXISTS admin_passkeys (
    id           TEXT PRIMARY KEY,
    admin        TEXT NOT NULL REFERENCES admins (name) ON DELETE CASCADE,
    public_key   BLOB NOT NULL,
    counter      INTEGER NOT NULL,
    transports   TEXT NOT NULL,
    device_type  TEXT NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
    backed_up    INTEGER NOT NULL,
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
  ) STRICT;
  CREATE INDEX IF NOT EXISTS admin_passkeys_by_admin ON admin_passkeys (admin, created_at);
`;

export function openAdminStore(dataDir: string): AdminStore {
  const { db, file, guard, transaction } = openStateDatabase(dataDir, (opened) => opened.exec(SCHEMA), { purpose: 'for admins', keepPrivate: true });
  const prepare = (sql: string): StatementSync => db.prepare(sql);
  const statements = {
    addAdmin: prepare('INSERT INTO admins (name, password_hash, created_at) VALUES (:name, :hash, :createdAt) ON CONFLICT (name) DO NOTHING'),
    getAdmin: prepare('SELECT * FROM admins WHERE name = ?'),
    listAdmins: prepare('SELECT * FROM admins ORDER BY name'),
    setPassword: prepare('UPDATE admins SET password_hash = ? WHERE name = ?'),
    revokeTokensBy: prepare('UPDATE admin_api_tokens SET revoked_at = ? WHERE created_by = ? AND revoked_at IS NULL'),
    removeAdmin: prepare('DELETE FROM admins WHERE name = ?'),
    addLink: prepare('INSERT INTO admin_sign_in_links (token_hash, admin, created_at, expires_at) VALUES (:tokenHash, :admin, :createdAt, :expiresAt)'),
    getLink: prepare('SELECT * FROM admin_sign_in_links WHERE token_hash = ?'),
    useLink: prepare('UPDATE admin_sign_in_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL'),
    pruneLinks: prepare('DELETE FROM admin_sign_in_links WHERE expires_at < ?'),
    addSession: prepare(
      `INSERT INTO admin_sessions (id, token_hash, admin, created_at, last_seen_at, expires_at, user_agent, csrf_secret)
       VALUES (:id, :tokenHash, :admin, :createdAt, :lastSeenAt, :expiresAt, :userAgent, :csrfSecret)`,
    ),
    getSessionByHash: prepare('SELECT * FROM admin_sessions WHERE token_hash = ?'),
    getSession: prepare('SELECT * FROM admin_sessions WHERE id = ?'),
    touchSession: prepare('UPDATE admin_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?'),
    revokeSession: prepare('UPDATE admin_sessions SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL AND expires_at > :now'),
    revokeAdminSessions: prepare('UPDATE admin_sessions SET revoked_at = :now WHERE admin = :admin AND revoked_at IS NULL AND expires_at > :now'),
    revokeAllSessions: prepare('UPDATE admin_sessions SET revoked_at = :now WHERE revoked_at IS NULL AND expires_at > :now'),
    pruneSessions: prepare('DELETE FROM admin_sessions WHERE expires_at < :before OR revoked_at < :before'),
    addToken: prepare(
      `INSERT INTO admin_api_tokens (token_hash, name, created_by, sites, rights, created_at)
       VALUES (:tokenHash, :name, :createdBy, :sites, :rights, :createdAt)`,
    ),
    activeTokenNamed: prepare('SELECT 1 AS found FROM admin_api_tokens WHERE name = ? AND revoked_at IS NULL'),
    getToken: prepare('SELECT * FROM admin_api_tokens WHERE token_hash = ?'),
    listTokens: prepare('SELECT * FROM admin_api_tokens ORDER BY created_at, rowid'),
    touchToken: prepare('UPDATE admin_api_tokens SET last_used_at = ? WHERE token_hash = ?'),
    revokeToken: prepare('UPDATE admin_api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL'),
    getAttempts: prepare('SELECT * FROM admin_sign_in_attempts WHERE key = ?'),
    putAttempts: prepare(
      `INSERT INTO admin_sign_in_attempts (key, kind, failures, window_start, locked_until) VALUES (:key, :kind, :failures, :windowStart, :lockedUntil)
       ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until`,
    ),
    deleteAttempts: prepare('DELETE FROM admin_sign_in_attempts WHERE key = ?'),
    pruneStale: prepare('DELETE FROM admin_sign_in_attempts WHERE window_start < :windowStart AND (locked_until IS NULL OR locked_until <= :now)'),
    pruneOverCap: prepare(
      `DELETE FROM admin_sign_in_attempts WHERE key IN (
         SELECT key FROM admin_sign_in_attempts WHERE kind = :kind
         ORDER BY (locked_until IS NOT NULL AND locked_until > :now) DESC, window_start DESC
         LIMIT -1 OFFSET :keep)`,
    ),
    countAttempts: prepare('SELECT count(*) AS n FROM admin_sign_in_attempts'),
    countAttemptsOfKind: prepare('SELECT count(*) AS n FROM admin_sign_in_attempts WHERE kind = ?'),
    addPasskeyUser: prepare('INSERT INTO admin_passkey_users (admin, user_handle) VALUES (?, ?) ON CONFLICT (admin) DO NOTHING'),
    getPasskeyUser: prepare('SELECT user_handle FROM admin_passkey_users WHERE admin = ?'),
    addPasskey: prepare(
      `INSERT INTO admin_passkeys (id, admin, public_key, counter, transports, device_type, backed_up, label, created_at)
       VALUES (:id, :admin, :publicKey, :counter, :transports, :deviceType, :backedUp, :label, :createdAt) ON CONFLICT (id) DO NOTHING`,
    ),
    getPasskey: prepare('SELECT * FROM admin_passkeys WHERE id = ?'),
    listPasskeys: prepare('SELECT * FROM admin_passkeys ORDER BY created_at, rowid'),
    listAdminPasskeys: prepare('SELECT * FROM admin_passkeys WHERE admin = ? ORDER BY created_at, rowid'),
    usePasskey: prepare('UPDATE admin_passkeys SET counter = max(counter, :counter), backed_up = :backedUp, last_used_at = :lastUsedAt WHERE id = :id'),
    removePasskey: prepare('DELETE FROM admin_passkeys WHERE admin = ? AND id = ?'),
  };

  return {
    file,

    addAdmin({ name, passwordHash, createdAt }) {
      return guard('add an admin', () => {
        const result = statements.addAdmin.run({ name, hash: passwordHash ?? null, createdAt });
        if (result.changes !== 1) throw new BerthError('E_ADMIN_EXISTS', `An admin named "${name}" exists already; berth admin list shows the admins`);
        return { name, passwordHash, createdAt };
      });
    },
    getAdmin(name) {
      return guard('read an admin', () => optionalRow(statements.getAdmin.get(name), adminFromRow));
    },
    listAdmins() {
      return guard('list admins', () => statements.listAdmins.all().map(adminFromRow));
    },
    setPasswordHash(name, passwordHash) {
      guard("set an admin's password", () => {
        if (statements.setPassword.run(passwordHash, name).changes !== 1) throw unknownAdmin(name);
      });
    },
    removeAdmin(name, now) {
      return guard('remove an admin', () =>
        transaction(() => {
          statements.revokeTokensBy.run(now, name);
          // Links, sessions and passkeys go with the row (ON DELETE CASCADE).
          return statements.removeAdmin.run(name).changes === 1;
        }),
      );
    },

    addSignInLink(link) {
      guard('store a sign-in link', () => statements.addLink.run({ tokenHash: link.tokenHash, admin: link.admin, createdAt: link.createdAt, expiresAt: link.expiresAt }));
    },
    useSignInLink(tokenHash, now, isExpired) {
      return guard('use a sign-in link', () =>
        transaction(() => {
          const link = optionalRow(statements.getLink.get(tokenHash), linkFromRow);
          if (link === undefined || link.usedAt !== undefined || isExpired(link)) return link;
          statements.useLink.run(now, tokenHash);
          return link;
        }),
      );
    },
    getSignInLink(tokenHash) {
      return guard('read a sign-in link', () => optionalRow(statements.getLink.get(tokenHash), linkFromRow));
    },
    pruneSignInLinks(before) {
      return guard('delete expired sign-in links', () => Number(statements.pruneLinks.run(before).changes));
    },

    addSession(session) {
      guard('store a session', () =>
        statements.addSession.run({
          id: session.id,
          tokenHash: session.tokenHash,
          admin: session.admin,
          createdAt: session.createdAt,
          lastSeenAt: session.lastSeenAt,
          expiresAt: session.expiresAt,
          userAgent: session.userAgent ?? null,
          csrfSecret: session.csrfSecret,
        }),
      );
    },
    getSessionByHash(tokenHash) {
      return guard('read a session', () => optionalRow(statements.getSessionByHash.get(tokenHash), sessionFromRow));
    },
    getSession(id) {
      return guard('read a session', () => optionalRow(statements.getSession.get(id), sessionFromRow));
    },
    listSessions(options = {}) {
      const where: string[] = [];
      const params: SQLInputValue[] = [];
      if (options.admin !== undefined) {
        where.push('admin = ?');
        params.push(options.admin);
      }
      if (options.activeAt !== undefined) {
        where.push('revoked_at IS NULL AND expires_at > ?');
        params.push(options.activeAt);
      }
      const sql = `SELECT * FROM admin_sessions ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY created_at DESC, rowid DESC`;
      return guard('list sessions', () => db.prepare(sql).all(...params).map(sessionFromRow));
    },
    touchSession(id, lastSeenAt) {
      guard('note a session as seen', () => statements.touchSession.run(lastSeenAt, id, lastSeenAt));
    },
    revokeSessions(where, now) {
      return guard('revoke sessions', () => {
        if ('id' in where) return Number(statements.revokeSession.run({ id: where.id, now }).changes);
        if ('admin' in where) return Number(statements.revokeAdminSessions.run({ admin: where.admin, now }).changes);
        return Number(statements.revokeAllSessions.run({ now }).changes);
      });
    },
    pruneSessions(before) {
      return guard('delete ended sessions', () => Number(statements.pruneSessions.run({ before }).changes));
    },

    addApiToken(token) {
      guard('store an API token', () =>
        transaction(() => {
          if (statements.activeTokenNamed.get(token.name) !== undefined) {
            throw new BerthError('E_ADMIN_TOKEN_EXISTS', `An API token named "${token.name}" exists already; revoke it first (berth admin token revoke ${token.name}) or choose another name`);
          }
          statements.addToken.run({
            tokenHash: token.tokenHash,
            name: token.name,
            createdBy: token.createdBy ?? null,
            sites: JSON.stringify(token.sites),
            rights: token.rights,
            createdAt: token.createdAt,
          });
        }),
      );
    },
    getApiTokenByHash(tokenHash) {
      return guard('read an API token', () => optionalRow(statements.getToken.get(tokenHash), tokenFromRow));
    },
    listApiTokens() {
      return guard('list API tokens', () => statements.listTokens.all().map(tokenFromRow));
    },
    touchApiToken(tokenHash, lastUsedAt) {
      guard('note an API token as used', () => statements.touchToken.run(lastUsedAt, tokenHash));
    },
    revokeApiToken(name, now) {
      return guard('revoke an API token', () => statements.revokeToken.run(now, name).changes > 0);
    },

    getAttempts(key) {
      return guard('read sign-in attempts', () => optionalRow(statements.getAttempts.get(key), attemptsFromRow));
    },
    putAttempts(record) {
      guard('count a sign-in attempt', () =>
        statements.putAttempts.run({ key: record.key, kind: record.kind, failures: record.failures, windowStart: record.windowStart, lockedUntil: record.lockedUntil ?? null }),
      );
    },
    deleteAttempts(key) {
      guard('clear sign-in attempts', () => statements.deleteAttempts.run(key));
    },
    pruneStaleAttempts(now, windowStart) {
      return guard('delete old sign-in attempts', () => Number(statements.pruneStale.run({ windowStart, now }).changes));
    },
    trimAttempts(kind, now, keep) {
      return guard('delete sign-in attempts over the bound', () => Number(statements.pruneOverCap.run({ kind, now, keep: Math.max(0, Math.floor(keep)) }).changes));
    },
    countAttempts(kind) {
      return guard('count sign-in attempts', () => Number((kind === undefined ? statements.countAttempts.get() : statements.countAttemptsOfKind.get(kind))?.n ?? 0));
    },

    passkeyUserHandle(admin, candidate) {
      return guard("store an admin's passkey user handle", () =>
        transaction(() => {
          statements.addPasskeyUser.run(admin, candidate);
          return String(statements.getPasskeyUser.get(admin)?.user_handle);
        }),
      );
    },
    getPasskeyUserHandle(admin) {
      return guard("read an admin's passkey user handle", () => optionalText(statements.getPasskeyUser.get(admin)?.user_handle));
    },
    addPasskey(passkey) {
      guard('store a passkey', () => {
        const result = statements.addPasskey.run({
          id: passkey.id,
          admin: passkey.admin,
          publicKey: passkey.publicKey,
          counter: passkey.counter,
          transports: JSON.stringify(passkey.transports),
          deviceType: passkey.deviceType,
          backedUp: passkey.backedUp ? 1 : 0,
          label: passkey.label,
          createdAt: passkey.createdAt,
        });
        if (result.changes !== 1) throw new BerthError('E_ADMIN_PASSKEY', 'This passkey is added already (to this admin or another); berth admin passkeys NAME lists an admin\'s passkeys');
      });
    },
    getPasskey(id) {
      return guard('read a passkey', () => optionalRow(statements.getPasskey.get(id), passkeyFromRow));
    },
    listPasskeys(admin) {
      return guard('list passkeys', () => (admin === undefined ? statements.listPasskeys.all() : statements.listAdminPasskeys.all(admin)).map(passkeyFromRow));
    },
    usePasskey(id, use) {
      return guard('note a passkey as used', () => statements.usePasskey.run({ id, counter: use.counter, backedUp: use.backedUp ? 1 : 0, lastUsedAt: use.lastUsedAt }).changes === 1);
    },
    removePasskey(admin, id) {
      return guard('remove a passkey', () => statements.removePasskey.run(admin, id).changes === 1);
    },

    close() {
      if (db.isOpen) db.close();
    },
  };
}

export function unknownAdmin(name: string): BerthError {
  return new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; berth admin list shows the admins`);
}

function optionalRow<T>(row: Record<string, unknown> | undefined, from: (row: Record<string, unknown>) => T): T | undefined {
  return row === undefined ? undefined : from(row);
}

function optionalNumber(value: unknown): number | undefined {
  return value === null || value === undefined ? undefined : Number(value);
}

function optionalText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function adminFromRow(row: Record<string, unknown>): AdminRecord {
  return { name: String(row.name), passwordHash: optionalText(row.password_hash), createdAt: Number(row.created_at) };
}

function linkFromRow(row: Record<string, unknown>): SignInLinkRecord {
  return {
    tokenHash: String(row.token_hash),
    admin: String(row.admin),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    usedAt: optionalNumber(row.used_at),
  };
}

function sessionFromRow(row: Record<string, unknown>): SessionRecord {
  return {
    id: String(row.id),
    tokenHash: String(row.token_hash),
    admin: String(row.admin),
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
    revokedAt: optionalNumber(row.revoked_at),
    userAgent: optionalText(row.user_agent),
    csrfSecret: String(row.csrf_secret),
  };
}

function tokenFromRow(row: Record<string, unknown>): ApiTokenRecord {
  const sites: unknown = JSON.parse(String(row.sites));
  return {
    tokenHash: String(row.token_hash),
    name: String(row.name),
    createdBy: optionalText(row.created_by),
    sites: Array.isArray(sites) ? sites.map(String) : 'all',
    rights: row.rights === 'deploy' ? 'deploy' : 'read',
    createdAt: Number(row.created_at),
    lastUsedAt: optionalNumber(row.last_used_at),
    revokedAt: optionalNumber(row.revoked_at),
  };
}

function passkeyFromRow(row: Record<string, unknown>): PasskeyRecord {
  const transports: unknown = JSON.parse(String(row.transports));
  return {
    id: String(row.id),
    admin: String(row.admin),
    publicKey: row.public_key instanceof Uint8Array ? row.public_key : new Uint8Array(),
    counter: Number(row.counter),
    transports: Array.isArray(transports) ? transports.map(String) : [],
    deviceType: row.device_type === 'multiDevice' ? 'multiDevice' : 'singleDevice',
    backedUp: Number(row.backed_up) === 1,
    label: String(row.label),
    createdAt: Number(row.created_at),
    lastUsedAt: optionalNumber(row.last_used_at),
  };
}

function attemptsFromRow(row: Record<string, unknown>): AttemptRecord {
  return {
    key: String(row.key),
    kind: row.kind === 'admin' ? 'admin' : 'client',
    failures: Number(row.failures),
    windowStart: Number(row.window_start),
    lockedUntil: optionalNumber(row.locked_until),
  };
}
