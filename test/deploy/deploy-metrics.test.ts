import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeployMetrics } from '../../src/deploy/deploy-metrics.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { renderExposition } from '../../src/metrics/exposition.ts';
import { MetricsTotals } from '../../src/metrics/metrics-snapshot.ts';
import { parseExposition, total } from '../helpers/prometheus-text.ts';

function record(patch: Partial<DeployRecord>): DeployRecord {
  return {
    id: '20261204T000000Z-abcdef',
    site: 'blog',
    trigger: 'webhook',
    forge: 'github',
    delivery: undefined,
    ref: 'refs/heads/main',
    sha: undefined,
    author: undefined,
    message: undefined,
    state: 'queued',
    createdAt: '2026-12-04T00:00:00.000Z',
    startedAt: undefined,
    finishedAt: undefined,
    phases: {},
    releaseId: undefined,
    buildSource: undefined,
    errorCode: undefined,
    errorMessage: undefined,
    ...patch,
  };
}

function scrape(metrics: DeployMetrics): ReturnType<typeof parseExposition> {
  const totals = new MetricsTotals();
  totals.add(metrics.snapshot());
  return parseExposition(renderExposition(totals));
}

describe('DeployMetrics', () => {
  it('counts each deploy once when it ends, by site, trigger and result, with its phases and last success', () => {
    let depth = 2;
    const metrics = new DeployMetrics(() => depth);
    const queued = record({});
    metrics.listener(queued, undefined);
    const building = record({ state: 'building' });
    metrics.listener(building, queued);
    const live = record({ state: 'live', finishedAt: '2026-12-04T00:01:00.000Z', phases: { queued: 10, fetch: 2_000, build: 40_000, publish: 500 } });
    metrics.listener(live, building);
    // A later change of an ended deploy (its commit) is not a second end.
    metrics.listener({ ...live, sha: 'a'.repeat(40) }, live);
    metrics.listener(record({ state: 'failed', trigger: 'cli', finishedAt: '2026-12-04T00:02:00.000Z', phases: { build: 1_000 } }), building);
    depth = 0;
    const parsed = scrape(metrics);
    assert.equal(total(parsed, 'berth_deploys_total'), 2);
    assert.equal(total(parsed, 'berth_deploys_total', { site: 'blog', trigger: 'webhook', result: 'live' }), 1);
    assert.equal(total(parsed, 'berth_deploys_total', { site: 'blog', trigger: 'cli', result: 'failed' }), 1);
    assert.equal(total(parsed, 'berth_deploy_phase_duration_seconds_count', { phase: 'build' }), 2);
    assert.equal(total(parsed, 'berth_deploy_phase_duration_seconds_sum', { phase: 'build' }), 41);
    assert.equal(total(parsed, 'berth_deploy_phase_duration_seconds_bucket', { phase: 'build', le: '60' }), 2);
    assert.equal(total(parsed, 'berth_deploy_phase_duration_seconds_bucket', { phase: 'build', le: '15' }), 1);
    assert.equal(total(parsed, 'berth_deploy_last_success_timestamp_seconds', { site: 'blog' }), Date.parse('2026-12-04T00:01:00.000Z') / 1000);
    assert.equal(total(parsed, 'berth_deploy_queue_depth'), 0);

    // A rollback is counted as one, with its one phase, but is not a deploy's success.
    const rollback = record({ trigger: 'rollback', state: 'live', finishedAt: '2026-12-04T00:03:00.000Z', phases: { activate: 4 } });
    metrics.listener(rollback, undefined);
    const after = scrape(metrics);
    assert.equal(total(after, 'berth_deploys_total', { site: 'blog', trigger: 'rollback', result: 'live' }), 1);
    assert.equal(total(after, 'berth_deploy_phase_duration_seconds_count', { phase: 'activate' }), 1);
    assert.equal(total(after, 'berth_deploy_last_success_timestamp_seconds', { site: 'blog' }), Date.parse('2026-12-04T00:01:00.000Z') / 1000);
  });

  it('keeps the last success from the history across a restart', () => {
    const metrics = new DeployMetrics(() => 0);
    metrics.remember(record({ state: 'live', finishedAt: '2026-12-01T00:00:00.000Z' }));
    metrics.remember(record({ state: 'failed', finishedAt: '2026-12-02T00:00:00.000Z' }));
    assert.equal(total(scrape(metrics), 'berth_deploy_last_success_timestamp_seconds'), Date.parse('2026-12-01T00:00:00.000Z') / 1000);
  });
});
