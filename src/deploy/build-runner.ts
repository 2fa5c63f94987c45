import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { BerthError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';
import { procStatFields } from '../state/process-identity.ts';

export type OutputStream = 'stdout' | 'stderr';

export interface RunBuildOptions {
  /** Run with `sh -c`, so pipes, `&&` and variables work as in a terminal. */
  command: string;
  cwd: string;
  /** The complete environment (see `buildEnvironment`); nothing else is inherited. */
  env: Record<string, string>;
  /** The build, and everything it started, is stopped after this long. */
  timeoutMs: number;
  /** Called once per output line, in order, without the line ending. */
  log: (stream: OutputStream, line: string) => void;
  /**
   * Output (stdout and stderr together) allowed before the build is stopped.
   * @default 52428800 (50 MiB)
   */
  outputLimitBytes?: number;
  /** Aborting stops the build, e.g. when a newer push supersedes it. */
  signal?: AbortSignal;
  /** Run as this user and group (see `buildUserFor` in build-user.ts); Berth must be root. */
  uid?: number;
  gid?: number;
  /**
   * When the build has a uid of its own (no other service, site or build
   * uses it): every process running as this uid is killed before the build
   * starts and once it is over, including those that left the process group
   * (`setsid`, daemons). Never Berth's own uid or root's.
   */
  killUid?: number;
  /**
   * Called once the build has started, with its process group id, so that
   * it can be recorded: if Berth is killed, the build would run on, and the
   * process that finds the deploy interrupted stops the group. Must not throw.
   */
  onStart?: (pgid: number) => void;
}

export interface BuildResult {
  durationMs: number;
}

export const DEFAULT_OUTPUT_LIMIT_BYTES = 50 * 1024 * 1024;
/** Longer lines are cut here and marked, so one minified blob cannot fill the log. */
export const MAX_LINE_BYTES = 8 * 1024;
export const LINE_CUT_MARKER = ' [line cut at 8 KiB]';
/** Lines quoted in the message of a failed build. */
export const TAIL_LINES = 20;
/** Time between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 5_000;
/** How long to wait for SIGKILLed processes to be gone before giving up on them. */
const REAP_WAIT_MS = 2_000;
const POLL_MS = 25;

type StopReason = 'timeout' | 'cancelled' | 'output';

/**
 * Runs a build command in its own process group and resolves when it has
 * exited with status 0 and every process it started is gone.
 *
 * The group is what makes cleanup complete: `npm run build` starts a shell,
 * which starts node, which may start esbuild or a stray `vite preview &`.
 * Killing only the shell would leave those running (and holding the output
 * pipes open). So on a timeout, an abort or too much output, and also after
 * a normal exit, the whole group gets SIGTERM and, 5 s later, SIGKILL.
 *
 * A process that leaves the group on purpose (`setsid`, a daemonising tool)
 * escapes the group kill. With `killUid` (a uid only this build uses), every
 * process of that uid is then killed as well, before `runBuild` returns or
 * throws, so nothing of the build runs while Berth publishes its output.
 * Without it, such a process survives: containing it then needs a cgroup,
 * e.g. the systemd unit's `KillMode=control-group` or a container per build.
 *
 * @throws BerthError `E_BUILD_FAILED` (non-zero exit, killed by a signal, or
 *   could not start), `E_BUILD_TIMEOUT`, `E_BUILD_CANCELLED`,
 *   `E_BUILD_OUTPUT_LIMIT`.
 */
export async function runBuild(options: RunBuildOptions): Promise<BuildResult> {
  const started = performance.now();
  const limit = options.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT_BYTES;
  if (options.killUid !== undefined && (options.killUid === 0 || options.killUid === process.getuid?.())) {
    throw new Error(`runBuild: killUid ${options.killUid} is root's or Berth's own uid; killing its processes would kill Berth`);
  }
  if (options.signal?.aborted) throw cancelledError(options.signal);
  // Whatever an earlier build of this uid left (one of a Berth that was killed mid-build, say)
  // must not run beside this one, change its checkout or count against its limits.
  if (options.killUid !== undefined) await killUser(options.killUid, options.gid);

  const child = spawn('sh', ['-c', options.command], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });

  // A detached child leads its own process group: its pid is the group id.
  if (child.pid !== undefined) options.onStart?.(child.pid);

  const tail: string[] = [];
  let outputBytes = 0;
  let silenced = false;
  const emit = (stream: OutputStream, line: string): void => {
    if (silenced) return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    options.log(stream, line);
  };

  let stopReason: StopReason | undefined;
  let termSentAt: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const terminateGroup = (): void => {
    if (termSentAt !== undefined || child.pid === undefined) return;
    termSentAt = performance.now();
    signalGroup(child.pid, 'SIGTERM');
    const pid = child.pid;
    killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
  };
  const stop = (reason: StopReason): void => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    terminateGroup();
  };

  const onOutput = (bytes: number): void => {
    outputBytes += bytes;
    if (outputBytes > limit && !silenced) {
      silenced = true;
      stop('output');
    }
  };

  // setTimeout fires at once for delays beyond 2^31-1 ms (about 24.8 days).
  const timer = setTimeout(() => stop('timeout'), Math.min(options.timeoutMs, 2 ** 31 - 1));
  const onAbort = (): void => stop('cancelled');
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const drained = Promise.all([
      pumpLines(child.stdout, (line) => emit('stdout', line), onOutput),
      pumpLines(child.stderr, (line) => emit('stderr', line), onOutput),
    ]);
    // Awaited below; this only keeps an early failure from counting as unhandled.
    drained.catch(() => undefined);

    let status: { code: number | null; signal: NodeJS.Signals | null };
    try {
      status = await exited;
    } catch (error) {
      child.stdout.destroy();
      child.stderr.destroy();
      if (options.killUid !== undefined) await killUser(options.killUid, options.gid);
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new BerthError('E_BUILD_FAILED', `cannot start the build command in ${options.cwd}: ${reason}`, { cause: error });
    }
    // A timeout or an abort while the shell's leftovers are being cleaned
    // up does not turn the outcome around.
    const decided = stopReason;
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    // The shell is gone; anything it left running in the background goes too,
    // which also closes the pipes those processes were holding.
    if (child.pid !== undefined) {
      terminateGroup();
      await reapGroup(child.pid, () => termSentAt);
      if (options.killUid !== undefined) await killUser(options.killUid, options.gid);
      const giveUp = new AbortController();
      const closed = await Promise.race([drained.then(() => true), sleep(REAP_WAIT_MS, false, { signal: giveUp.signal })]);
      giveUp.abort();
      if (!closed) {
        // Only a process outside the group (see above) can still hold them.
        child.stdout.destroy();
        child.stderr.destroy();
        emit('stderr', '[berth] a process that left the build\'s process group kept its output open; output after this point is not logged');
      }
    }
    const durationMs = Math.round(performance.now() - started);

    // Output still in the pipes when the shell exited counts too.
    const reason = decided ?? (silenced ? 'output' : undefined);
    if (reason !== undefined) throw stoppedError(reason, options, limit);
    if (status.code === 0) return { durationMs };
    const how = status.code !== null ? `exited with code ${status.code}` : `was killed by ${status.signal ?? 'a signal'}`;
    throw new BerthError('E_BUILD_FAILED', `the build command ${how}; the last lines of its output:${formatTail(tail)}`);
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Sends `signal` to every process in the group; a group that is already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch (error) {
    // EPERM: the group exists but belongs to someone else; it is alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return hasRunningMember(pid);
}

