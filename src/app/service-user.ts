import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { BerthError } from '../errors.ts';

/** The account Berth's own long-lived processes run as once a root parent has dropped them to it. */
export interface ServiceUser {
  uid: number;
  gid: number;
  name: string;
}

/** Where the one warning goes: the logger, or a command's standard error. */
export interface WarningSink {
  warn(details: object, message: string): void;
}

/** The `[server] user` Berth looks for when the config names none. */
export const DEFAULT_SERVICE_USER = 'berth';

/**
 * The account the control plane, the serving workers and the CLI commands
 * that write the data dir run as when Berth starts as root; undefined when
 * Berth is not root (it cannot change user, so there is nothing to drop), when
 * `[server] user = "root"` (or any account with uid 0), and when the
 * default account `berth` does not exist (one warning: everything then keeps
 * running as root, which isolates builds but leaves the rest privileged).
 *
 * A named account other than the default that does not exist is a config
 * error: the administrator asked for a user Berth cannot become, and running
 * as root instead would be a silent downgrade.
 *
 * The account comes from /etc/passwd, then from NSS through `getent` (LDAP,
 * systemd-userdb). Its primary group is the gid; supplementary groups are not
 * kept, so a group the account is in gives Berth nothing.
 */
export function resolveServiceUser(config: ResolvedConfig, logger?: WarningSink): ServiceUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = config.server.user;
  if (name === 'root') return undefined;
  const account = lookUpAccount(name);
  if (account === undefined) {
    const create = `useradd --system --home-dir ${config.dataDir} --no-create-home --shell /usr/sbin/nologin ${name}`;
    if (name === DEFAULT_SERVICE_USER) {
      const message =
        `Berth runs as root and there is no account "${name}" for [server] user, so Berth's own processes stay root (builds are still run as their sites' uids); ` +
        `create the account with \`${create}\`, or set [server] user = "root" to keep root on purpose`;
      if (logger === undefined) process.emitWarning(message, { code: 'BERTH_NO_SERVICE_USER' });
      else logger.warn({ user: name }, message);
      return undefined;
    }
    throw new BerthError(
      'E_CONFIG_INVALID',
      `${config.configPath}: [server] user is "${name}", and no such account exists; create it with \`${create}\`, or name an existing account`,
    );
  }
  if (account.uid === 0) return undefined;
  return account;
}

function lookUpAccount(name: string): ServiceUser | undefined {
  return accountNamed(readPasswd(), name) ?? accountNamed(getentPasswd(name), name);
}

function readPasswd(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return ''; // A minimal container may have none; NSS is asked next.
  }
}

/** `getent` exits non-zero for an unknown name; a missing `getent` means no other source of accounts. */
function getentPasswd(name: string): string {
  try {
    return execFileSync('getent', ['passwd', '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
  } catch {
    return '';
  }
}

function accountNamed(passwd: string, name: string): ServiceUser | undefined {
  for (const line of passwd.split('\n')) {
    // name:password:uid:gid:gecos:home:shell
    const [account, , uid, gid] = line.split(':');
    if (account !== name || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    return { uid: Number(uid), gid: Number(gid), name };
  }
  return undefined;
}
