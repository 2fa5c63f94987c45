import { FAMILY_BY_NAME, type MetricFamily } from './metric-families.ts';

/**
 * What one process reports on a scrape: plain data, sent over the IPC
 * channel as JSON. Label values come in the order of the family's labels.
 * A histogram's `buckets` are per bucket (not cumulative), the last one
 * for values above every bound.
 */
export interface Sample {
  name: string;
  labels: string[];
  value: number;
}

export interface HistogramSample {
  name: string;
  labels: string[];
  buckets: number[];
  sum: number;
}

export interface MetricsSnapshot {
  samples: Sample[];
  histograms: HistogramSample[];
}

/** Most series a scrape keeps, all processes together: a bound on what a misbehaving child could make the supervisor hold. */
export const MAX_SERIES = 50_000;
/** Longest label value kept (site and certificate names are shorter). */
const MAX_LABEL_LENGTH = 256;

/** Series of every process, combined by the family's rule (see `Merge`). */
export class MetricsTotals {
  readonly samples = new Map<string, Sample>();
  readonly histograms = new Map<string, HistogramSample>();
  #count = 0;

  /** Adds one process's snapshot; what is not well formed or not a known family is dropped. */
  add(snapshot: unknown): void {
    if (typeof snapshot !== 'object' || snapshot === null) return;
    const { samples, histograms } = snapshot as Partial<Record<keyof MetricsSnapshot, unknown>>;
    if (Array.isArray(samples)) for (const sample of samples) this.#addSample(sample);
    if (Array.isArray(histograms)) for (const histogram of histograms) this.#addHistogram(histogram);
  }

  /** Sets a series of the supervisor's own. */
  set(name: string, value: number, labels: string[] = []): void {
    this.#addSample({ name, labels, value });
  }

  #addSample(raw: unknown): void {
    const sample = raw as Partial<Sample> | null;
    const family = familyOf(sample?.name, sample?.labels, false);
    if (family === undefined || sample === null || !isCount(sample.value)) return;
    const key = keyOf(family.name, sample.labels as string[]);
    const existing = this.samples.get(key);
    if (existing !== undefined) {
      existing.value = family.merge === 'max' ? Math.max(existing.value, sample.value) : existing.value + sample.value;
      return;
    }
    if (this.#count++ >= MAX_SERIES) return;
    this.samples.set(key, { name: family.name, labels: [...(sample.labels as string[])], value: sample.value });
  }

  #addHistogram(raw: unknown): void {
    const histogram = raw as Partial<HistogramSample> | null;
    const family = familyOf(histogram?.name, histogram?.labels, true);
    if (family === undefined || histogram === null || !isCount(histogram.sum)) return;
    const buckets = histogram.buckets;
    if (!Array.isArray(buckets) || buckets.length !== (family.buckets?.length ?? 0) + 1 || !buckets.every(isCount)) return;
    const key = keyOf(family.name, histogram.labels as string[]);
    const existing = this.histograms.get(key);
    if (existing !== undefined) {
      buckets.forEach((count, index) => (existing.buckets[index] = (existing.buckets[index] as number) + count));
      existing.sum += histogram.sum;
      return;
    }
    if (this.#count++ >= MAX_SERIES) return;
    this.histograms.set(key, { name: family.name, labels: [...(histogram.labels as string[])], buckets: [...buckets], sum: histogram.sum });
  }
}

/** The known family of `name` if it is a histogram or not as asked, and `labels` fit it. */
function familyOf(name: unknown, labels: unknown, histogram: boolean): MetricFamily | undefined {
  if (typeof name !== 'string') return undefined;
  const family = FAMILY_BY_NAME.get(name);
  if (family === undefined || (family.type === 'histogram') !== histogram) return undefined;
  if (!Array.isArray(labels) || labels.length !== family.labels.length) return undefined;
  if (!labels.every((value) => typeof value === 'string' && value.length <= MAX_LABEL_LENGTH)) return undefined;
  return family;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function keyOf(name: string, labels: readonly string[]): string {
  return JSON.stringify([name, ...labels]);
}
