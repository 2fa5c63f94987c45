import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { acquireFileLock, type LockHolder } from '../locks/file-lock.ts';

/**
 * Named locks shared by every process using one data directory, so two of
 * them never order the same certificate (CertMagic's Locker). Each name is a
 * file lock of locks/file-lock.ts in `dir`: refreshed by its holder, taken
 * over once not touched for `staleMs` (its holder crashed or hung), or at
 * once on this host when its process is gone.
 */
export interface Locker {
  /** Waits for the lock; resolves with its release. */
  lock(name: string): Promise<() => Promise<void>>;
}

export interface FileLockerOptions {
  /** @default 5000 */
  refreshMs?: number;
  /** @default 30000 */
  staleMs?: number;
  /** How often a waiter looks again. @default 100 */
  pollMs?: number;
  /** Longest wait before giving up with E_CERT_LOCKED. @default 900000 (15 minutes) */
  waitMs?: number;
  /** Told once per acquisition that has to wait for another holder. */
  onWait?: (name: string, holder: LockHolder) => void;
}

export function createFileLocker(dir: string, options: FileLockerOptions = {}): Locker {
  const waitMs = options.waitMs ?? 15 * 60_000;
  return {
    async lock(name) {
      const file = join(dir, `${name}.lock`);
      const waited = waitMs >= 120_000 ? `${Math.round(waitMs / 60_000)} minutes` : `${Math.round(waitMs / 1000)} s`;
      const held = await acquireFileLock(file, {
        waitMs,
        pollMs: options.pollMs ?? 100,
        ...(options.refreshMs === undefined ? {} : { refreshMs: options.refreshMs }),
        ...(options.staleMs === undefined ? {} : { staleMs: options.staleMs }),
        dirMode: 0o700,
        ...(options.onWait === undefined ? {} : { onWait: (holder: LockHolder) => options.onWait?.(name, holder) }),
        busy: () => new BerthError('E_CERT_LOCKED', `Another berth process has held the certificate lock for ${name} for over ${waited} (${file}); if no berth process is running, remove the file`),
      });
      return () => held.release();
    },
  };
}
