import { spawn } from 'node:child_process';
import { lowerPriorityOf } from './priority.ts';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { runningGroupMembers } from '../state/process-identity.ts';

export type OutputStream = 'stdout' | 'stderr';
/** Why Berth stopped a child: its time ran out, the caller aborted, or it wrote more than allowed. */
export type StopReason = 'timeout' | 'aborted' | 'output';

export interface RunChildOptions {
  /** The program and its arguments; no shell unless the program is one. */
  command: string;
  args: readonly string[];
  cwd?: string;
  /** The complete environment; nothing else is inherited. */
  env: NodeJS.ProcessEnv;
  /** Run as this user and group; Berth must be root. */
  uid?: number;
  gid?: number;
  /** The child, and everything it started, is stopped after this long. */
  timeoutMs: number;
  /** Aborting stops the child and everything it started. */
  signal?: AbortSignal;
  /** Time between SIGTERM and SIGKILL to the group; 0 sends SIGKILL at once. @default 5000 */
  killGraceMs?: number;
  /** Output (stdout and stderr together) allowed before the child is stopped; nothing past it is delivered. */
  outputLimitBytes?: number;
  /** Each chunk of output as it arrives, in order per stream. Without it, output is collected into the result. */
  onOutput?: (stream: OutputStream, chunk: Buffer) => void;
  /**
   * A nice value for the child, set right after it starts (before it has
   * run anything but the start of its program), so what it starts inherits
   * it. Only ever raised: a value below the child's own is left alone.
   */
  nice?: number;
  /** Called once the child has started, with its process group id (its pid). Must not throw. */
  onStart?: (pgid: number) => void;
  /**
   * Called once no process of the group runs any more, before the wait for
   * the output pipes to close: the place to kill what left the group
   * (`setsid`), which may be holding them open.
   */
  afterGroup?: () => Promise<void>;
}

export interface ChildResult {
  /** The child's exit code; null when a signal ended it or it never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why Berth stopped it, as decided when it exited (a timeout during the clean-up does not count); undefined when it ended on its own. */
  stopped: StopReason | undefined;
  /** Whether it wrote more than `outputLimitBytes`, at any time (also while its leftovers were cleaned up). */
  overLimit: boolean;
  /** Whether the output pipes were still held open, by a process outside the group, when Berth gave up waiting for them. */
  outputCut: boolean;
  /** Set when the program could not be started (ENOENT, EACCES, a bad uid). */
  error: NodeJS.ErrnoException | undefined;
  /** Collected output, when no `onOutput` was given (capped at `outputLimitBytes`). */
  stdout: Buffer;
  stderr: Buffer;
}

const DEFAULT_KILL_GRACE_MS = 5_000;
/** How long to wait for SIGKILLed processes to be gone, and then for the output pipes to close, before giving up on them. */
const REAP_WAIT_MS = 2_000;
const POLL_MS = 25;
/** setTimeout fires at once for delays beyond 2^31-1 ms (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs a program in a process group of its own and resolves once it has
 * exited and no process of its group runs any more.
 *
 * The group is what makes stopping complete: a build's shell starts node,
 * which starts esbuild; git starts ssh or a credential helper. Killing only
 * the first would leave the others running and holding the output pipes.
 * So on a timeout, an abort or too much output, and also after the child
 * exits on its own, the whole group gets SIGTERM and, after `killGraceMs`,
 * SIGKILL; zombies do not count as running. The wait after SIGKILL is bounded
 * (2 s), so a process stuck in the kernel cannot hang the caller.
 *
 * Limits: a process that leaves the group on purpose (`setsid`, a daemon)
 * escapes the group kill; `afterGroup` is where a caller that can (a build
 * with a uid of its own) kills it. The child's own session (`detached`) also
 * keeps it from ever reading Berth's terminal.
 */
