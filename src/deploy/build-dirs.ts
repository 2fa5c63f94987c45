import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SitePaths } from '../releases/site-paths.ts';
import type { BuildUser } from './build-user.ts';

const run = promisify(execFile);

/**
 * Who owns what under a site's directory, so that a build reaches its own
 * site's work and cache directories and nothing of another site's:
 *
 * ```
 * sites/<site>/                  Berth, group = the site's build gid, 0710 (enter, not list)
 * sites/<site>/work/, cache/     the same
 * sites/<site>/work/<deploy id>  the build user, 0700 (handed over before the build)
 * cache/home, cache/npm, cache/tmp   the build user, 0700
 * cache/node_modules, cache/dirs Berth, 0700: cached trees wait here, out of every build's reach
 * everything else (source.git, releases, locks)   Berth, 0700/0600
 * ```
 *
 * Another site's build has neither the uid nor the gid, so it cannot even
 * enter `sites/<site>/`. A cached node_modules is moved into the work
 * directory by Berth and back after a successful build; while it waits in
 * the cache no build can write to it. What a directory's owner could have
 * planted is discarded rather than trusted: a directory that should be the
 * build user's but belongs to someone else (a uid from before builds had
 * their own, or another site's after a change of uid) is removed and made
 * again.
 *
 * When Berth is not root (`user` undefined), everything belongs to Berth's
 * user with 0700: builds run as that user and are not isolated.
 */
export interface BuildDirs {
  /** `HOME` of the build. */
  home: string;
  /** `TMPDIR` of the build, emptied before each build. */
  tmp: string;
  /** Paths that were removed because of their owner, for the deploy log. */
  discarded: string[];
}

/** The user that stands for "Berth" above: the service user when a root parent prepares the dirs for it. */
export interface DirOwner {
  uid: number;
  gid: number;
}

/** Makes the site's directories above the work directory and its caches, with the owners and modes above. */
export async function prepareBuildDirs(paths: SitePaths, user: BuildUser | undefined, owner?: DirOwner): Promise<BuildDirs> {
  const berth = owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const shared = user === undefined ? { uid: berth.uid, gid: berth.gid, mode: 0o700 } : { uid: berth.uid, gid: user.gid, mode: 0o710 };
  const builder = { uid: user?.uid ?? berth.uid, gid: user?.gid ?? berth.gid, mode: 0o700 };
  const discarded: string[] = [];
  // The site's directory holds its releases: never removed, only given the right owner.
  await ownedDir(paths.siteDir, { ...shared, keep: true }, discarded);
  for (const dir of [paths.workRoot, paths.cacheDir]) await ownedDir(dir, shared, discarded);
  for (const name of ['node_modules', 'dirs']) await ownedDir(join(paths.cacheDir, name), { uid: berth.uid, gid: berth.gid, mode: 0o700 }, discarded);
  for (const name of ['home', 'npm']) await ownedDir(join(paths.cacheDir, name), builder, discarded);
  const tmp = join(paths.cacheDir, 'tmp');
  await rm(tmp, { recursive: true, force: true });
  await ownedDir(tmp, builder, discarded);
  return { home: join(paths.cacheDir, 'home'), tmp, discarded };
}

/**
 * Gives the checkout to the build user, who may then change anything in it.
 * Called before any process of that user can enter the directory (it is
 * Berth's until now), so nothing can swap a path under `chown`; links are
 * changed themselves, never followed (`-P -h`).
 */
export async function handOverWorkDir(workDir: string, user: BuildUser): Promise<void> {
  await run('chown', ['-R', '-P', '-h', '--', `${user.uid}:${user.gid}`, workDir]);
  await chmod(workDir, 0o700);
}

/**
 * Gives the work directory back to Berth's user (`owner`) after the build,
 * so that an unprivileged Berth can read the output, publish it and remove
 * the directory. Call only once no process of the build user runs: nothing
 * may then change the tree under `chown`. Links are changed themselves,
 * never followed (`-P -h`), and only what the build user owns changes
 * hands (`--from`): a hard link the build made to someone else's file
 * (possible only for files it may read and write, with the kernel's
 * protected_hardlinks) keeps its owner, and publishing refuses it. Then the
 * owner may read, write and enter everything (`u+rwX`), so that a build that
 * made a directory 0500 cannot make it impossible to remove.
 */
export async function giveBackWorkDir(workDir: string, user: BuildUser, owner: DirOwner): Promise<void> {
  await run('chown', ['-R', '-P', '-h', `--from=${user.uid}`, '--', `${owner.uid}:${owner.gid}`, workDir]);
  await run('chmod', ['-R', 'u+rwX', '--', workDir]);
}

interface Owner {
  uid: number;
  gid: number;
  mode: number;
  /** Change the owner of a directory with another owner instead of removing it. */
  keep?: boolean;
}

/**
 * A directory with exactly this owner, group and mode. One that exists with
 * another owner, or is not a directory, is removed first: its contents were
 * written by someone this site's build must not trust (or be trusted by).
 * Only the owner, group and mode of a directory to `keep` are adjusted in place.
 */
async function ownedDir(dir: string, want: Owner, discarded: string[]): Promise<void> {
  // A kept directory may be a link the administrator made (sites/<site> on another disk).
  const look = want.keep === true ? stat : lstat;
  let info = await look(dir).catch(notFound);
  if (info !== undefined && want.keep !== true && (!info.isDirectory() || info.uid !== want.uid)) {
    await rm(dir, { recursive: true, force: true });
    discarded.push(dir);
    info = undefined;
  }
  if (info === undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    info = await look(dir);
  }
  if (info.uid !== want.uid || info.gid !== want.gid) await chown(dir, want.uid, want.gid);
  if ((info.mode & 0o7777) !== want.mode) await chmod(dir, want.mode);
}

function notFound(error: unknown): undefined {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
}
