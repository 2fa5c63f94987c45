import { PHASE_BUCKETS } from '../metrics/metric-families.ts';
import type { HistogramSample, MetricsSnapshot, Sample } from '../metrics/metrics-snapshot.ts';
import { FINAL_STATES } from './deploy-report.ts';
import type { DeployPhases, DeployRecord } from './deploy-types.ts';

const PHASES = ['queued', 'fetch', 'build', 'publish', 'smoke', 'activate'] as const satisfies ReadonlyArray<keyof DeployPhases>;

/**
 * The control plane's deploy counts: each deploy that ends is counted once
 * by site, trigger and result (its final state), its phases added to the
 * phase histograms, and a live one's end kept as the site's last success.
 * Fed by `observeDeploys`, which every path of a deploy goes through. The
 * sites are the configured ones and the results a closed set, so the
 * series are bounded by the config.
 */
export class DeployMetrics {
  readonly #ended = new Map<string, Sample>();
  readonly #phases = new Map<string, HistogramSample>();
  readonly #lastSuccess = new Map<string, number>();
  readonly #queueDepth: () => number;

  constructor(queueDepth: () => number) {
    this.#queueDepth = queueDepth;
  }

  /** A site's last live deploy from the history: a restart keeps the timestamp. */
  remember(record: DeployRecord): void {
    if (record.state === 'live') this.#success(record);
  }

  /** A `DeployListener`: counts a deploy when it reaches a final state. */
  readonly listener = (record: DeployRecord, before: DeployRecord | undefined): void => {
    if (!FINAL_STATES.has(record.state) || (before !== undefined && FINAL_STATES.has(before.state))) return;
    const key = `${record.site}\u0000${record.trigger}\u0000${record.state}`;
    const ended = this.#ended.get(key);
    if (ended === undefined) this.#ended.set(key, { name: 'berth_deploys_total', labels: [record.site, record.trigger, record.state], value: 1 });
    else ended.value++;
    for (const phase of PHASES) {
      const ms = record.phases[phase];
      if (ms === undefined || !Number.isFinite(ms) || ms < 0) continue;
      const seconds = ms / 1000;
      const phaseKey = `${record.site}\u0000${phase}`;
      let histogram = this.#phases.get(phaseKey);
      if (histogram === undefined) {
        histogram = { name: 'berth_deploy_phase_duration_seconds', labels: [record.site, phase], buckets: new Array<number>(PHASE_BUCKETS.length + 1).fill(0), sum: 0 };
        this.#phases.set(phaseKey, histogram);
      }
      let bucket = 0;
      while (bucket < PHASE_BUCKETS.length && seconds > (PHASE_BUCKETS[bucket] as number)) bucket++;
      histogram.buckets[bucket] = (histogram.buckets[bucket] as number) + 1;
      histogram.sum += seconds;
    }
    if (record.state === 'live') this.#success(record);
  };

  #success(record: DeployRecord): void {
    // A rollback deploys nothing new: the alert on stale deploys must not be quieted by one.
    if (record.trigger === 'rollback') return;
    const at = Date.parse(record.finishedAt ?? '');
    if (!Number.isFinite(at)) return;
    this.#lastSuccess.set(record.site, Math.max(at / 1000, this.#lastSuccess.get(record.site) ?? 0));
  }

  snapshot(): MetricsSnapshot {
    const samples: Sample[] = [...this.#ended.values()].map((sample) => ({ ...sample, labels: [...sample.labels] }));
    for (const [site, at] of this.#lastSuccess) samples.push({ name: 'berth_deploy_last_success_timestamp_seconds', labels: [site], value: at });
    samples.push({ name: 'berth_deploy_queue_depth', labels: [], value: this.#queueDepth() });
    const histograms = [...this.#phases.values()].map((histogram) => ({ ...histogram, labels: [...histogram.labels], buckets: [...histogram.buckets] }));
    return { samples, histograms };
  }
}
