import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { BerthError } from '../errors.ts';
import { procStatFields } from '../state/process-identity.ts';
import { shellQuote } from '../shell-quote.ts';

/**
 * How many processes a build may have at once (`[sites.build]
 * max_processes`), so a fork bomb in a dependency's install script cannot
 * fill the process table and stop Berth, sshd and everything else on the
 * machine from starting a process.
 *
 * Two parts. The kernel's RLIMIT_NPROC, set with util-linux `prlimit`
 * before the build command starts, is the bound: a fork beyond it fails.
 * It counts every process and thread of the build's real uid, on the whole
 * machine. And a watcher that counts the same while the build runs and
 * stops the build once it is at the limit, so that the deploy ends at once
 * with `E_BUILD_PROCESS_LIMIT` instead of running on until its timeout
 * while forks fail.
 *
 * Limits: a process that makes itself non-dumpable (`prctl`) shows in
 * /proc as root's and escapes the watcher's count, not the kernel's. When
 * Berth is not root, builds run as Berth's own uid, so the
 * count includes Berth's own processes and threads and anything else that
 * user runs; the watcher is then off (it cannot tell the build's processes
 * from Berth's) and only the kernel's bound applies.
 */

const PRLIMIT_PATHS = ['/usr/bin/prlimit', '/bin/prlimit'];

/**
 * `command`, run by `sh -c` under a limit of `maxProcesses` processes (soft
 * and hard, so the build cannot raise it again).
 *
 * @throws BerthError `E_BUILD_CONFIG` when `prlimit` (util-linux) is not installed.
 */
export function withProcessLimit(command: string, maxProcesses: number, prlimitPaths: readonly string[] = PRLIMIT_PATHS): string {
  const prlimit = prlimitPaths.find((path) => existsSync(path));
  if (prlimit === undefined) {
    throw new BerthError(
      'E_BUILD_CONFIG',
      `Cannot limit the build to ${maxProcesses} processes: prlimit was not found at ${prlimitPaths.join(' or ')}; install util-linux`,
    );
  }
  return `exec ${prlimit} --nproc=${maxProcesses}:${maxProcesses} -- sh -c ${shellQuote(command)}`;
}


export interface ProcessWatch {
  stop(): void;
}

/** Time between two counts. A fork bomb stays at the limit; a count this often sees it there. */
const WATCH_INTERVAL_MS = 200;

/**
 * Counts the processes and threads of `uid` every 200 ms and calls
 * `onLimit(count)` once when the count reaches `limit`. Reads /proc: the
 * owner of `/proc/<pid>` is the process's uid, and `num_threads` in its
 * `stat` what RLIMIT_NPROC counts of it.
 */
export function watchProcessCount(uid: number, limit: number, onLimit: (count: number) => void): ProcessWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    const count = await countTasks(uid);
    if (stopped) return;
    if (count >= limit) {
      stopped = true;
      onLimit(count);
      return;
    }
    timer = setTimeout(() => void tick(), WATCH_INTERVAL_MS);
  };
  timer = setTimeout(() => void tick(), WATCH_INTERVAL_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Processes and threads whose uid is `uid`, from /proc; 0 where there is no /proc. */
export async function countTasks(uid: number): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return 0;
  }
  const counts = await Promise.all(
    entries.filter((entry) => /^\d+$/.test(entry)).map(async (pid) => {
      try {
        if ((await stat(`/proc/${pid}`)).uid !== uid) return 0;
        const text = await readFile(`/proc/${pid}/stat`, 'utf8');
        // num_threads is field 20, index 17 after the command name.
        const threads = Number(procStatFields(text)[17]);
        return Number.isSafeInteger(threads) && threads > 0 ? threads : 1;
      } catch {
        return 0; // The process ended while we looked.
      }
    }),
  );
  return counts.reduce((sum, count) => sum + count, 0);
}
