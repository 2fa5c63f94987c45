import { ADMIN_SITE, DURATION_BUCKETS, OTHER_SITE } from '../metrics/metric-families.ts';
import type { HistogramSample, MetricsSnapshot, Sample } from '../metrics/metrics-snapshot.ts';

const CODES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const METHODS = ['GET', 'HEAD', 'POST', 'other'] as const;
const WEBHOOK_RESULTS = ['accepted', 'duplicate', 'bad_signature', 'ignored', 'refused', 'error'] as const;
const BUCKETS = DURATION_BUCKETS.length + 1;

export type WebhookResult = (typeof WEBHOOK_RESULTS)[number];

/**
 * One serving worker's counts, in arrays sized when it starts: one slot per
 * configured site, one for the admin host (`_admin`) and one for every
 * other host (`_other`), times five
 * status classes and four method groups. Counting a request writes numbers
 * into them and allocates nothing, and no value a client sends (a Host
 * header, a path, a method) can add a series: the labels are fixed here.
 * The supervisor asks for `snapshot()` on a scrape and sums the workers.
 */
export class ServingMetrics {
  readonly #sites: readonly string[];
  /** [site][code][method] */
  readonly #requests: Float64Array;
  /** [site][bucket] */
  readonly #durations: Float64Array;
  readonly #durationSums: Float64Array;
  readonly #bytes: Float64Array;
  readonly #forges: readonly string[];
  /** [forge][result] */
  readonly #webhooks: Float64Array;
  inFlight = 0;
  tlsHandshakes = 0;
  tlsFailures = 0;

  /** `sites`: the configured site names, in the order of the site table; `forges`: the forges a webhook can name. */
  constructor(sites: readonly string[], forges: readonly string[]) {
    this.#sites = [...sites, ADMIN_SITE, OTHER_SITE];
    const count = this.#sites.length;
    this.#requests = new Float64Array(count * CODES.length * METHODS.length);
    this.#durations = new Float64Array(count * BUCKETS);
    this.#durationSums = new Float64Array(count);
    this.#bytes = new Float64Array(count);
    this.#forges = [...forges, 'unknown'];
    this.#webhooks = new Float64Array(this.#forges.length * WEBHOOK_RESULTS.length);
  }

  /** The slot of the admin host's requests (`[admin] domain`). */
  get adminSite(): number {
    return this.#sites.length - 2;
  }

  /** The slot of requests no site answers. */
  get otherSite(): number {
    return this.#sites.length - 1;
  }

  /**
   * One answered request. `site`: the site's index in the site table, or
   * `otherSite`; `started`: `performance.now()` at its arrival.
   */
  record(site: number, status: number, method: string | undefined, bytes: number, started: number): void {
    const slot = site >= 0 && site < this.#sites.length ? site : this.#sites.length - 1;
    const code = status >= 100 && status < 600 ? ((status / 100) | 0) - 1 : 4;
    const index = (slot * CODES.length + code) * METHODS.length + methodIndex(method);
    this.#requests[index] = (this.#requests[index] as number) + 1;
    const seconds = (performance.now() - started) / 1000;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] as number)) bucket++;
    const at = slot * BUCKETS + bucket;
    this.#durations[at] = (this.#durations[at] as number) + 1;
    this.#durationSums[slot] = (this.#durationSums[slot] as number) + seconds;
    this.#bytes[slot] = (this.#bytes[slot] as number) + bytes;
  }

  /** One webhook request, by the forge of the site it named (`unknown` for no such site) and its result. */
  webhook(forge: string | undefined, result: WebhookResult): void {
    let slot = forge === undefined ? -1 : this.#forges.indexOf(forge);
    if (slot < 0) slot = this.#forges.length - 1;
    const index = slot * WEBHOOK_RESULTS.length + WEBHOOK_RESULTS.indexOf(result);
    this.#webhooks[index] = (this.#webhooks[index] as number) + 1;
  }

  /** The counts as they are now, series with nothing counted left out. */
  snapshot(): MetricsSnapshot {
    const samples: Sample[] = [
      { name: 'berth_http_requests_in_flight', labels: [], value: this.inFlight },
      { name: 'berth_tls_handshakes_total', labels: [], value: this.tlsHandshakes },
      { name: 'berth_tls_handshake_failures_total', labels: [], value: this.tlsFailures },
    ];
    const histograms: HistogramSample[] = [];
    this.#sites.forEach((site, slot) => {
      for (let code = 0; code < CODES.length; code++) {
        for (let method = 0; method < METHODS.length; method++) {
          const value = this.#requests[(slot * CODES.length + code) * METHODS.length + method] as number;
          if (value > 0) samples.push({ name: 'berth_http_requests_total', labels: [site, CODES[code] as string, METHODS[method] as string], value });
        }
      }
      const buckets = Array.from(this.#durations.subarray(slot * BUCKETS, (slot + 1) * BUCKETS));
      if (buckets.some((count) => count > 0)) {
        histograms.push({ name: 'berth_http_request_duration_seconds', labels: [site], buckets, sum: this.#durationSums[slot] as number });
        samples.push({ name: 'berth_http_response_body_bytes_total', labels: [site], value: this.#bytes[slot] as number });
      }
    });
    this.#forges.forEach((forge, slot) => {
      WEBHOOK_RESULTS.forEach((result, index) => {
        const value = this.#webhooks[slot * WEBHOOK_RESULTS.length + index] as number;
        if (value > 0) samples.push({ name: 'berth_webhook_deliveries_total', labels: [forge, result], value });
      });
    });
    return { samples, histograms };
  }
}

function methodIndex(method: string | undefined): number {
  if (method === 'GET') return 0;
  if (method === 'HEAD') return 1;
  if (method === 'POST') return 2;
  return 3;
}
