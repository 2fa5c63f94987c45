import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * The control plane's nice value. Deploys (git, builds, hashing and
 * compressing a release) then yield the CPU to the serving workers, which
 * run at 0, whenever both want it: on a small VM they share its few cores,
 * and a visitor's request should not wait behind a deploy. A deploy on an
 * idle machine is as fast as before.
 */
export const CONTROL_PLANE_NICE = 10;

/**
 * Gives every thread of this process (the main thread, V8's and libuv's
 * threads already started) the nice value `nice`; threads and processes
 * started later inherit it from the thread that starts them. On Linux a
 * nice value belongs to a thread, so the process's threads are set one by
 * one from /proc/self/task; elsewhere the process's. Returns false when the
 * system refused (the process then runs at the priority it had).
 */
export function lowerPriority(nice: number): boolean {
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
