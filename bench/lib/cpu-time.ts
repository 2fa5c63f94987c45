/**
 * CPU time of each side of a measurement, from /proc: the server's whole
 * process tree (utime + stime of every live process, plus cutime + cstime,
 * which hold the time of children they have already reaped) before and
 * after a run, and the load generator's from this process's own cutime +
 * cstime, which grows by a child's whole time when that child is reaped.
 * Ticks are clock ticks (USER_HZ, 100 on Linux).
 */
import { readFileSync } from 'node:fs';
import { processTree } from './proc.ts';

/** Linux's USER_HZ: what /proc/<pid>/stat counts time in. Fixed at 100 on every architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface StatTimes {
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/**
 * The times in one /proc/<pid>/stat line. The command name (field 2) may
 * hold spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseStatTimes(line: string): StatTimes | undefined {
  const close = line.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come field 3 (state) onwards; utime is field 14.
  const rest = line.slice(close + 2).trim().split(/\s+/);
  const at = (field: number): number => Number(rest[field - 3]);
  const t = { utime: at(14), stime: at(15), cutime: at(16), cstime: at(17) };
  return Object.values(t).every((v) => Number.isInteger(v) && v >= 0) ? t : undefined;
}

/** Every tick a process accounts for: its own and that of the children it reaped. */
export function totalTicks(t: StatTimes): number {
  return t.utime + t.stime + t.cutime + t.cstime;
}

function statOf(pid: number | 'self'): StatTimes | undefined {
  try {
    return parseStatTimes(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Ticks per pid of `root` and its descendants at this instant. */
export function treeTicks(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    const t = statOf(pid);
    if (t) out.set(pid, totalTicks(t));
  }
  return out;
}

/**
 * CPU seconds a process tree used between two snapshots. A process that
 * started in between counts from zero; one that ended and was reaped by a
 * process of the tree is in that parent's cutime/cstime, so the sums still
 * balance. (One reaped by something outside the tree is lost: a server does
 * not do that to its own workers.)
 */
export function cpuSecondsBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let sum = 0;
  for (const ticks of after.values()) sum += ticks;
  for (const ticks of before.values()) sum -= ticks;
  return Math.max(0, sum) / CLOCK_TICKS_PER_SECOND;
}

/** This process's reaped children's ticks: grows by a load generator's whole CPU time when it exits. */
export function reapedChildTicks(): number {
  const t = statOf('self');
  return t ? t.cutime + t.cstime : 0;
}

/**
 * Measures the CPU time of both sides of `work`: the server tree rooted at
 * `serverPid`, and every child of this process reaped during it (the load
 * generator: nothing else may run meanwhile).
 */
export async function withCpuTime<T>(serverPid: number, work: () => Promise<T>): Promise<{ result: T; serverCpuSeconds: number; loadCpuSeconds: number }> {
  const serverBefore = treeTicks(serverPid);
  const loadBefore = reapedChildTicks();
  const result = await work();
  const serverAfter = treeTicks(serverPid);
  const loadAfter = reapedChildTicks();
  return {
    result,
    serverCpuSeconds: cpuSecondsBetween(serverBefore, serverAfter),
    loadCpuSeconds: Math.max(0, loadAfter - loadBefore) / CLOCK_TICKS_PER_SECOND,
  };
}
