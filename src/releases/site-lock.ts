import { open, readFile, rm, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../errors.ts';
import { currentProcess, formatIdentity, isRunning, parseIdentity } from '../state/process-identity.ts';

/** Lock files this process holds right now. */
const held = new Set<string>();

/**
 * An exclusive lock on one site's directory, so two `berth publish` (or a
 * publish and a rollback) never interleave. The lock file holds the owner's
 * pid and start time; a lock whose process is gone (or a zombie) is stale
 * and taken over.
 */
export async function withSiteLock<T>(lockFile: string, work: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      try {
        await handle.writeFile(formatIdentity(currentProcess));
      } catch (error) {
        // A lock we could not finish writing (disk full) must not linger as a stale one.
        await handle.close();
        await rm(lockFile, { force: true });
        throw error;
      }
      await handle.close();
      held.add(lockFile);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (await isStale(lockFile)) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new BerthError('E_SITE_LOCKED', `Another berth command has been changing this site for over ${Math.round(timeoutMs / 1000)} s (lock ${lockFile}); wait for it, or remove the lock if no berth command is running`, { cause: error });
      }
      await sleep(50);
    }
  }
  try {
    return await work();
  } finally {
    held.delete(lockFile);
    await rm(lockFile, { force: true });
  }
}

async function isStale(lockFile: string): Promise<boolean> {
  let text: string;
  let ageMs: number;
  try {
    text = await readFile(lockFile, 'utf8');
    ageMs = Date.now() - (await stat(lockFile)).mtimeMs;
  } catch (error) {
    // Released between our open and read: not stale, the caller retries.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  const owner = parseIdentity(text);
  // An empty file is a lock being written right now, unless it has sat empty for long.
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return ageMs > 5_000;
  // Our own pid on a lock we do not hold: left by an earlier process that had
  // the same pid (a container's pid 1 after a crash), so it is stale.
  if (owner.pid === process.pid) return !held.has(lockFile);
  // A zombie, or another process that was given the owner's pid, holds nothing.
  return !isRunning(owner);
}
