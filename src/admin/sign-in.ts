import { BerthError } from '../errors.ts';
import { MAX_NAME_LENGTH } from './admin-name.ts';
import type { AdminStore } from './admin-store.ts';
import { MAX_PASSWORD_LENGTH, verifyPassword } from './passwords.ts';
import type { Sessions, StartContext, StartedSession } from './sessions.ts';
import type { SignInLimit } from './sign-in-limit.ts';

export interface SignInDeps {
  store: AdminStore;
  sessions: Sessions;
  limit: SignInLimit;
}

export interface SignInContext extends StartContext {
  /** The client's IP address, as the socket gives it. */
  clientAddress: string;
}

/**
 * A sign-in with name and password: refused at once while the admin or the
 * address is locked (E_ADMIN_LOCKED); otherwise the password is checked
 * (the same scrypt work whether or not the name is an admin) and a wrong
 * one, or a name that is not an admin, is E_ADMIN_SIGN_IN, the same for
 * both, and counted the same way (names longer than an admin's can be are
 * counted against the address only). A right one clears the admin's count and starts a new
 * session (sessions.ts).
 */
export async function signInWithPassword(deps: SignInDeps, name: string, password: string, context: SignInContext, now: () => number = Date.now): Promise<StartedSession> {
  deps.limit.check(name, context.clientAddress, now());
  const possible = name.length <= MAX_NAME_LENGTH;
  const admin = possible ? deps.store.getAdmin(name) : undefined;
  const matches = await verifyPassword(password.slice(0, MAX_PASSWORD_LENGTH * 2), admin?.passwordHash);
  if (admin === undefined || !matches) {
    deps.limit.recordFailure(possible ? name : undefined, context.clientAddress, now());
    throw new BerthError('E_ADMIN_SIGN_IN', 'Wrong admin name or password');
  }
  deps.limit.recordSuccess(admin.name);
  return deps.sessions.start(admin.name, context, now());
}

/** A sign-in with a one-time link's token: the link is used up (sessions.ts says when it is refused) and a new session starts. */
export function signInWithLink(deps: Pick<SignInDeps, 'sessions'>, token: string, context: StartContext, now: number = Date.now()): StartedSession {
  const admin = deps.sessions.useSignInLink(token, now);
  return deps.sessions.start(admin, context, now);
}
