import { readdirSync, readFileSync } from 'node:fs';

/**
 * A process as a lock file or a deploy row records it: its pid and, where
 * Linux's /proc tells it, the time it started (clock ticks since boot). The
 * pair names one process: a pid is reused once its process is gone, the
 * pair practically never is.
 */
export interface ProcessIdentity {
  pid: number;
  /** `undefined` where there is no /proc (and in records written before it was kept). */
  start: string | undefined;
}

interface ProcStat {
  /** R, S, D, T, Z (zombie), X (dead), … */
  state: string;
  pgrp: number;
  start: string;
}

/**
 * The fields of a `/proc/<pid>/stat` text after the command name: index 0 is
 * field 3 (state). "pid (comm) state ppid pgrp …": comm may hold spaces and
 * parentheses, so fields are counted from the last ')'.
 */
export function procStatFields(text: string): string[] {
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Fields of /proc/<pid>/stat, or undefined when the process is gone (or there is no /proc). */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 3 (state) is index 0 here, field 5 (pgrp) index 2, field 22 (starttime) index 19.
  const fields = procStatFields(text);
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const start = fields[19];
  if (state === undefined || start === undefined || !Number.isInteger(pgrp)) return undefined;
  return { state, pgrp, start };
}

const hasProc = ((): boolean => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** This process. */
export const currentProcess: ProcessIdentity = Object.freeze({ pid: process.pid, start: readStat(process.pid)?.start });

/** The identity of a running process, as it would be recorded now; undefined if it is not running. */
export function identify(pid: number): ProcessIdentity | undefined {
  if (!hasProc) return isSignalable(pid) ? { pid, start: undefined } : undefined;
  const stat = readStat(pid);
  return stat === undefined || isZombie(stat.state) ? undefined : { pid, start: stat.start };
}

/**
 * Whether the recorded process is still running. A zombie (it has exited,
 * its parent has not collected it yet) counts as gone: it holds nothing and
 * will never write again. A live process whose start time differs from the
 * recorded one is another process that was given the same pid, so the
 * recorded one is gone too.
 *
 * Limits: where there is no /proc, only the pid is checked (a zombie and a
 * reused pid look alive); a record without a start time is judged by pid.
 */
export function isRunning(recorded: ProcessIdentity): boolean {
  const { pid } = recorded;
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return recorded.start === currentProcess.start;
  if (!isSignalable(pid)) return false;
  if (!hasProc) return true;
  const stat = readStat(pid);
  // Gone between the two looks.
  if (stat === undefined) return false;
  if (isZombie(stat.state)) return false;
  return recorded.start === undefined || recorded.start === stat.start;
}

/** kill(pid, 0): does a process (zombies included) with this pid exist? EPERM means it does, as another user's. */
function isSignalable(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isZombie(state: string): boolean {
  return state === 'Z' || state === 'X';
}

/**
 * Pids of the processes of group `pgid` that are still running (zombies
 * left out: they use nothing and only their parent can remove them).
 * Without /proc, a group that still answers kill() is reported as [pgid].
 */
export function runningGroupMembers(pgid: number): number[] {
  // A group with no process left at all (not even a zombie) is the common
  // case once a child has exited, and one kill() tells it: the scan of
  // /proc below reads a file per process on the machine.
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return [];
    if (!hasProc) return [pgid];
  }
  if (!hasProc) return [pgid];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined && stat.pgrp === pgid && !isZombie(stat.state)) members.push(Number(entry));
  }
  return members;
}

/** Writes an identity the way lock files and rows keep it: `pid` or `pid start`. */
export function formatIdentity(identity: ProcessIdentity): string {
  return identity.start === undefined ? String(identity.pid) : `${identity.pid} ${identity.start}`;
}

/** Reads `pid` or `pid start`; NaN as the pid for text that holds none. */
export function parseIdentity(text: string): ProcessIdentity {
  const [pidText = '', start] = text.trim().split(/\s+/);
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : Number.NaN;
  return { pid, start: start !== undefined && /^\d+$/.test(start) ? start : undefined };
}
