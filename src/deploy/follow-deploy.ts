import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StateStore } from '../state/state-store.ts';
import { deployLogPath } from './deploy-log.ts';
import type { DeployRecord } from './deploy-types.ts';

const ACTIVE = new Set(['queued', 'building', 'publishing']);
const POLL_MS = 200;
/** How often the server that runs the deploy is looked for. */
const SERVER_CHECK_MS = 2_000;
/** The log is closed just after the end is recorded: its last lines are waited for this long. */
const TAIL_MS = 1_000;

export interface FollowOptions {
  dataDir: string;
  store: StateStore;
  deployId: string;
  /** Receives the log as it grows, in chunks of whole or partial lines. */
  write(chunk: Buffer): void;
  /** Following stops when it aborts (the deploy does not). */
  signal: AbortSignal;
  /** Whether the process running the deploy is still there; checked every few seconds. */
  running(): Promise<boolean>;
}

/**
 * How following ended: the deploy's final record; `stopped` (the signal),
 * or `orphaned` (the process running it is gone, so the record will not
 * move until that server starts again and marks it interrupted), each with
 * the record as last seen; `missing`: there is no such deploy (any more).
 */
export type FollowOutcome = { ended: DeployRecord } | { stopped: DeployRecord } | { orphaned: DeployRecord } | { missing: true };

/**
 * Prints a deploy's log (`data_dir/logs/deploys/<id>.log`) as another
 * process writes it, and watches its record in state.db until it ends. Only
 * reads: stopping it leaves the deploy running.
 */
export async function followDeploy(options: FollowOptions): Promise<FollowOutcome> {
  const { store, deployId, signal } = options;
  const file = deployLogPath(options.dataDir, deployId);
  let offset = 0;
  let checked = Date.now();
  let record: DeployRecord | undefined;
  for (;;) {
    // The record first: a deploy seen ended has written its log before (but for its last lines, see below).
    record = store.getDeploy(deployId);
    // Recorded before its id was handed out: gone means pruned from the history, which would never end the loop.
    if (record === undefined) return { missing: true };
    offset = await printLogFrom(file, offset, options.write);
    if (!ACTIVE.has(record.state)) break;
    if (signal.aborted) return { stopped: record };
    if (Date.now() - checked >= SERVER_CHECK_MS) {
      checked = Date.now();
      if (!(await options.running())) return { orphaned: record };
    }
    await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
  }
  // The runner closes the log after recording the end: lines still being written are waited for, a little.
  const until = Date.now() + TAIL_MS;
  let quiet = 0;
  while (Date.now() < until && quiet < 3 && !signal.aborted) {
    await sleep(POLL_MS / 2);
    const before = offset;
    offset = await printLogFrom(file, offset, options.write);
    quiet = offset === before ? quiet + 1 : 0;
  }
  return { ended: record };
}

/** Writes what the log `file` holds past `offset`; returns the new offset. A file not there yet (or not readable as a log) is empty. */
export async function printLogFrom(file: string, offset: number, write: (chunk: Buffer) => void): Promise<number> {
  let handle;
  try {
    // Never through a link, never blocking on a FIFO: the log is a file Berth wrote.
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    // Not there yet; or not the log (a link: ELOOP), or not this user's to read: the result line still comes.
    if (['ENOENT', 'ELOOP', 'EACCES'].includes((error as NodeJS.ErrnoException).code ?? '')) return offset;
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return offset;
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) return offset;
      offset += bytesRead;
      write(Buffer.from(buffer.subarray(0, bytesRead)));
    }
  } finally {
    await handle.close();
  }
}
