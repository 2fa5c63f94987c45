import { BerthError } from '../errors.ts';
import { withFileLock } from '../locks/file-lock.ts';

/**
 * Runs `work` holding an exclusive lock on one site (its directory, its
 * deploys, or its git cache: the lock file says which), so two `berth
 * publish`, a publish and a rollback, or a server's deploy and a `berth
 * deploy` never interleave. The lock is the file lock of locks/file-lock.ts:
 * a holder that is gone, a zombie or hung is taken over.
 *
 * @throws BerthError `E_SITE_LOCKED` when another process still holds it after `timeoutMs`
 */
export function withSiteLock<T>(lockFile: string, work: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  return withFileLock(
    lockFile,
    {
      waitMs: timeoutMs,
      busy: () => new BerthError('E_SITE_LOCKED', `Another berth command has been changing this site for over ${Math.round(timeoutMs / 1000)} s (lock ${lockFile}); wait for it, or remove the lock if no berth command is running`),
    },
    work,
  );
}
