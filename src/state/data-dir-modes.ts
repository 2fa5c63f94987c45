import type { Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';

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
   * (the setup of a new data dir or site, nothing to warn about).
   */
  kind: 'private' | 'builds';
}

export interface SecureDataDirResult {
  fixed: ModeFix[];
  /** Paths Berth could not change (owned by another user), with the reason. */
  failed: ModeFix[];
}

/**
 * Makes `dataDir` and what is in it private, by the rule above. Pass
 * `buildGroups` (site name -> build gid) when builds run as their own
 * users, else undefined (every site directory is then 0700).
 */
export async function secureDataDir(dataDir: string, buildGroups: ReadonlyMap<string, number> | undefined): Promise<SecureDataDirResult> {
  const result: SecureDataDirResult = { fixed: [], failed: [] };
  const traversable = buildGroups === undefined ? 0o700 : 0o711;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await settle(dataDir, { mode: traversable }, result);
  for (const entry of await readdir(dataDir)) {
    const path = join(dataDir, entry);
    if (entry !== 'sites') {
      await settle(path, {}, result);
      continue;
    }
    const info = await settle(path, { mode: traversable }, result);
    if (info?.isDirectory() !== true) continue;
    for (const site of await readdir(path)) {
      const gid = buildGroups?.get(site);
      const siteDir = join(path, site);
      const siteInfo = await settle(siteDir, gid === undefined ? {} : { mode: 0o710, gid }, result);
      if (siteInfo?.isDirectory() !== true) continue;
      for (const name of await readdir(siteDir)) {
        const shared = gid !== undefined && (name === 'work' || name === 'cache');
        await settle(join(siteDir, name), shared ? { mode: 0o710, gid } : {}, result);
      }
    }
  }
  return result;
}

interface Wanted {
  /** For a directory; without it, group and other bits are cleared. */
  mode?: number;
  gid?: number;
}

/** Applies `want` to `path` (not through a link); returns what it found, undefined when nothing is there or it is a link. */
async function settle(path: string, want: Wanted, result: SecureDataDirResult): Promise<Stats | undefined> {
  let info: Stats;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (info.isSymbolicLink()) return undefined;
  const mode = info.mode & 0o7777;
  const wantMode = info.isDirectory() && want.mode !== undefined ? want.mode : mode & ~0o077;
  try {
    // A directory a build passes through belongs to Berth, whoever owned it before (an older Berth gave caches to its one build user).
    const uid = process.getuid?.() ?? info.uid;
    if (want.gid !== undefined && (info.gid !== want.gid || info.uid !== uid)) {
      await chown(path, uid, want.gid);
      const wasBerths = info.uid === uid && info.gid === (process.getgid?.() ?? info.gid);
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
  if (result.failed.length > 0) {
    line?.(`could not make ${result.failed.length} paths under data_dir private: ${listed(result.failed)}`);
    logger.warn({ failed: result.failed }, 'could not make paths under data_dir private');
  }
}
