import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../errors.ts';
import { formatDuration } from '../config/duration.ts';
import { DEPLOY_NICE } from '../process/priority.ts';
import { runChild } from '../process/run-child.ts';

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
  /**
   * What earlier commands of the same build (its install step) used of
   * `timeoutMs` and of the output allowance: this command gets what is left,
   * and a message about either limit names the whole of it.
   */
  spent?: { ms: number; outputBytes: number };
  /** What messages call the command when it fails or cannot start: `the build command` unless given. */
  name?: string;
}

export interface BuildResult {
  durationMs: number;
  /** Bytes the command wrote to stdout and stderr together, for `spent` of a later command. */
  outputBytes: number;
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
 * Runs a build command in its own process group (runChild in
 * process/run-child.ts) and resolves when it has exited with status 0 and
 * every process it started is gone.
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
  const spentMs = options.spent?.ms ?? 0;
  const spentBytes = options.spent?.outputBytes ?? 0;
  if (options.killUid !== undefined && (options.killUid === 0 || options.killUid === process.getuid?.())) {
    throw new Error(`runBuild: killUid ${options.killUid} is root's or Berth's own uid; killing its processes would kill Berth`);
  }
  if (options.signal?.aborted) throw cancelledError(options.signal);
  if (spentMs >= options.timeoutMs) throw stoppedError('timeout', options, limit);
  if (spentBytes >= limit) throw stoppedError('output', options, limit);
  // Whatever an earlier build of this uid left (one of a Berth that was killed mid-build, say)
  // must not run beside this one, change its checkout or count against its limits.
  if (options.killUid !== undefined) await killUser(options.killUid, options.gid);

  const tail: string[] = [];
  let silenced = false;
  const emit = (stream: OutputStream, line: string): void => {
    if (silenced) return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    options.log(stream, line);
  };
  const lines = { stdout: splitLines((line) => emit('stdout', line)), stderr: splitLines((line) => emit('stderr', line)) };
  let outputBytes = 0;
  const { killUid } = options;

  // Its own process group, stopped whole (SIGTERM, then SIGKILL after the
  // grace) on a timeout, an abort, too much output, and after the shell exits.
  const result = await runChild({
    command: 'sh',
    args: ['-c', options.command],
    cwd: options.cwd,
    env: options.env,
    uid: options.uid,
    gid: options.gid,
    timeoutMs: options.timeoutMs - spentMs,
    signal: options.signal,
    killGraceMs: KILL_GRACE_MS,
    outputLimitBytes: limit - spentBytes,
    onOutput: (stream, chunk) => {
      outputBytes += chunk.length;
      lines[stream].push(chunk);
    },
    // Whoever starts it (the control plane, or a root supervisor on its behalf): serving comes first when they share the cores.
    nice: DEPLOY_NICE,
    onStart: options.onStart,
    // What left the group (setsid) and may hold the output pipes open.
    afterGroup: killUid === undefined ? undefined : () => killUser(killUid, options.gid),
  });
  if (result.error !== undefined) {
    if (killUid !== undefined) await killUser(killUid, options.gid);
    const reason = result.error.code ?? String(result.error);
    throw new BerthError('E_BUILD_FAILED', `cannot start ${options.name ?? 'the build command'} in ${options.cwd}: ${reason}`, { cause: result.error });
  }
  // Output past the limit, even while the leftovers were cleaned up, is not logged.
  if (result.overLimit) silenced = true;
  lines.stdout.end();
  lines.stderr.end();
  if (result.outputCut) {
    // Only a process outside the group (see above) can still hold them.
    emit('stderr', '[berth] a process that left the build\'s process group kept its output open; output after this point is not logged');
  }
  const durationMs = Math.round(performance.now() - started);

  const reason: StopReason | undefined = result.stopped === 'aborted' ? 'cancelled' : result.stopped ?? (result.overLimit ? 'output' : undefined);
  if (reason !== undefined) throw stoppedError(reason, options, limit);
  if (result.code === 0) return { durationMs, outputBytes };
  const how = result.code !== null ? `exited with code ${result.code}` : `was killed by ${result.signal ?? 'a signal'}`;
  throw new BerthError('E_BUILD_FAILED', `${options.name ?? 'the build command'} ${how}${OUTPUT_TAIL}${formatTail(tail)}`);
}

const OUTPUT_TAIL = '; the last lines of its output:';

/** A build failure's message without the output lines it ends with, for where the output was just shown: "… exited with code 1 (its output is above)". */
export function withoutOutputTail(message: string, note = ' (its output is above)'): string {
  const cut = message.indexOf(OUTPUT_TAIL);
  return cut === -1 ? message : `${message.slice(0, cut)}${note}`;
}

/**
 * Kills every process running as `uid` and waits until none is left.
 *
 * First `kill(-1, SIGKILL)` from a process running as that uid: the kernel
 * signals every process the sender may signal in one pass that forks cannot
 * slip through (so a fork loop cannot outrun it). Then /proc is scanned for
 * any process whose real, effective, saved or filesystem uid is `uid` (a
 * setuid program it started, say), and each is SIGKILLed by Berth, until a
 * scan finds none running. Zombies do not count: they use nothing and only
 * their parent can remove them.
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
 * Splits a byte stream into lines, chunk by chunk. A partial line waits for
 * the rest of it; a line longer than `MAX_LINE_BYTES` is logged cut, with a
 * marker, and the remainder up to the next newline is dropped. Lines are
 * decoded only once complete, so a character split across chunks survives.
 */
function splitLines(onLine: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false; // inside the dropped remainder of a cut line

  const flush = (): void => {
    onLine(cleanLine(Buffer.concat(pending, pendingBytes).toString('utf8')));
    pending = [];
    pendingBytes = 0;
  };

  return {
    push(chunk) {
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
    },
    end() {
      if (pendingBytes > 0) flush();
    },
  };
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
