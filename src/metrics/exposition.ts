import { FAMILIES, type MetricFamily } from './metric-families.ts';
import type { HistogramSample, MetricsTotals, Sample } from './metrics-snapshot.ts';

/** The Content-Type of the Prometheus text format this writes. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The Prometheus text exposition format (0.0.4) of `totals`: for each
 * family that has a series, `# HELP`, `# TYPE`, then its series in a stable
 * order. Families with no series are left out, as client libraries do for
 * labelled ones.
 */
export function renderExposition(totals: MetricsTotals): string {
  const byFamily = new Map<string, { samples: Sample[]; histograms: HistogramSample[] }>();
  const group = (name: string): { samples: Sample[]; histograms: HistogramSample[] } => {
    let entry = byFamily.get(name);
    if (entry === undefined) byFamily.set(name, (entry = { samples: [], histograms: [] }));
    return entry;
  };
  for (const sample of totals.samples.values()) group(sample.name).samples.push(sample);
  for (const histogram of totals.histograms.values()) group(histogram.name).histograms.push(histogram);
  const lines: string[] = [];
  for (const family of FAMILIES) {
    const entry = byFamily.get(family.name);
    if (entry === undefined) continue;
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of entry.samples.sort(byLabels)) lines.push(`${family.name}${labelText(family.labels, sample.labels)} ${formatNumber(sample.value)}`);
    for (const histogram of entry.histograms.sort(byLabels)) lines.push(...histogramLines(family, histogram));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function histogramLines(family: MetricFamily, histogram: HistogramSample): string[] {
  const bounds = family.buckets ?? [];
  const lines: string[] = [];
  let cumulative = 0;
  histogram.buckets.forEach((count, index) => {
    cumulative += count;
    const le = index < bounds.length ? formatNumber(bounds[index] as number) : '+Inf';
    lines.push(`${family.name}_bucket${labelText([...family.labels, 'le'], [...histogram.labels, le])} ${formatNumber(cumulative)}`);
  });
  const labels = labelText(family.labels, histogram.labels);
  lines.push(`${family.name}_sum${labels} ${formatNumber(histogram.sum)}`, `${family.name}_count${labels} ${formatNumber(cumulative)}`);
  return lines;
}

function byLabels(a: { labels: string[] }, b: { labels: string[] }): number {
  const left = a.labels.join('\u0000');
  const right = b.labels.join('\u0000');
  return left < right ? -1 : left > right ? 1 : 0;
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  return `{${names.map((name, index) => `${name}="${escapeLabelValue(values[index] ?? '')}"`).join(',')}}`;
}

/** A label value in the text format: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}
