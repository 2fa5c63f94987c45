import type { IncomingMessage } from 'node:http';
import { BerthError } from '../errors.ts';
import type { ApiRight } from './admin-store.ts';
import type { ApiTokens } from './api-tokens.ts';
import { cookieOf } from './admin-http.ts';
import { SESSION_COOKIE, type ActiveSession, type Sessions } from './sessions.ts';

/**
 * Who a request comes from, once checked: a signed-in admin (every site,
 * every right) or an API token (its sites and rights only).
 */
export interface Caller {
  /** What the logs and locks record: the admin's name, or `token:<name>`. */
  readonly name: string;
  /** The session, for a browser: its CSRF token goes in every form. */
  readonly session: ActiveSession | undefined;
  /** Refuses (E_ADMIN_TOKEN_SCOPE) what this caller may not do on the site. */
  need(site: string, right: ApiRight): void;
  /** Whether the caller may read the site, for lists that leave out what it may not see. */
  sees(site: string): boolean;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,200})$/;

/**
 * The caller of a request: an `Authorization: Bearer berth_…` token, else
 * the session cookie. Neither: E_ADMIN_SESSION. A token that is not valid
 * is E_ADMIN_TOKEN_INVALID whatever the route, so a script learns at once
 * that its token is wrong, not that a site is missing.
 */
export function callerOf(req: IncomingMessage, sessions: Sessions, tokens: ApiTokens, now = Date.now()): Caller {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) throw new BerthError('E_ADMIN_TOKEN_INVALID', 'The Authorization header must be "Bearer <token>" with an API token from berth admin token add');
    const { name } = tokens.identify(token);
    const may = (site: string, right: ApiRight): void => {
      tokens.check(token, { site, right }, now);
    };
    return {
      name: `token:${name}`,
      session: undefined,
      need: may,
      sees(site) {
        try {
          may(site, 'read');
          return true;
        } catch {
          return false;
        }
      },
    };
  }
  const active = sessions.check(cookieOf(req, SESSION_COOKIE), now);
  return { name: active.session.admin, session: active, need: () => undefined, sees: () => true };
}

/**
 * A browser's change (any method but GET and HEAD) must carry the session's
 * CSRF token, in the `x-csrf-token` header (scripts) or the `csrf` form
 * field, and must not come from another origin: `Origin`, when sent, is
 * this host's, and `Sec-Fetch-Site`, when sent, says same-origin. An API
 * token is not sent by a browser on its own, so a token's request needs neither.
 */
export function checkChange(req: IncomingMessage, caller: Caller, sessions: Sessions, formToken: string | undefined, secure: boolean): void {
  if (caller.session === undefined) return;
  const origin = req.headers.origin;
  const host = req.headers.host;
  if (origin !== undefined && (host === undefined || origin !== `${secure ? 'https' : 'http'}://${host}`)) {
    throw new BerthError('E_ADMIN_CSRF', 'The request comes from another origin; changes are made from the dashboard itself');
  }
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw new BerthError('E_ADMIN_CSRF', 'The request comes from another site; changes are made from the dashboard itself');
  const header = req.headers['x-csrf-token'];
  sessions.verifyCsrf(caller.session, typeof header === 'string' ? header : formToken);
}