/**
 * Whether a process of the group is still running, not merely a zombie.
 * A killed process whose parent (the build's shell) is gone stays a zombie
 * until init reaps it, and `kill(-pgid, 0)` still finds it: some inits reap
 * late, and where Berth itself is PID 1 without an init (a container run
 * without `--init`) nobody does. Zombies use no CPU or memory, so they do
 * not count. Reads /proc; where there is none, every member counts.
 */
function hasRunningMember(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // No procfs (not Linux): rely on kill() alone.
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // The process ended while we looked.
    }
    const fields = procStatFields(stat);
    const state = fields[0];
    if (Number(fields[2]) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/**
 * Waits until no process of the group is left running, sending SIGKILL
 * once the grace period after SIGTERM is over. The wait after SIGKILL is
 * bounded all the same, so a process stuck in the kernel (uninterruptible
 * I/O) cannot hang the deploy queue.
 */
async function reapGroup(pid: number, termSentAt: () => number | undefined): Promise<void> {
  let killedAt: number | undefined;
  while (groupAlive(pid)) {
    const now = performance.now();
    if (killedAt === undefined && now - (termSentAt() ?? now) >= KILL_GRACE_MS) {
      signalGroup(pid, 'SIGKILL');
      killedAt = now;
    }
    if (killedAt !== undefined && now - killedAt >= REAP_WAIT_MS) return;
    await sleep(POLL_MS);
  }
}

/**
 * Kills every process running as `uid` and waits until none is left.
 *
 * First `kill(-1, SIGKILL)` from a process running as that uid: the kernel
 * signals every process the sender may signal in one pass that forks cannot
 * slip through (so a fork loop cannot outrun it). Then /proc is scanned for
 * any process whose real, effective, saved or filesystem uid is `uid` (a
 * setuid program it started, say), and each is SIGKILLed by Berth, until a
 * scan finds none running. Zombies do not count (see hasRunningMember).
 * Bounded: a process stuck in the kernel makes the build fail rather than be
 * published while it may still write.
 */
async function killUser(uid: number, gid: number | undefined): Promise<void> {
  const started = performance.now();
  for (;;) {
    await killAllAs(uid, gid);
    const left = runningProcessesOf(uid);
    if (left.length === 0) return;
    for (const pid of left) signalProcess(pid, 'SIGKILL');
    if (performance.now() - started >= REAP_WAIT_MS) {
      throw new BerthError(
        'E_BUILD_FAILED',
        `processes of the build's user (uid ${uid}) were still running after SIGKILL: ${left.slice(0, 10).join(', ')}; the output was not published, look for processes stuck in the kernel (state D in ps)`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** Runs `kill(-1, SIGKILL)` as `uid`: the Node that runs Berth is the one program sure to be there. */
async function killAllAs(uid: number, gid: number | undefined): Promise<void> {
  const killer = spawn(process.execPath, ['-e', 'process.kill(-1, "SIGKILL")'], { uid, gid, stdio: 'ignore', env: {} });
  await new Promise<void>((resolve) => {
    // An error (no such program) leaves the /proc scan to do the work.
    killer.once('error', () => resolve());
    killer.once('exit', () => resolve());
  });
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Processes with `uid` among their real, effective, saved or filesystem uids that are not zombies. */
export function runningProcessesOf(uid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // The process ended while we looked.
    }
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number) ?? [];
    if (state !== 'Z' && state !== 'X' && uids.includes(uid)) found.push(Number(entry));
  }
  return found;
}

/**
 * Splits a byte stream into lines. A partial line waits for the rest of it;
 * a line longer than `MAX_LINE_BYTES` is logged cut, with a marker, and the
 * remainder up to the next newline is dropped. Bytes are counted before
 * anything is decoded, so the output limit is exact.
 */
async function pumpLines(stream: Readable, onLine: (line: string) => void, onBytes: (count: number) => void): Promise<void> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false; // inside the dropped remainder of a cut line

  const flush = (): void => {
    onLine(cleanLine(Buffer.concat(pending, pendingBytes).toString('utf8')));
    pending = [];
    pendingBytes = 0;
  };

  for await (const chunk of stream as AsyncIterable<Buffer>) {
    onBytes(chunk.length);
    let start = 0;
    while (start < chunk.length) {
      const newline = chunk.indexOf(0x0a, start);
      const end = newline === -1 ? chunk.length : newline;
      if (!skipping) {
        const room = MAX_LINE_BYTES - pendingBytes;
        if (end - start <= room) {
          pending.push(chunk.subarray(start, end));
          pendingBytes += end - start;
        } else {
          const cut = utf8Boundary(chunk, start, start + room);
          pending.push(chunk.subarray(start, cut));
          pendingBytes += cut - start;
          onLine(cleanLine(Buffer.concat(pending, pendingBytes).toString('utf8')) + LINE_CUT_MARKER);
          pending = [];
          pendingBytes = 0;
          skipping = true;
        }
      }
      if (newline === -1) break;
      if (skipping) skipping = false;
      else flush();
      start = newline + 1;
    }
  }
  if (pendingBytes > 0) flush();
}

/** Moves `end` back so a cut never splits a multi-byte character. */
function utf8Boundary(chunk: Buffer, start: number, end: number): number {
  let at = end;
  // 0b10xxxxxx bytes continue a character started earlier.
  while (at > start && ((chunk[at] ?? 0) & 0xc0) === 0x80) at--;
  return at;
}

/**
 * Drops a CRLF ending, and keeps only what follows the last carriage return:
 * a progress bar redrawn with `\r` becomes its final state, as a terminal
 * would show it.
 */
function cleanLine(line: string): string {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const lastReturn = text.lastIndexOf('\r');
  return lastReturn === -1 ? text : text.slice(lastReturn + 1);
}

function formatTail(lines: readonly string[]): string {
  if (lines.length === 0) return ' (none)';
  return lines.map((line) => `\n  ${line}`).join('');
}

function stoppedError(reason: StopReason, options: RunBuildOptions, limit: number): BerthError {
  switch (reason) {
    case 'timeout':
      return new BerthError(
        'E_BUILD_TIMEOUT',
        `the build was still running after ${formatDuration(options.timeoutMs)} and was stopped; make it faster or allow it more time`,
      );
    case 'cancelled':
      return cancelledError(options.signal);
    case 'output':
      return new BerthError(
        'E_BUILD_OUTPUT_LIMIT',
        `the build wrote more than ${formatBytes(limit)} of output and was stopped; make it quieter (drop verbose flags) or send noisy output to a file`,
      );
  }
}

function cancelledError(signal: AbortSignal | undefined): BerthError {
  const reason: unknown = signal?.reason;
  const why = typeof reason === 'string' ? `: ${reason}` : '';
  return new BerthError('E_BUILD_CANCELLED', `the build was cancelled${why}`);
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}
