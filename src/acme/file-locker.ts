import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../errors.ts';

/**
 * Named locks shared by every process using one data directory, so two of
 * them never order the same certificate. A lock is a file created
 * exclusively; its holder touches it every `refreshMs`, and a lock not
 * touched for `staleMs` (its holder crashed or hung) is taken over. On the
 * same host a lock whose process is gone is taken over at once.
 */
export interface Locker {
  /** Waits for the lock; resolves with its release. */
  lock(name: string): Promise<() => Promise<void>>;
}

export interface FileLockerOptions {
  refreshMs?: number;
  staleMs?: number;
  /** How often a waiter looks again. */
  pollMs?: number;
  /** Longest wait before giving up with E_CERT_LOCKED. */
  waitMs?: number;
}

interface LockOwner {
  pid: number;
  host: string;
}

export function createFileLocker(dir: string, options: FileLockerOptions = {}): Locker {
  const refreshMs = options.refreshMs ?? 5_000;
  const staleMs = options.staleMs ?? 30_000;
  const pollMs = options.pollMs ?? 100;
  const waitMs = options.waitMs ?? 15 * 60_000;
  const me: LockOwner = { pid: process.pid, host: hostname() };
  const mine = new Set<string>();

  /** Whether the lock file still holds this acquisition (another process may have taken a lock it judged stale). */
  async function stillOurs(file: string, id: string): Promise<boolean> {
    try {
      return (JSON.parse(await readFile(file, 'utf8')) as { id?: unknown }).id === id;
    } catch {
      return false;
    }
  }

  async function tryCreate(file: string, id: string): Promise<boolean> {
    let handle;
    try {
      handle = await open(file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      await handle.writeFile(JSON.stringify({ ...me, id, created: new Date().toISOString() }));
    } catch (error) {
      await handle.close();
      await rm(file, { force: true });
      throw error;
    }
    await handle.close();
    return true;
  }

  /** The lock file's content when it is stale (its holder is gone or stopped refreshing it), else undefined. */
  async function staleContent(file: string): Promise<string | undefined> {
    let text: string;
    let ageMs: number;
    try {
      ageMs = Date.now() - (await stat(file)).mtimeMs;
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (ageMs > staleMs) return text;
    let owner: Partial<LockOwner>;
    try {
      owner = JSON.parse(text) as Partial<LockOwner>;
    } catch {
      // Being written right now, unless it has sat unreadable for a while.
      return ageMs > 5_000 ? text : undefined;
    }
    if (owner.host !== me.host || typeof owner.pid !== 'number') return undefined;
    // Our own pid on a lock we do not hold: an earlier process with the same pid left it.
    if (owner.pid === me.pid) return mine.has(file) ? undefined : text;
    try {
      process.kill(owner.pid, 0);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH' ? text : undefined;
    }
  }

  /**
   * Removes a stale lock. Several waiters may judge the same lock stale at
   * once; removals are serialized by a second lock file, and the one
   * removing reads the lock again first, so a fresh lock taken in between by
   * another waiter is never removed. A leftover of that second file (a
   * process died in the few milliseconds it holds it) is cleared after 5 s.
   */
  async function takeOver(file: string, judged: string): Promise<void> {
    const guard = `${file}.takeover`;
    let handle;
    try {
      handle = await open(guard, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(guard).then((info) => Date.now() - info.mtimeMs, () => 0);
      if (age > 5_000) await rm(guard, { force: true });
      return;
    }
    try {
      const now = await readFile(file, 'utf8').catch(() => undefined);
      if (now === judged) await rm(file, { force: true });
    } finally {
      await handle.close();
      await rm(guard, { force: true });
    }
  }

  return {
    async lock(name) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${name}.lock`);
      const id = randomBytes(8).toString('hex');
      const deadline = Date.now() + waitMs;
      while (!(await tryCreate(file, id))) {
        const stale = await staleContent(file);
        if (stale !== undefined) {
          await takeOver(file, stale);
          continue;
        }
        if (Date.now() > deadline) {
          const waited = waitMs >= 120_000 ? `${Math.round(waitMs / 60_000)} minutes` : `${Math.round(waitMs / 1000)} s`;
          throw new BerthError('E_CERT_LOCKED', `Another berth process has held the certificate lock for ${name} for over ${waited} (${file}); if no berth process is running, remove the file`);
        }
        await sleep(pollMs);
      }
      mine.add(file);
      const refresh = setInterval(() => {
        void stillOurs(file, id).then((ours) => {
          // Taken over by a process that judged this one hung: stop touching it.
          if (!ours) {
            clearInterval(refresh);
            return undefined;
          }
          const now = new Date();
          return utimes(file, now, now);
        }).catch(() => undefined);
      }, refreshMs);
      refresh.unref();
      return async () => {
        clearInterval(refresh);
        mine.delete(file);
        // Only our own lock: after a takeover the file is the new holder's.
        if (await stillOurs(file, id)) await rm(file, { force: true });
      };
    },
  };
}
