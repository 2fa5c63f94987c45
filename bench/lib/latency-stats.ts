/**
 * Latency figures of one run of the open-loop client: the requests that were
 * due within a time window, and their percentiles. Percentiles are nearest
 * rank (the smallest value with at least p % of the values at or below it),
 * so a reported p99 is always a latency some request had.
 */

/** Nearest-rank percentile of ascending `sorted`; undefined for none. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  if (p <= 0) return sorted[0];
  // Rounded first: 0.999 * 1000 is 999.0000000000001 in floating point, whose ceiling would skip a rank.
  const rank = Math.ceil(Number(((p / 100) * sorted.length).toFixed(9)));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Percentiles of `latencies` (any order); undefined for none. */
export function summarizeLatency(latencies: readonly number[]): LatencySummary | undefined {
  if (latencies.length === 0) return undefined;
  const s = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => percentile(s, p) as number;
  return { count: s.length, p50Ms: at(50), p90Ms: at(90), p99Ms: at(99), p999Ms: at(99.9), maxMs: s[s.length - 1] as number };
}

/** The latencies of the requests due in [fromMs, toMs] (times on the client's own clock, ms after its start). */
export function latenciesDueWithin(dueMs: readonly number[], latencyMs: readonly number[], fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  dueMs.forEach((d, i) => {
    if (d >= fromMs && d <= toMs) out.push(latencyMs[i] as number);
  });
  return out;
}
