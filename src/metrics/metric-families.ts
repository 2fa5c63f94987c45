/**
 * Every metric Berth exposes, in one list: its name, type, help text, the
 * labels it carries and how the values of several processes combine. The
 * processes send only names, label values and numbers (see
 * metrics-snapshot.ts); the supervisor renders them with what is written
 * here, and drops a name that is not here, so what a scrape shows is
 * decided by this file alone. docs/metrics.md describes each one.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** How the values of one series from several processes become one: summed (counts, in-flight), or the largest (timestamps). */
export type Merge = 'sum' | 'max';

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  labels: readonly string[];
  merge: Merge;
  /** A histogram's bucket upper bounds (`+Inf` is implied). */
  buckets?: readonly number[];
}

/** Upper bounds of the request duration buckets, in seconds: few, since each is one series per site. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5] as const;

/** Upper bounds of the deploy phase buckets, in seconds. */
export const PHASE_BUCKETS = [1, 5, 15, 60, 300, 1200] as const;

/** The site label of requests for a host no site serves (and of requests with no host): never a site name, which starts with a letter or digit. */
export const OTHER_SITE = '_other';

/** The site label of requests for the admin host (`[admin] domain`), whatever the admin app answers. */
export const ADMIN_SITE = '_admin';

function family(name: string, type: MetricType, help: string, labels: readonly string[] = [], merge: Merge = 'sum'): MetricFamily {
  return { name, type, help, labels, merge };
}

function histogram(name: string, help: string, labels: readonly string[], buckets: readonly number[]): MetricFamily {
  return { name, type: 'histogram', help, labels, merge: 'sum', buckets };
}

export const FAMILIES: readonly MetricFamily[] = [
  family('berth_http_requests_total', 'counter', 'Requests answered by the serving workers, by site, status class and method.', ['site', 'code', 'method']),
  histogram('berth_http_request_duration_seconds', 'Time from a request\'s arrival to the end of its answer, by site.', ['site'], DURATION_BUCKETS),
  family('berth_http_response_body_bytes_total', 'counter', 'Bytes of answer bodies, by site (HEAD and 304 answers have none).', ['site']),
  family('berth_http_requests_in_flight', 'gauge', 'Requests being answered now, all workers together.'),
  family('berth_tls_handshakes_total', 'counter', 'TLS handshakes completed by the serving workers.'),
  family('berth_tls_handshake_failures_total', 'counter', 'TLS handshakes that failed (a client that gave up, an unknown protocol, no shared cipher).'),
  family('berth_webhook_deliveries_total', 'counter', 'Webhook requests received, by forge and result.', ['forge', 'result']),
  family('berth_deploys_total', 'counter', 'Deploys that ended, by site, trigger and result.', ['site', 'trigger', 'result']),
  histogram('berth_deploy_phase_duration_seconds', 'Time spent in each phase of the deploys that ended, by site and phase.', ['site', 'phase'], PHASE_BUCKETS),
  family('berth_deploy_last_success_timestamp_seconds', 'gauge', 'When the last deploy of the site went live (Unix time).', ['site'], 'max'),
  family('berth_deploy_queue_depth', 'gauge', 'Deploys running or waiting to run.'),
  family('berth_acme_orders_total', 'counter', 'Certificate orders by result (success, failure).', ['result']),
  family('berth_certificate_expiry_timestamp_seconds', 'gauge', 'When the certificate served for the name expires (Unix time).', ['name'], 'max'),
  family('berth_certificate_next_check_timestamp_seconds', 'gauge', 'When the certificate for the name is next checked for renewal (Unix time).', ['name'], 'max'),
  family('berth_metrics_scrape_missing_processes', 'gauge', 'Processes that did not answer this scrape in time; their counts are left out of it.'),
  family('berth_metrics_scrape_processes', 'gauge', 'Processes whose counts this scrape includes.'),
];

export const FAMILY_BY_NAME: ReadonlyMap<string, MetricFamily> = new Map(FAMILIES.map((entry) => [entry.name, entry]));