export async function runChild(options: RunChildOptions): Promise<ChildResult> {
  const grace = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const limit = options.outputLimitBytes ?? Number.POSITIVE_INFINITY;
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  // A detached child leads its own process group: its pid is the group id.
  const pgid = child.pid;
  if (pgid !== undefined && options.nice !== undefined) lowerPriorityOf(pgid, options.nice);
  if (pgid !== undefined) options.onStart?.(pgid);

  const collected: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  let outputBytes = 0;
  let overLimit = false;
  let stopped: StopReason | undefined;
  let termSentAt: number | undefined;
  let killSentAt: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const kill = (): void => {
    if (killSentAt !== undefined || pgid === undefined) return;
    killSentAt = performance.now();
    signalGroup(pgid, 'SIGKILL');
  };
  const terminate = (): void => {
    if (termSentAt !== undefined || pgid === undefined) return;
    termSentAt = performance.now();
    if (grace <= 0) return kill();
    signalGroup(pgid, 'SIGTERM');
    killTimer = setTimeout(kill, grace);
  };
  const stop = (reason: StopReason): void => {
    stopped ??= reason;
    terminate();
  };

  const take = (stream: OutputStream) => (chunk: Buffer): void => {
    if (overLimit) return;
    outputBytes += chunk.length;
    if (outputBytes > limit) {
      overLimit = true;
      stop('output');
      return;
    }
    if (options.onOutput === undefined) collected[stream].push(chunk);
    else options.onOutput(stream, chunk);
  };
  child.stdout.on('data', take('stdout'));
  child.stderr.on('data', take('stderr'));
  const drained = Promise.all([closed(child.stdout), closed(child.stderr)]);

  const timer = setTimeout(() => stop('timeout'), Math.min(options.timeoutMs, MAX_TIMER_MS));
  const onAbort = (): void => stop('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted === true) onAbort();

  const result = (status: { code: number | null; signal: NodeJS.Signals | null }, error?: NodeJS.ErrnoException, outputCut = false): ChildResult => ({
    ...status,
    stopped: error === undefined ? stopped : undefined,
    overLimit,
    outputCut,
    error,
    stdout: Buffer.concat(collected.stdout),
    stderr: Buffer.concat(collected.stderr),
  });

  try {
    let status: { code: number | null; signal: NodeJS.Signals | null };
    try {
      status = await new Promise((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
    } catch (error) {
      child.stdout.destroy();
      child.stderr.destroy();
      return result({ code: null, signal: null }, error as NodeJS.ErrnoException);
    }
    // The outcome is decided: a timeout or an abort while the leftovers are cleaned up does not turn it around.
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    const decided = stopped;
    // The leader is gone; anything it left running in its group goes too.
    if (pgid !== undefined) {
      terminate();
      await reapGroup(pgid, () => termSentAt, grace, kill, () => killSentAt);
    }
    await options.afterGroup?.();
    const giveUp = new AbortController();
    const closedInTime = await Promise.race([drained.then(() => true), sleep(REAP_WAIT_MS, false, { signal: giveUp.signal }).catch(() => false)]);
    giveUp.abort();
    if (!closedInTime) {
      // Only a process outside the group can still hold them.
      child.stdout.destroy();
      child.stderr.destroy();
    }
    stopped = decided;
    return result(status, undefined, !closedInTime);
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Resolves when the stream has closed, whether it ended or was destroyed. */
async function closed(stream: Readable): Promise<void> {
  if (stream.closed) return;
  await once(stream, 'close');
}

/** Sends `signal` to every process in the group; a group that is already gone is fine. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Waits until no process of the group is left running, sending SIGKILL once
 * the grace period after SIGTERM is over; gives up 2 s after SIGKILL.
 */
async function reapGroup(pgid: number, termSentAt: () => number | undefined, grace: number, kill: () => void, killSentAt: () => number | undefined): Promise<void> {
  while (runningGroupMembers(pgid).length > 0) {
    const now = performance.now();
    if (now - (termSentAt() ?? now) >= grace) kill();
    const killedAt = killSentAt();
    if (killedAt !== undefined && now - killedAt >= REAP_WAIT_MS) return;
    await sleep(POLL_MS);
  }
}
