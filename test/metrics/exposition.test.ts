import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeLabelValue, renderExposition } from '../../src/metrics/exposition.ts';
import { FAMILIES, DURATION_BUCKETS } from '../../src/metrics/metric-families.ts';
import { MetricsTotals } from '../../src/metrics/metrics-snapshot.ts';
import { ServingMetrics } from '../../src/server/serving-metrics.ts';
import { parseExposition, total } from '../helpers/prometheus-text.ts';

describe('renderExposition()', () => {
  it('writes HELP, TYPE and samples that read back, label values escaped', () => {
    const totals = new MetricsTotals();
    totals.add({ samples: [{ name: 'berth_certificate_expiry_timestamp_seconds', labels: ['a"b\\c\nd'], value: 1_800_000_000 }], histograms: [] });
    const parsed = parseExposition(renderExposition(totals));
    assert.equal(parsed.types.get('berth_certificate_expiry_timestamp_seconds'), 'gauge');
    assert.deepEqual(parsed.samples, [{ name: 'berth_certificate_expiry_timestamp_seconds', labels: { name: 'a"b\\c\nd' }, value: 1_800_000_000 }]);
    assert.equal(escapeLabelValue('"\\\n'), '\\"\\\\\\n');
  });

  it('writes a histogram as cumulative buckets ending in +Inf, with _sum and _count', () => {
    const totals = new MetricsTotals();
    const buckets = [1, 0, 2, 0, 0, 0, 1];
    totals.add({ samples: [], histograms: [{ name: 'berth_http_request_duration_seconds', labels: ['blog'], buckets, sum: 3.5 }] });
    const parsed = parseExposition(renderExposition(totals));
    const le = parsed.samples.filter((sample) => sample.name === 'berth_http_request_duration_seconds_bucket');
    assert.deepEqual(le.map((sample) => sample.labels.le), [...DURATION_BUCKETS.map(String), '+Inf']);
    assert.deepEqual(le.map((sample) => sample.value), [1, 1, 3, 3, 3, 3, 4]);
    assert.equal(total(parsed, 'berth_http_request_duration_seconds_count'), 4);
    assert.equal(total(parsed, 'berth_http_request_duration_seconds_sum'), 3.5);
  });

  it('uses conventional names: berth_ prefix, counters in _total, base units', () => {
    for (const family of FAMILIES) {
      assert.match(family.name, /^berth_[a-z_]+$/);
      if (family.type === 'counter') assert.match(family.name, /_total$/);
      else assert.doesNotMatch(family.name, /_total$/);
      assert.doesNotMatch(family.name, /_(ms|milliseconds|minutes|kb|mb)(_|$)/);
    }
  });
});

describe('MetricsTotals', () => {
  it('sums counters and takes the latest timestamp across processes', () => {
    const totals = new MetricsTotals();
    for (const value of [3, 4]) {
      totals.add({
        samples: [
          { name: 'berth_http_requests_total', labels: ['blog', '2xx', 'GET'], value },
          { name: 'berth_deploy_last_success_timestamp_seconds', labels: ['blog'], value: value * 100 },
        ],
        histograms: [{ name: 'berth_http_request_duration_seconds', labels: ['blog'], buckets: [value, 0, 0, 0, 0, 0, 0], sum: value }],
      });
    }
    const parsed = parseExposition(renderExposition(totals));
    assert.equal(total(parsed, 'berth_http_requests_total'), 7);
    assert.equal(total(parsed, 'berth_deploy_last_success_timestamp_seconds'), 400);
    assert.equal(total(parsed, 'berth_http_request_duration_seconds_count'), 7);
  });

  it('drops what a process should not have sent: unknown names, wrong labels, bad numbers, bad buckets', () => {
    const totals = new MetricsTotals();
    totals.add({
      samples: [
        { name: 'process_cpu_seconds_total', labels: [], value: 1 },
        { name: 'berth_http_requests_total', labels: ['blog'], value: 1 },
        { name: 'berth_http_requests_total', labels: ['blog', '2xx', 7], value: 1 },
        { name: 'berth_http_requests_total', labels: ['blog', '2xx', 'GET'], value: -1 },
        { name: 'berth_http_requests_total', labels: ['blog', '2xx', 'GET'], value: Number.NaN },
        { name: 'berth_http_request_duration_seconds', labels: ['blog'], value: 1 },
      ],
      histograms: [{ name: 'berth_http_request_duration_seconds', labels: ['blog'], buckets: [1, 2], sum: 1 }],
    });
    totals.add('not a snapshot');
    totals.add(null);
    assert.equal(renderExposition(totals), '');
  });
});

describe('ServingMetrics', () => {
  it('counts by site, status class and method, and folds every other host and method into one value each', () => {
    const metrics = new ServingMetrics(['blog', 'docs'], ['github']);
    const started = performance.now();
    metrics.record(0, 200, 'GET', 100, started);
    metrics.record(0, 304, 'GET', 0, started);
    metrics.record(1, 404, 'HEAD', 0, started);
    for (let i = 0; i < 1000; i++) metrics.record(metrics.otherSite, 421, `M${i}`, 10, started);
    metrics.record(99, 999, 'BREW', 0, started);
    metrics.webhook('github', 'accepted');
    metrics.webhook(`random-${Math.random()}`, 'bad_signature');
    metrics.webhook(undefined, 'bad_signature');
    const totals = new MetricsTotals();
    totals.add(metrics.snapshot());
    const parsed = parseExposition(renderExposition(totals));
    const requests = parsed.samples.filter((sample) => sample.name === 'berth_http_requests_total');
    assert.deepEqual(new Set(requests.map((sample) => sample.labels.site)), new Set(['blog', 'docs', '_other']));
    assert.deepEqual(new Set(requests.map((sample) => sample.labels.method)), new Set(['GET', 'HEAD', 'other']));
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_other', code: '4xx', method: 'other' }), 1000);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_other', code: '5xx' }), 1);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: 'blog', code: '3xx', method: 'GET' }), 1);
    assert.equal(total(parsed, 'berth_http_response_body_bytes_total', { site: 'blog' }), 100);
    assert.equal(total(parsed, 'berth_http_request_duration_seconds_count'), 1004);
    assert.equal(total(parsed, 'berth_webhook_deliveries_total', { forge: 'github', result: 'accepted' }), 1);
    assert.equal(total(parsed, 'berth_webhook_deliveries_total', { forge: 'unknown', result: 'bad_signature' }), 2);
  });
});
