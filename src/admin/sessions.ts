import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BerthError } from '../errors.ts';
import { unknownAdmin, type AdminStore, type SessionRecord } from './admin-store.ts';
import { hashSecretToken, isSecretToken, newSecretToken } from './secret-token.ts';

/**
 * The session cookie's name. The `__Host-` prefix makes browsers refuse it
 * unless it is Secure, has Path=/ and no Domain: a page on another host
 * (a site Berth serves under a sibling name, say) cannot set or shadow it.
 */
export const SESSION_COOKIE = '__Host-berth_session';

/** Where a one-time sign-in link points, on the admin host. */
export const SIGN_IN_PATH = '/_berth/sign-in';

export interface SessionOptions {
  /** A session unused this long ends. @default 12 hours */
  idleMs?: number;
  /** A session ends this long after sign-in, however much it is used. @default 7 days */
  absoluteMs?: number;
  /** How long a one-time sign-in link can be used. @default 15 minutes */
  linkMs?: number;
}

export interface ResolvedSessionOptions {
  readonly idleMs: number;
  readonly absoluteMs: number;
  readonly linkMs: number;
}

export const DEFAULT_SESSION_OPTIONS: ResolvedSessionOptions = Object.freeze({
  idleMs: 12 * 60 * 60 * 1000,
  absoluteMs: 7 * 24 * 60 * 60 * 1000,
  linkMs: 15 * 60 * 1000,
});

/** What a sign-in hands the browser. `token` goes in the cookie only and is never stored. */
export interface StartedSession {
  token: string;
  session: SessionRecord;
  /** The Set-Cookie header value. */
  cookie: string;
  csrfToken: string;
}

/** A session that `check` accepted, with the CSRF token its forms and API calls must carry. */
export interface ActiveSession {
  session: SessionRecord;
  csrfToken: string;
}

export interface SignInLink {
  token: string;
  /** `/_berth/sign-in?token=…`, to put after the admin host. */
  path: string;
  expiresAt: number;
}

export interface StartContext {
  /** The browser's User-Agent header; kept cut to 200 characters. */
  userAgent?: string;
  /** The session cookie the browser sent with the sign-in, if any: that session is revoked. */
  previousToken?: string;
}

export interface Sessions {
  readonly options: ResolvedSessionOptions;
  /**
   * Starts a session for `admin`, after a sign-in has succeeded, and only
   * then. Each sign-in gets a new random value and nothing the browser
   * brought is kept, so a session value planted before sign-in (session
   * fixation) never becomes a signed-in one; the browser's previous session
   * is revoked.
   */
  start(admin: string, context?: StartContext, now?: number): StartedSession;
  /**
   * The session a cookie's value names, if it may be used now: known, not
   * revoked, used within the idle time and younger than the absolute
   * lifetime. Otherwise E_ADMIN_SESSION, the message saying which. Use
   * counts as activity (noted at most once a minute).
   */
  check(token: string | undefined, now?: number): ActiveSession;
  /** Refuses (E_ADMIN_CSRF) a CSRF token that is missing or not the one of this session. */
  verifyCsrf(active: ActiveSession, presented: string | undefined): void;
  /** Revokes one session by its public id; E_ADMIN_SESSION_UNKNOWN when no active session has it. */
  revoke(id: string, now?: number): void;
  /** Revokes every active session of `admin`, or of all admins; returns how many. */
  revokeAll(admin: string | undefined, now?: number): number;
  /** The active sessions, newest first. */
  list(admin?: string, now?: number): SessionRecord[];
  /**
   * A one-time sign-in link for `admin`, valid for `linkMs`. Only its hash
   * is stored; the link is shown once, to whoever ran the command.
   */
  createSignInLink(admin: string, now?: number): SignInLink;
  /**
   * Uses a sign-in link's token and returns its admin's name. A link works
   * once: E_ADMIN_LINK_USED after that, E_ADMIN_LINK_EXPIRED once its time
   * is up, E_ADMIN_LINK_INVALID for a token never issued or whose admin was
   * removed. The caller then calls `start`.
   */
  useSignInLink(token: string, now?: number): string;
}

