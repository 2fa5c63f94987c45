import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Caller } from './admin-caller.ts';
import { clientOf, cookieOf, readBody, sendJson } from './admin-http.ts';
import type { AdminStore } from './admin-store.ts';
import { createPasskeys, type Passkeys } from './passkeys.ts';
import { SESSION_COOKIE, type Sessions } from './sessions.ts';
import type { SignInLimit } from './sign-in-limit.ts';

/** Holds a passkey sign-in's challenge id between its two requests; the challenge itself stays on the server. */
const CHALLENGE_COOKIE = '__Host-berth_passkey';
const CLEAR_CHALLENGE = `${CHALLENGE_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0`;
/** Origins a relying party is kept for: the admin domain with the port or two it is reached on. */
const MAX_ORIGINS = 4;

export interface PasskeyRouteDeps {
  admins: AdminStore;
  sessions: Sessions;
  limit: SignInLimit;
  /** `[admin] domain`: the relying party's id. */
  domain: string;
  logger: Logger;
}

/**
 * The passkey ceremonies dashboard.js runs: signing in (before a session)
 * and adding a passkey (with one, and its CSRF token). The origin a
 * browser signs for is this request's scheme and Host, whose name the
 * workers only forward when it is the admin domain; a passkey is made for
 * the admin domain (the RP id) and works on any of its ports.
 */
export function createPasskeyRoutes(deps: PasskeyRouteDeps): (req: IncomingMessage, res: ServerResponse, url: URL, caller: Caller | undefined, check: (formToken: string | undefined) => void) => Promise<boolean> {
  const byOrigin = new Map<string, Passkeys>();
  const passkeysFor = (req: IncomingMessage): Passkeys => {
    const host = req.headers.host ?? '';
    const origin = `${clientOf(req).secure ? 'https' : 'http'}://${host}`;
    let passkeys = byOrigin.get(origin);
    if (passkeys === undefined) {
      passkeys = createPasskeys(deps.admins, { id: deps.domain, name: 'Berth', origin });
      if (byOrigin.size >= MAX_ORIGINS) byOrigin.delete(byOrigin.keys().next().value as string);
      byOrigin.set(origin, passkeys);
    }
    return passkeys;
  };
  const json = async (req: IncomingMessage): Promise<string> => {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw new BerthError('E_API_UNSUPPORTED_TYPE', 'Send the passkey as application/json');
    return (await readBody(req)).toString('utf8');
  };

  return async (req, res, url, caller, check) => {
    if (req.method !== 'POST') return false;
    const client = clientOf(req).address;
    switch (url.pathname) {
      case '/_berth/sign-in/passkey/options': {
        // Starting sign-ins is bounded like password attempts: a locked-out address gets no challenges either.
        deps.limit.check('', client);
        const { options, challengeId } = await passkeysFor(req).authenticationOptions();
        sendJson(res, 200, options, { 'set-cookie': `${CHALLENGE_COOKIE}=${challengeId}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=300` });
        return true;
      }
      case '/_berth/sign-in/passkey': {
        deps.limit.check('', client);
        const body = await json(req);
        let admin: string;
        try {
          admin = await passkeysFor(req).verifyAuthentication(cookieOf(req, CHALLENGE_COOKIE), body);
        } catch (error) {
          if (isBerthError(error) && error.code === 'E_ADMIN_SIGN_IN') deps.limit.recordFailure(undefined, client);
          throw error;
        }
        const started = deps.sessions.start(admin, { previousToken: cookieOf(req, SESSION_COOKIE), userAgent: req.headers['user-agent'] });
        deps.logger.info({ kind: 'admin', admin, session: started.session.id }, 'admin signed in with a passkey');
        res.setHeader('set-cookie', [started.cookie, CLEAR_CHALLENGE]);
        sendJson(res, 200, { redirect: '/' });
        return true;
      }
      case '/_berth/passkeys/options':
      case '/_berth/passkeys': {
        if (caller?.session === undefined) throw new BerthError('E_ADMIN_SESSION', 'Sign in to the dashboard to add a passkey');
        const body = url.pathname === '/_berth/passkeys' ? await json(req) : (await readBody(req), '');
        check(undefined);
        if (url.pathname === '/_berth/passkeys/options') {
          sendJson(res, 200, await passkeysFor(req).registrationOptions(caller.name));
          return true;
        }
        const added = await passkeysFor(req).verifyRegistration(caller.name, body);
        deps.logger.info({ kind: 'admin', admin: caller.name, passkey: added.id.slice(0, 12) }, 'passkey added');
        sendJson(res, 201, { passkey: { id: added.id, label: added.label, createdAt: new Date(added.createdAt).toISOString() } });
        return true;
      }
      default:
        return false;
    }
  };
}
