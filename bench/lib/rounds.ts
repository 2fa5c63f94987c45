/**
 * Repeated measurements: which order the contenders run in each round, and
 * the median and range of what the rounds measured. Every benchmark that
 * repeats a measurement summarises it with these, so "median" means the same
 * thing in every section of BENCHMARKS.md.
 */

/** The middle value (the mean of the two middle ones for an even count); undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Median, lowest and highest of a set of measurements, and how many there were. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  count: number;
}

/** The spread of `values`; undefined for none. */
export function spread(values: readonly number[]): Spread | undefined {
  const m = median(values);
  if (m === undefined) return undefined;
  return { median: m, min: Math.min(...values), max: Math.max(...values), count: values.length };
}

/**
 * The order for round `round` (0-based): the list rotated left by the round
 * number, so with as many rounds as contenders each goes first once, and a
 * slow spell of the machine or a warm cache left by the one before does not
 * always fall on the same contender.
 */
export function rotated<T>(list: readonly T[], round: number): T[] {
  if (list.length === 0) return [];
  const k = round % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
