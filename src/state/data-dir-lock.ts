import { hostname } from 'node:os';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { acquireFileLock, currentHolder, type FileLock, type LockHolder } from '../locks/file-lock.ts';

export type DataDirLock = FileLock;

/**
 * Claims `data_dir/serve.lock` for this process, so a second `berth serve`
 * on the same data directory refuses to start (it does not wait) instead of
 * racing the first for ports, certificates and deploys. The lock is the file
 * lock of locks/file-lock.ts: one whose process is gone (a crash, a kill -9),
 * a zombie, or whose pid now belongs to a process that started at another
 * time is taken over; so is one its holder stopped refreshing.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  // Readable by all: the supervisor may hold it as root while `berth certs`, run as the service user, asks who serves.
  return acquireFileLock(join(dataDir, 'serve.lock'), { waitMs: 0, fileMode: 0o644, busy: (holder) => inUse(dataDir, holder) });
}

/** The pid of the `berth serve` using `dataDir`, or undefined when none is running. */
export async function runningServerPid(dataDir: string): Promise<number | undefined> {
  return (await currentHolder(join(dataDir, 'serve.lock')))?.pid;
}

function inUse(dataDir: string, holder: LockHolder): BerthError {
  if (holder.pid === undefined) {
    return new BerthError('E_DATA_DIR_LOCKED', `Another process has just locked ${dataDir} (serve.lock names no berth serve yet); stop the other berth serve first, or give this one its own data_dir`);
  }
  const where = holder.host !== undefined && holder.host !== hostname() ? ` on host ${holder.host}` : '';
  return new BerthError('E_DATA_DIR_LOCKED', `Another berth serve (pid ${holder.pid}${where}) is using ${dataDir}; stop it first, or give this one its own data_dir`);
}
