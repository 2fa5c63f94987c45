import type { Stats } from 'node:fs';
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger.ts';

const run = promisify(execFile);

/**
 * The data directory holds what no build and no other local user may read:
 * state.db (deploy errors, commit data), every site's source.git (full
 * history, unpublished branches), certificate and ACME keys, deploy logs.
 * Berth creates everything in it private (the CLI runs with umask 077); this
 * fixes what an older Berth, or another tool, left readable.
 *
 * The rule: nothing under the data directory grants anything to group or
 * others, except the path a build walks to reach its own work directory.
 * With builds of their own uid (`buildGroups`: each site's build gid):
 *
 * ```
 * data_dir/                    0711  (enter, not list)
 * data_dir/sites/              0711
 * data_dir/sites/<site>/       0710, group = the site's build gid
 * sites/<site>/work/, cache/   0710, the same group
 * ```
 *
 * Only the top of each private tree is changed: a directory of mode 0700
 * already keeps everyone else out of everything below it, however readable
 * the files in it are, so this costs a few system calls per site whatever
 * the number of files. Links are left alone.
 */
export interface ModeFix {
  path: string;
  /** What was changed, e.g. `mode 755 -> 700` or `group 0 -> 204512`. */
  change: string;
  /**
   * `private`: access was taken away (from group, others or another owner);
   * `builds`: only a site's build was let through a directory Berth owns
   * (the setup of a new data dir or site, nothing to warn about);
   * `service`: root handed what it owned to Berth's service user.
   */
  kind: 'private' | 'builds' | 'service';
}

export interface SecureDataDirResult {
  fixed: ModeFix[];
  /** Paths Berth could not change (owned by another user), with the reason. */
  failed: ModeFix[];
}

/**
 * Whose the data dir is, when a root process prepares it for Berth's
 * unprivileged service user (see app/service-user.ts): everything root
 * owns at the places this visits (the data dir, its entries, each site's
 * entries) is handed to that user, with all it holds (`chown -R -P -h
 * --from=0`: links themselves, never followed, and only what root owns, so
 * a build's files stay the build's). An upgrade from a Berth that ran as
 * root, or a command someone ran as root, leaves such files; the service
 * user could not write them.
 */
export interface DataDirOwner {
  uid: number;
  gid: number;
}

/**
 * Makes `dataDir` and what is in it private, by the rule above. Pass
 * `buildGroups` (site name -> build gid) when builds run as their own
 * users, else undefined (every site directory is then 0700). Changing a
 * group to a build gid takes root. `owner` defaults to this process's user.
 */
export async function secureDataDir(
  dataDir: string,
  buildGroups: ReadonlyMap<string, number> | undefined,
  owner?: DataDirOwner,
): Promise<SecureDataDirResult> {
  const result: SecureDataDirResult = { fixed: [], failed: [] };
  const traversable = buildGroups === undefined ? 0o700 : 0o711;
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const to = owner ?? self;
  // Only root hands files to another user; anyone else owns what it makes.
  const handOver = self.uid === 0 && to.uid !== 0 ? to : undefined;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const settled = (path: string, want: Wanted): Promise<Stats | undefined> => settle(path, want, to, handOver, result);
  await settled(dataDir, { mode: traversable, entriesVisited: true });
  for (const entry of await readdir(dataDir)) {
    const path = join(dataDir, entry);
    // The lock of the running `berth serve` (state/data-dir-lock.ts): readable by all on purpose (it names
    // a pid, nothing secret), and held by a root supervisor, whose file it stays.
    if (entry === 'serve.lock') continue;
    if (entry !== 'sites') {
      await settled(path, {});
      continue;
    }
    const info = await settled(path, { mode: traversable, entriesVisited: true });
    if (info?.isDirectory() !== true) continue;
    for (const site of await readdir(path)) {
      const gid = buildGroups?.get(site);
      const siteDir = join(path, site);
      const siteInfo = await settled(siteDir, gid === undefined ? { entriesVisited: true } : { mode: 0o710, gid, entriesVisited: true });
      if (siteInfo?.isDirectory() !== true) continue;
      for (const name of await readdir(siteDir)) {
        const shared = gid !== undefined && (name === 'work' || name === 'cache');
        await settled(join(siteDir, name), shared ? { mode: 0o710, gid } : {});
      }
    }
  }
  return result;
}

