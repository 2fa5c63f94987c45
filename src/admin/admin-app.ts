import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_PREFIX, handleApi } from '../api/api-routes.ts';
import type { SiteService } from '../api/site-service.ts';
import { BerthError, isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { callerOf, checkChange, type Caller } from './admin-caller.ts';
import { clientOf, cookieOf, readFields, redirect, sendError, sendJson, sendText, statusOf } from './admin-http.ts';
import type { AdminStore } from './admin-store.ts';
import type { ApiTokens } from './api-tokens.ts';
import { SESSION_COOKIE, SIGN_IN_PATH, type Sessions, type StartedSession } from './sessions.ts';
import { signInWithLink, signInWithPassword } from './sign-in.ts';
import type { SignInLimit } from './sign-in-limit.ts';

export const SIGN_OUT_PATH = '/_berth/sign-out';

/** Clears the session cookie: same attributes, no value, gone at once. */
export const CLEAR_SESSION_COOKIE = `${SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;

/** The dashboard's pages, given a caller that is signed in (or none, for sign-in and assets). */
export interface DashboardPages {
  /** Static assets under /_berth/assets/; true when it answered. */
  asset(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  signIn(res: ServerResponse, options: { status: number; error?: string; name?: string; next?: string; linkToken?: string }): void;
  /** A page or a form's POST for a signed-in caller. */
  page(req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller, checkChange: (formToken: string | undefined) => void): Promise<void>;
  /** An error as a page. */
  error(res: ServerResponse, status: number, message: string, code: string | undefined, caller: Caller | undefined): void;
}

export interface AdminAppDeps {
  admins: AdminStore;
  sessions: Sessions;
  limit: SignInLimit;
  tokens: ApiTokens;
  service: SiteService;
  dataDir: string;
  logger: Logger;
  /** The dashboard; without it only the API and sign-in (JSON) answer. */
  pages?: DashboardPages | undefined;
  /** Passkey ceremonies; set when passkeys are on. */
  passkeys?: ((req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller | undefined, check: (formToken: string | undefined) => void) => Promise<boolean>) | undefined;
}

/**
 * The admin host: sign-in and sign-out, the JSON API under /_berth/api/v1/
 * and the dashboard's pages. It answers nothing until an admin exists
 * (`berth admin add NAME` on the server): no page to claim the server from.
 *
 * Every request is answered here whatever it throws: a BerthError with its
 * status and code, anything else as a 500 whose details go to the log only.
 */
export function createAdminApp(deps: AdminAppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const log = deps.logger.child({ kind: 'admin' });
  const wantsJson = (req: IncomingMessage, url: URL): boolean => url.pathname.startsWith(API_PREFIX) || (req.headers.accept ?? '').startsWith('application/json');

  const fail = (req: IncomingMessage, res: ServerResponse, url: URL, error: unknown, caller: Caller | undefined): void => {
    if (!isBerthError(error) || statusOf(error) === 500) log.error({ err: error, method: req.method, path: url.pathname.slice(0, 200) }, 'admin request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = statusOf(error);
    if (wantsJson(req, url) || deps.pages === undefined) sendError(res, error);
    else if (isBerthError(error) && (error.code === 'E_ADMIN_SESSION' || error.code === 'E_ADMIN_TOKEN_INVALID') && req.method === 'GET') {
      redirect(res, SIGN_IN_PATH);
    } else if (isBerthError(error)) deps.pages.error(res, status, error.message, error.code, caller);
    else deps.pages.error(res, status, 'Something went wrong on the server; the log has the details', 'E_API_INTERNAL', caller);
  };

  const startSession = (req: IncomingMessage, res: ServerResponse, started: StartedSession, next: string | undefined, json: boolean): void => {
    log.info({ admin: started.session.admin, session: started.session.id }, 'admin signed in');
    const target = safeNext(next);
    if (json) sendJson(res, 200, { redirect: target }, { 'set-cookie': started.cookie });
    else redirect(res, target, { 'set-cookie': started.cookie });
  };

  const signIn = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const json = wantsJson(req, url);
    if (req.method === 'GET' || req.method === 'HEAD') {
      if (deps.pages === undefined) throw new BerthError('E_API_NOT_FOUND', 'Sign in with POST');
      // A link's GET only shows a button: a mail scanner or a prefetch must not use the link up.
      const token = url.searchParams.get('token') ?? undefined;
      deps.pages.signIn(res, { status: 200, ...optional('next', url.searchParams.get('next')), ...optional('linkToken', token) });
      return;
    }
    if (req.method !== 'POST') throw new BerthError('E_API_METHOD', 'Sign in with POST');
    const fields = await readFields(req);
    const context = { clientAddress: clientOf(req).address, previousToken: cookieOf(req, SESSION_COOKIE), userAgent: req.headers['user-agent'] };
    const next = fields.get('next');
    try {
      const token = fields.get('token');
      const started =
        token !== undefined
          ? signInWithLink(deps, token, context)
          : await signInWithPassword({ store: deps.admins, sessions: deps.sessions, limit: deps.limit }, fields.get('name') ?? '', fields.get('password') ?? '', context);
      startSession(req, res, started, next, json);
    } catch (error) {
      if (json || deps.pages === undefined || !isBerthError(error)) throw error;
      log.info({ code: error.code, client: context.clientAddress }, 'sign-in refused');
      deps.pages.signIn(res, { status: statusOf(error), error: error.message, ...optional('name', fields.get('name')?.slice(0, 64)), ...optional('next', next) });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<Caller | undefined> => {
    if (deps.pages?.asset(req, res, url) === true) return undefined;
    if (deps.admins.listAdmins().length === 0) {
      throw new BerthError('E_ADMIN_NONE', 'Nothing is here until an admin exists; on the server, run: berth admin add NAME');
    }
    if (url.pathname === SIGN_IN_PATH) {
      await signIn(req, res, url);
      return undefined;
    }
    if (deps.passkeys !== undefined && url.pathname.startsWith('/_berth/sign-in/')) {
      if (await deps.passkeys(req, res, url, undefined, () => undefined)) return undefined;
    }
    const caller = callerOf(req, deps.sessions, deps.tokens);
    const { secure } = clientOf(req);
    const change = (formToken: string | undefined): void => checkChange(req, caller, deps.sessions, formToken, secure);
    if (url.pathname === SIGN_OUT_PATH) {
      if (req.method !== 'POST') throw new BerthError('E_API_METHOD', 'Sign out with POST');
      const fields = await readFields(req);
      change(fields.get('csrf'));
      if (caller.session !== undefined) {
        deps.sessions.revoke(caller.session.session.id);
        log.info({ admin: caller.name, session: caller.session.session.id }, 'admin signed out');
      }
      redirect(res, SIGN_IN_PATH, { 'set-cookie': CLEAR_SESSION_COOKIE });
      return caller;
    }
    if (url.pathname.startsWith(API_PREFIX)) {
      await handleApi(req, res, url, { service: deps.service, dataDir: deps.dataDir, caller, checkChange: change });
      return caller;
    }
    if (deps.passkeys !== undefined && url.pathname.startsWith('/_berth/passkeys')) {
      if (await deps.passkeys(req, res, url, caller, change)) return caller;
    }
    if (deps.pages === undefined || url.pathname.startsWith('/_berth/')) throw new BerthError('E_API_NOT_FOUND', 'Nothing is at this address');
    await deps.pages.page(req, res, url, caller, change);
    return caller;
  };

  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      sendText(res, 400, 'Bad request target');
      return;
    }
    if (!(req.url ?? '').startsWith('/')) {
      sendText(res, 400, 'Bad request target');
      return;
    }
    let caller: Caller | undefined;
    handle(req, res, url)
      .then((known) => (caller = known))
      .catch((error: unknown) => fail(req, res, url, error, caller));
  };
}

/** Where to go after signing in: a path on this host, never another origin (`//evil`, `/\evil`). */
function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || next.startsWith('/_berth/sign-')) return '/';
  return /^[\x21-\x7e]{1,500}$/.test(next) ? next : '/';
}

function optional<K extends string>(key: K, value: string | null | undefined): Partial<Record<K, string>> {
  return value === null || value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, string>);
}
