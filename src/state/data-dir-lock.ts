import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors.ts';
import { currentProcess, formatIdentity, isRunning, parseIdentity, type ProcessIdentity } from './process-identity.ts';

export interface DataDirLock {
  /** Removes the lock file, if it is still ours. */
  release(): Promise<void>;
}

/** Lock files this process holds, so our own pid in a lock file can be told apart from a previous process that had it. */
const held = new Set<string>();

/**
 * Claims `data_dir/serve.lock` for this process, so a second `berth serve`
 * on the same data directory refuses to start instead of racing the first
 * for ports, certificates and deploys. The file holds the owner's pid and
 * start time; a lock whose process is gone (a crash, a kill -9) is taken
 * over. So is one whose process is a zombie (dead, not yet collected by its
 * parent, as right after a crash under a slow or absent init), and one whose
 * pid now belongs to a process that started at another time.
 *
 * Limit: where there is no /proc, liveness is judged by pid alone, and a
 * reused pid makes a stale lock look held; the error names the pid so an
 * operator can check it and remove the file.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const lockFile = join(dataDir, 'serve.lock');
  await mkdir(dataDir, { recursive: true });
  for (;;) {
    if (await tryCreate(lockFile)) break;
    const owner = await readOwner(lockFile);
    // Gone between our create and read: try again.
    if (owner === undefined) continue;
    if (isAlive(owner, lockFile)) {
      throw new BerthError('E_DATA_DIR_LOCKED', `Another berth serve (pid ${owner.pid}) is using ${dataDir}; stop it first, or give this one its own data_dir`);
    }
    await removeStale(lockFile, owner);
  }
  held.add(lockFile);
  return {
    async release() {
      if (!held.delete(lockFile)) return;
      // Never remove a lock that another process took over (after deciding we were gone).
      if (sameOwner(await readOwner(lockFile), currentProcess)) await rm(lockFile, { force: true });
    },
  };
}

async function tryCreate(lockFile: string): Promise<boolean> {
  // Written in full under a private name, then linked into place: link()
  // fails if the lock exists, and no one ever sees a half-written pid.
  const temp = `${lockFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(`${formatIdentity(currentProcess)}\n`);
  } finally {
    await handle.close();
  }
  try {
    await link(temp, lockFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** The owner in the lock file, undefined if there is no lock file; a NaN pid for a file that holds none. */
async function readOwner(lockFile: string): Promise<ProcessIdentity | undefined> {
  try {
    return parseIdentity(await readFile(lockFile, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function sameOwner(a: ProcessIdentity | undefined, b: ProcessIdentity): boolean {
  return a !== undefined && (a.pid === b.pid || (Number.isNaN(a.pid) && Number.isNaN(b.pid))) && a.start === b.start;
}

function isAlive(owner: ProcessIdentity, lockFile: string): boolean {
  // Files are linked into place complete, so one without a pid is not from us: treat it as stale.
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  // Our own pid, but not a lock we took: left by an earlier process that had
  // the same pid, as happens in a container where berth is always pid 1.
  if (owner.pid === process.pid) return held.has(lockFile);
  return isRunning(owner);
}

/**
 * Takes a stale lock out of the way. Two processes may find the same stale
 * lock; the rename lets only one of them move it, and if what it moved turns
 * out to be a fresh lock another process has just created, it goes back.
 */
async function removeStale(lockFile: string, stale: ProcessIdentity): Promise<void> {
  const aside = `${lockFile}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockFile, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readOwner(aside);
  if (moved !== undefined && !sameOwner(moved, stale)) {
    await link(aside, lockFile).catch((error: NodeJS.ErrnoException) => {
      // A third process locked in between; it holds the lock now, and ours loses.
      if (error.code !== 'EEXIST') throw error;
    });
  }
  await rm(aside, { force: true });
}

/** The pid of the `berth serve` using `dataDir`, or undefined when none is running. */
export async function runningServerPid(dataDir: string): Promise<number | undefined> {
  const lockFile = join(dataDir, 'serve.lock');
  const owner = await readOwner(lockFile);
  return owner !== undefined && isAlive(owner, lockFile) ? owner.pid : undefined;
}
