import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * The nice value of deploy work: the control plane (git, hashing and
 * compressing a release) and every build. It then yields the CPU to the
 * serving workers, which run at 0, whenever both want it: on a small VM
 * they share its few cores, and a visitor's request should not wait behind
 * a deploy. A deploy on an idle machine is as fast as before.
 */
export const DEPLOY_NICE = 10;

/**
 * Gives every thread of this process (the main thread, V8's and libuv's
 * threads already started) the nice value `nice`; threads and processes
 * started later inherit it from the thread that starts them. On Linux a
 * nice value belongs to a thread, so the process's threads are set one by
 * one from /proc/self/task; elsewhere the process's. Returns false when the
 * system refused (the process then runs at the priority it had).
 */
export function lowerOwnPriority(nice: number): boolean {
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number).filter((tid) => Number.isInteger(tid) && tid > 0);
  } catch {
    threads = [0];
  }
  try {
    for (const tid of threads) setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives the process `pid` (its main thread, and so what it starts from now
 * on) the nice value `nice`, only ever raising it: a value already above
 * is left alone. A process that is gone, or a refusal, is ignored: it runs
 * at the priority it has.
 */
export function lowerPriorityOf(pid: number, nice: number): void {
  try {
    if (getPriority(pid) < nice) setPriority(pid, nice);
  } catch {
    // Gone already, or a system that refuses.
  }
}
