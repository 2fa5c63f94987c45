import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readAtMost } from '../read-at-most.ts';
import { writeFileAtomic } from '../tls/atomic-write.ts';
import type { ConfigChanges } from './config-changes.ts';

/**
 * `data_dir/reload.json`: how `berth serve` answers `berth reload`. The
 * supervisor writes it once it can take a reload (so a command never sends
 * its signal to a server that would die of it, or to another program), and
 * again at each step of a reload; the command reads it. It holds key names,
 * site names and messages, never a value from the config.
 */
export interface ReloadStatus {
  /** The supervisor that wrote it: a file left by an earlier run is not an answer. */
  pid: number;
  /** The config file the server reads on a reload. */
  configPath: string;
  /** 0 at start, then one more for each reload begun. */
  generation: number;
  /**
   * `serving`: started, no reload yet. `applying`: the new config is valid
   * and the processes are being replaced. `applied`, `unchanged`: done.
   * `refused`: the new config is not valid; `failed`: a process could not
   * start with it. In both the running config is kept.
   */
  state: 'serving' | 'applying' | 'applied' | 'unchanged' | 'refused' | 'failed';
  /** What is being waited for, while applying. */
  step?: string;
  changes?: ConfigChanges;
  code?: string;
  message?: string;
  /** ISO time of the write. */
  at: string;
}

export function reloadStatusPath(dataDir: string): string {
  return join(dataDir, 'reload.json');
}

/**
 * Replaces the file whole: a new file (created, never opened through a
 * link) renamed over it, so a symbolic link someone put in its place is
 * replaced, not followed. Private like the rest of the data dir, and given
 * to `owner` (the service user, when the supervisor is root) so that the
 * command run as that user can read it.
 */
export async function writeReloadStatus(dataDir: string, status: Omit<ReloadStatus, 'at'>, owner?: { uid: number; gid: number }): Promise<void> {
  await writeFileAtomic(reloadStatusPath(dataDir), `${JSON.stringify({ ...status, at: new Date().toISOString() })}\n`, 0o600, owner);
}

/** Larger than any status Berth writes. */
const MAX_STATUS_BYTES = 65_536;

/**
 * The status, or undefined when there is none or it is not one: a partial
 * or foreign file, a symbolic link, a special file (a FIFO would block the
 * read), anything longer than a status can be.
 */
export async function readReloadStatus(dataDir: string): Promise<ReloadStatus | undefined> {
  let text: string;
  try {
    const handle = await open(reloadStatusPath(dataDir), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      if (!(await handle.stat()).isFile()) return undefined;
      const bytes = await readAtMost(handle, MAX_STATUS_BYTES + 1);
      if (bytes.length > MAX_STATUS_BYTES) return undefined;
      text = bytes.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<ReloadStatus>;
    if (typeof value.pid !== 'number' || typeof value.generation !== 'number' || typeof value.state !== 'string' || typeof value.configPath !== 'string') return undefined;
    return value as ReloadStatus;
  } catch {
    return undefined;
  }
}