interface Wanted {
  /** For a directory; without it, group and other bits are cleared. */
  mode?: number;
  gid?: number;
  /** Its entries are settled one by one: a hand-over changes the directory alone, not what it holds. */
  entriesVisited?: boolean;
}

/**
 * Applies `want` to `path` (not through a link); returns what it found,
 * undefined when nothing is there or it is a link. With `handOver`, a path
 * root owns is first given to that user, recursively.
 */
async function settle(path: string, want: Wanted, owner: DataDirOwner, handOver: DataDirOwner | undefined, result: SecureDataDirResult): Promise<Stats | undefined> {
  let info: Stats;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (info.isSymbolicLink()) return undefined;
  if (handOver !== undefined && info.uid === 0) {
    try {
      const recursive = info.isDirectory() && want.entriesVisited !== true;
      await run('chown', [...(recursive ? ['-R'] : []), '-P', '-h', '--from=0', '--', `${handOver.uid}:${handOver.gid}`, path]);
      result.fixed.push({ path, change: `owner 0:${info.gid} -> ${handOver.uid}:${handOver.gid}${recursive ? ', with what it holds' : ''}`, kind: 'service' });
      info = await lstat(path);
    } catch (error) {
      result.failed.push({ path, change: (error as NodeJS.ErrnoException).code ?? String(error), kind: 'private' });
      return info;
    }
  }
  const mode = info.mode & 0o7777;
  const wantMode = info.isDirectory() && want.mode !== undefined ? want.mode : mode & ~0o077;
  try {
    // A directory a build passes through belongs to Berth, whoever owned it before (an older Berth gave caches to its one build user).
    const uid = owner.uid;
    if (want.gid !== undefined && (info.gid !== want.gid || info.uid !== uid)) {
      await chown(path, uid, want.gid);
      const wasBerths = info.uid === uid && info.gid === owner.gid;
      result.fixed.push({ path, change: `owner ${info.uid}:${info.gid} -> ${uid}:${want.gid}`, kind: wasBerths ? 'builds' : 'private' });
    }
    if (mode !== wantMode) {
      await chmod(path, wantMode);
      result.fixed.push({ path, change: `mode ${mode.toString(8)} -> ${wantMode.toString(8)}`, kind: (mode & ~wantMode) === 0 ? 'builds' : 'private' });
    }
  } catch (error) {
    result.failed.push({ path, change: (error as NodeJS.ErrnoException).code ?? String(error), kind: 'private' });
  }
  return info;
}

/**
 * Says what `secureDataDir` did: taking access away is a warning (something
 * had left the data dir readable), letting builds through is routine setup
 * of a new data dir or site and logged at info. `line` also gets each
 * message, for a deploy's own log.
 */
export function reportDataDirModes(result: SecureDataDirResult, logger: Logger, line?: (text: string) => void): void {
  const listed = (fixes: readonly ModeFix[]): string =>
    `${fixes.slice(0, 5).map((fix) => `${fix.path} (${fix.change})`).join(', ')}${fixes.length > 5 ? ', …' : ''}`;
  const closed = result.fixed.filter((fix) => fix.kind === 'private');
  const opened = result.fixed.filter((fix) => fix.kind === 'builds');
  if (closed.length > 0) {
    line?.(`made ${closed.length} paths under data_dir private: ${listed(closed)}`);
    logger.warn({ fixed: closed }, 'made paths under data_dir private');
  }
  if (opened.length > 0) {
    line?.(`let site builds through ${opened.length} paths under data_dir: ${listed(opened)}`);
    logger.info({ fixed: opened }, 'let site builds through data_dir');
  }
  const handed = result.fixed.filter((fix) => fix.kind === 'service');
  if (handed.length > 0) {
    line?.(`gave ${handed.length} paths under data_dir to Berth's service user: ${listed(handed)}`);
    logger.info({ fixed: handed }, 'gave paths under data_dir to the service user');
  }
  if (result.failed.length > 0) {
    line?.(`could not make ${result.failed.length} paths under data_dir private: ${listed(result.failed)}`);
    logger.warn({ failed: result.failed }, 'could not make paths under data_dir private');
  }
}
