/**
 * When a process tree has gone idle: over the last `windowMs` of samples its
 * summed RSS moved by at most `maxRssChangeKiB` and it used at most
 * `maxCpuShare` of one core. Timers, GC and lazy compilation right after
 * start move both; an idle server moves neither.
 */

export interface IdleSample {
  /** Milliseconds since any fixed origin. */
  atMs: number;
  /** RSS summed over the tree, KiB. */
  rssKiB: number;
  /** CPU ticks of the whole tree (USER_HZ, 100 a second). */
  cpuTicks: number;
}

export interface IdleRule {
  windowMs: number;
  maxRssChangeKiB: number;
  /** CPU seconds per second, e.g. 0.02 for 2 % of one core. */
  maxCpuShare: number;
}

/** True when the samples of the last `windowMs` (which must span it) show the tree idle. */
export function isIdle(samples: readonly IdleSample[], rule: IdleRule): boolean {
  const last = samples.at(-1);
  if (!last) return false;
  const from = last.atMs - rule.windowMs;
  const first = samples.findLast((s) => s.atMs <= from);
  if (!first) return false;
  const window = samples.filter((s) => s.atMs >= first.atMs);
  const rss = window.map((s) => s.rssKiB);
  if (Math.max(...rss) - Math.min(...rss) > rule.maxRssChangeKiB) return false;
  const cpuSeconds = (last.cpuTicks - first.cpuTicks) / 100;
  return cpuSeconds <= rule.maxCpuShare * ((last.atMs - first.atMs) / 1000);
}
