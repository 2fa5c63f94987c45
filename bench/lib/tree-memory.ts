/**
 * Memory of a running server's process tree, read from /proc: wait until the
 * tree is idle (so a collection or a clean-up in progress does not count),
 * then read every process's VmRSS, PSS and peak (VmHWM) and name its role
 * (bench/lib/process-roles.ts). The idle memory and the deploy benchmarks
 * both measure `berth serve` this way.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { treeTicks } from './cpu-time.ts';
import { isIdle, type IdleRule, type IdleSample } from './idle.ts';
import { processTree, procKiB } from './proc.ts';
import { processMemory } from './proc-memory.ts';
import { classify, processFacts, type Role } from './process-roles.ts';

export interface ProcessReading {
  pid: number;
  role: Role;
  comm: string;
  rssKiB: number;
  pssKiB: number;
  pssAnonKiB?: number;
  pssFileKiB?: number;
  /** VmHWM: the most this process has held since it started. */
  hwmKiB?: number;
}

/** Over 3 s the tree's summed RSS moved by at most 256 KiB and it used at most 2 % of a core. */
export const IDLE_RULE: IdleRule = { windowMs: 3000, maxRssChangeKiB: 256, maxCpuShare: 0.02 };

function treeRss(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) sum += processMemory(p)?.rssKiB ?? 0;
  return sum;
}

/** Samples the tree every 500 ms until it is idle (IDLE_RULE) or `settleSeconds` pass. */
export async function waitTreeIdle(pid: number, settleSeconds: number): Promise<{ idle: boolean; afterMs: number }> {
  const t0 = performance.now();
  const samples: IdleSample[] = [];
  for (;;) {
    const atMs = performance.now() - t0;
    const ticks = [...treeTicks(pid).values()].reduce((a, b) => a + b, 0);
    samples.push({ atMs, rssKiB: treeRss(pid), cpuTicks: ticks });
    if (isIdle(samples, IDLE_RULE)) return { idle: true, afterMs: atMs };
    if (atMs > settleSeconds * 1000) return { idle: false, afterMs: atMs };
    await sleep(500);
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Every process of the tree rooted at `root` (a server listening on `ports`), with its role and memory now. */
export function readTreeMemory(root: number, ports: readonly number[]): ProcessReading[] {
  const out: ProcessReading[] = [];
  for (const [pid, role] of classify(root, processFacts(root, ports))) {
    const m = processMemory(pid);
    if (!m) continue;
    out.push({ pid, role, comm: comm(pid), rssKiB: m.rssKiB, pssKiB: m.pssKiB, pssAnonKiB: m.pssAnonKiB, pssFileKiB: m.pssFileKiB, hwmKiB: procKiB(pid, 'VmHWM') });
  }
  return out;
}