/** Sessions and links that ended are deleted once they are this old, so lists stay short and the table bounded by sign-ins. */
const KEEP_ENDED_MS = 30 * 24 * 60 * 60 * 1000;
/** Last-seen times are written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 60 * 1000;
const USER_AGENT_CHARS = 200;

export function createSessions(store: AdminStore, options: SessionOptions = {}): Sessions {
  const resolved: ResolvedSessionOptions = Object.freeze({ ...DEFAULT_SESSION_OPTIONS, ...definedOnly(options) });

  function csrfTokenOf(session: SessionRecord, token: string): string {
    // Keyed by the session's own secret, over the cookie's value, which state.db does not hold.
    return createHmac('sha256', Buffer.from(session.csrfSecret, 'base64url')).update(`berth-csrf:${token}`).digest('base64url');
  }

  return {
    options: resolved,

    start(admin, context = {}, now = Date.now()) {
      if (store.getAdmin(admin) === undefined) throw unknownAdmin(admin);
      if (context.previousToken !== undefined && isSecretToken(context.previousToken)) {
        const previous = store.getSessionByHash(hashSecretToken(context.previousToken));
        if (previous !== undefined) store.revokeSessions({ id: previous.id }, now);
      }
      store.pruneSessions(now - KEEP_ENDED_MS);
      const token = newSecretToken();
      const session: SessionRecord = {
        id: randomBytes(6).toString('hex'),
        tokenHash: hashSecretToken(token),
        admin,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + resolved.absoluteMs,
        revokedAt: undefined,
        userAgent: context.userAgent === undefined ? undefined : [...context.userAgent].slice(0, USER_AGENT_CHARS).join(''),
        csrfSecret: randomBytes(32).toString('base64url'),
      };
      store.addSession(session);
      return { token, session, cookie: sessionCookie(token, resolved.absoluteMs), csrfToken: csrfTokenOf(session, token) };
    },

    check(token, now = Date.now()) {
      if (token === undefined || !isSecretToken(token)) throw sessionRefused('no session was presented, or not one Berth made');
      const session = store.getSessionByHash(hashSecretToken(token));
      if (session === undefined) throw sessionRefused('the session is not known (it was never made here, or its admin was removed)');
      if (session.revokedAt !== undefined) throw sessionRefused('the session was revoked');
      if (now >= session.expiresAt) throw sessionRefused(`the session ended ${hours(resolved.absoluteMs)} after its sign-in`);
      if (now - session.lastSeenAt >= resolved.idleMs) throw sessionRefused(`the session was unused for ${hours(resolved.idleMs)}`);
      if (now - session.lastSeenAt >= TOUCH_EVERY_MS) {
        store.touchSession(session.id, now);
        session.lastSeenAt = now;
      }
      return { session, csrfToken: csrfTokenOf(session, token) };
    },

    verifyCsrf(active, presented) {
      const expected = Buffer.from(active.csrfToken);
      const given = Buffer.from(presented ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new BerthError('E_ADMIN_CSRF', 'The request changes something but does not carry this session\'s CSRF token; reload the page and try again');
      }
    },

    revoke(id, now = Date.now()) {
      if (store.revokeSessions({ id }, now) === 0) {
        throw new BerthError('E_ADMIN_SESSION_UNKNOWN', `No active session has the id "${id}"; berth admin sessions lists them`);
      }
    },

    revokeAll(admin, now = Date.now()) {
      if (admin === undefined) return store.revokeSessions({ all: true }, now);
      if (store.getAdmin(admin) === undefined) throw unknownAdmin(admin);
      return store.revokeSessions({ admin }, now);
    },

    list(admin, now = Date.now()) {
      // Sessions unused past the idle time are over even though no request came to end them.
      return store.listSessions({ admin, activeAt: now }).filter((session) => now - session.lastSeenAt < resolved.idleMs);
    },

    createSignInLink(admin, now = Date.now()) {
      if (store.getAdmin(admin) === undefined) throw unknownAdmin(admin);
      store.pruneSignInLinks(now - KEEP_ENDED_MS);
      const token = newSecretToken();
      const expiresAt = now + resolved.linkMs;
      store.addSignInLink({ tokenHash: hashSecretToken(token), admin, createdAt: now, expiresAt });
      return { token, path: `${SIGN_IN_PATH}?token=${token}`, expiresAt };
    },

    useSignInLink(token, now = Date.now()) {
      const link = isSecretToken(token) ? store.useSignInLink(hashSecretToken(token), now, (candidate) => now >= candidate.expiresAt) : undefined;
      if (link === undefined) {
        throw new BerthError('E_ADMIN_LINK_INVALID', 'The sign-in link is not one Berth issued, or its admin was removed; ask for a new one (berth admin link NAME on the server)');
      }
      if (link.usedAt !== undefined) {
        throw new BerthError('E_ADMIN_LINK_USED', 'The sign-in link was used already, and works only once; ask for a new one (berth admin link NAME on the server)');
      }
      if (now >= link.expiresAt) {
        throw new BerthError('E_ADMIN_LINK_EXPIRED', `The sign-in link expired (a link works for ${Math.round(resolved.linkMs / 60_000)} minutes); ask for a new one (berth admin link NAME on the server)`);
      }
      return link.admin;
    },
  };
}

/**
 * The Set-Cookie value for a session: sent over HTTPS only, out of reach
 * of page scripts, never with a request another site starts, and kept no
 * longer than the session can live.
 */
export function sessionCookie(token: string, maxAgeMs: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`;
}

/** The Set-Cookie value that removes the session cookie (sign-out). */
export function clearedSessionCookie(): string {
  return sessionCookie('', 0);
}

/** The session cookie's value in a Cookie header, if there is exactly one. */
export function readSessionCookie(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined;
  const values = cookieHeader
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair.startsWith(`${SESSION_COOKIE}=`))
    .map((pair) => pair.slice(SESSION_COOKIE.length + 1));
  // Two cookies of the name mean something set one it should not have: use neither.
  return values.length === 1 ? values[0] : undefined;
}

function sessionRefused(reason: string): BerthError {
  return new BerthError('E_ADMIN_SESSION', `Not signed in: ${reason}; sign in again`);
}

function hours(ms: number): string {
  const value = ms / 3_600_000;
  return value >= 48 && value % 24 === 0 ? `${value / 24} days` : `${Number(value.toFixed(2))} h`;
}

function definedOnly(options: SessionOptions): SessionOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}
