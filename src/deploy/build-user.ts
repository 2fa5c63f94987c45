import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BerthError } from '../errors.ts';

/**
 * The user a site's build runs as. When Berth runs as root, every site
 * builds as a uid (and a gid of the same number) of its own, taken from the
 * range `[deploy] build_uid_base` … `+ BUILD_UID_SLOTS - 1`: never root,
 * never another site's. Ownership of the site's work and cache directories
 * is what keeps one site's build out of another's (see `prepareBuildDirs`),
 * so two sites must never share a uid.
 *
 * No account is needed in /etc/passwd: builds are started with the numeric
 * uid and gid, no supplementary groups, and a HOME Berth gives them.
 *
 * When Berth is not root it cannot switch users: builds run as Berth's own
 * user and are not isolated from Berth or from each other.
 */
export interface BuildUser {
  uid: number;
  gid: number;
  /** For log lines, e.g. `uid 204512`. */
  name: string;
}

export const DEFAULT_BUILD_UID_BASE = 200_000;
/** How many uids the range holds; a site's slot comes from a hash of its name. */
export const BUILD_UID_SLOTS = 10_000;

/**
 * Each site's build uid: `base` plus a slot derived from a hash of the
 * site's name, so a site keeps its uid when other sites are added, removed
 * or reordered. Two names that hash to one slot are settled in name order:
 * the first keeps it, the next takes the next free slot. A uid that changes
 * (a new site took the slot) is harmless: the site's directories are handed
 * to its current uid before each build and what the old uid owned there is
 * discarded.
 */
export function buildUids(siteNames: readonly string[], base: number): Map<string, number> {
  const taken = new Set<number>();
  const uids = new Map<string, number>();
  for (const name of [...new Set(siteNames)].sort()) {
    let slot = Number.parseInt(createHash('sha256').update(`berth build uid\n${name}`).digest('hex').slice(0, 8), 16) % BUILD_UID_SLOTS;
    while (taken.has(slot)) slot = (slot + 1) % BUILD_UID_SLOTS;
    taken.add(slot);
    uids.set(name, base + slot);
  }
  return uids;
}

/**
 * Each site's build gid when builds run as their own users (Berth is root),
 * else undefined; for `secureDataDir`.
 */
export function buildGroups(siteNames: readonly string[], base: number, berthUid = process.getuid?.()): Map<string, number> | undefined {
  return berthUid === 0 ? buildUids(siteNames, base) : undefined;
}

export interface BuildUserOptions {
  /** Every configured site's name: a site's uid depends on the names its slot collides with. */
  sites: readonly string[];
  /** `[deploy] build_uid_base`. */
  base: number;
  /** Berth's own uid; defaults to `process.getuid()`. */
  berthUid?: number;
  /** Defaults to `/etc/passwd`. */
  passwdFile?: string;
}

/**
 * The user `site` builds as, or `undefined` when Berth is not root (builds
 * then run as Berth's own user). Throws when the uid belongs to an account
 * in the passwd file: that account's files and processes would be the
 * build's.
 */
export function buildUserFor(site: string, options: BuildUserOptions): BuildUser | undefined {
  const berthUid = options.berthUid ?? process.getuid?.();
  if (berthUid !== 0) return undefined;
  const uid = buildUids(options.sites, options.base).get(site);
  if (uid === undefined) throw new Error(`site ${site} is not among the configured sites`);
  const owner = options.passwdFile === undefined ? (accountWithUid('/etc/passwd', uid) ?? accountFromNss(uid)) : accountWithUid(options.passwdFile, uid);
  if (owner !== undefined) {
    throw new BerthError(
      'E_BUILD_CONFIG',
      `Site ${site} builds as uid ${uid}, which belongs to the account "${owner}"; set [deploy] build_uid_base to the start of ${BUILD_UID_SLOTS} uids no account uses`,
    );
  }
  return { uid, gid: uid, name: `uid ${uid}` };
}

function accountWithUid(file: string, uid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // No passwd file (a minimal container): no account can hold the uid.
  }
  for (const line of text.split('\n')) {
    // name:password:uid:gid:gecos:home:shell
    const [name, , id] = line.split(':');
    if (name !== undefined && id !== undefined && /^\d+$/.test(id) && Number(id) === uid) return name;
  }
  return undefined;
}

/**
 * Answers of `getent` for a minute: every deploy asks about its site's uid,
 * and `getent` is a process run synchronously. An account added to NSS for
 * a build uid is noticed within that minute (one in /etc/passwd at once).
 */
const NSS_ANSWER_MS = 60_000;
const nssAnswers = new Map<number, { name: string | undefined; at: number }>();

/** Accounts that come from NSS (LDAP, systemd-userdb), through `getent`, which exits non-zero for an unknown uid. */
function accountFromNss(uid: number): string | undefined {
  const kept = nssAnswers.get(uid);
  if (kept !== undefined && performance.now() - kept.at < NSS_ANSWER_MS) return kept.name;
  let name: string | undefined;
  try {
    const line = execFileSync('getent', ['passwd', String(uid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    name = line.split(':')[0] || undefined;
  } catch {
    name = undefined;
  }
  nssAnswers.set(uid, { name, at: performance.now() });
  return name;
}
