import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deployRatio, renderLatencySection, type LatencyResults, type LatencyRun } from '../../bench/lib/deploy-latency-report.ts';
import { latenciesDueWithin, percentile, summarizeLatency } from '../../bench/lib/latency-stats.ts';

test('percentile is nearest rank: always a value some request had', () => {
  const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(percentile(s, 50), 5);
  assert.equal(percentile(s, 90), 9);
  assert.equal(percentile(s, 99), 10);
  assert.equal(percentile(s, 100), 10);
  assert.equal(percentile(s, 0), 1);
  assert.equal(percentile([7], 99.9), 7);
  assert.equal(percentile([], 99), undefined);
});

test('p99 of 1,000 latencies is the 990th smallest, so the ten slowest are above it', () => {
  const values = Array.from({ length: 1000 }, (_, i) => 1000 - i); // 1000..1, unsorted order
  const s = summarizeLatency(values);
  assert.equal(s?.p99Ms, 990);
  assert.equal(s?.p999Ms, 999);
  assert.equal(s?.maxMs, 1000);
  assert.equal(s?.p50Ms, 500);
  assert.equal(s?.count, 1000);
  assert.equal(summarizeLatency([]), undefined);
});

test('latenciesDueWithin keeps the requests due inside the window, its ends included', () => {
  const due = [0, 100, 200, 300, 400];
  const lat = [1, 2, 3, 4, 5];
  assert.deepEqual(latenciesDueWithin(due, lat, 100, 300), [2, 3, 4]);
  assert.deepEqual(latenciesDueWithin(due, lat, 401, 500), []);
});

const run = (kind: LatencyRun['kind'], p99Ms: number, maxMs: number, extra: Partial<LatencyRun> = {}): LatencyRun => ({
  kind,
  ok: true,
  windowFromMs: 2000,
  windowMs: 5000,
  summary: { count: 5000, p50Ms: 0.5, p90Ms: 1, p99Ms, p999Ms: maxMs / 2, maxMs },
  sent: 9000,
  non200: 0,
  failed: 0,
  unanswered: 0,
  maxSendLagMs: 1,
  ...extra,
});

function latencyResults(pairs: Array<[LatencyRun, LatencyRun]>): LatencyResults {
  return {
    startedAt: '2026-12-03T23:30:00.000Z',
    finishedAt: '2026-12-03T23:40:00.000Z',
    command: 'npm run bench:latency',
    settings: { rounds: pairs.length, files: 20_000, rate: 1000, connections: 16, leadSeconds: 2, workers: '"auto"', path: '/style.css' },
    machine: { cores: '2 (nproc)' },
    initialDeployMs: 9000,
    rounds: pairs.map(([b, d], i) => ({ round: i + 1, order: i % 2 ? ['deploy', 'baseline'] : ['baseline', 'deploy'], runs: { baseline: b, deploy: d } })),
    notes: [],
  };
}

test('the ratio divides the median p99 during deploys by the median p99 without', () => {
  const r = latencyResults([
    [run('baseline', 2, 10), run('deploy', 3, 40, { triggerToLiveMs: 6000 })],
    [run('baseline', 4, 12), run('deploy', 2, 30, { triggerToLiveMs: 5000 })],
    [run('baseline', 3, 11), run('deploy', 6, 90, { triggerToLiveMs: 7000 })],
  ]);
  // Medians: p99 3 without, 3 during -> 1.00; max 11 without, 40 during.
  assert.equal(deployRatio(r, 'p99Ms'), 1);
  assert.equal(deployRatio(r, 'maxMs'), 40 / 11);
  const md = renderLatencySection(r, 'bench/results/deploy-latency-x.json');
  assert.match(md, /\| p99 \| 3\.00 ms \(2\.00 ms–4\.00 ms\) \| 3\.00 ms \(2\.00 ms–6\.00 ms\) \| 1\.00× \|/);
  assert.match(md, /\| max \| 11\.0 ms \(10\.0 ms–12\.0 ms\) \| 40\.0 ms \(30\.0 ms–90\.0 ms\) \| 3\.64× \|/);
  assert.match(md, /\| deploy, webhook to served \| \| 6\.00 s \(5\.00 s–7\.00 s\) \| \|/);
  assert.match(md, /within 1\.2× of p99 without: met \(1\.00×\)\./);
  assert.match(md, /open-loop/);
});

test('the target is not met above 1.2×, and a failed run is left out and named', () => {
  const r = latencyResults([
    [run('baseline', 2, 10), run('deploy', 5, 40)],
    [run('baseline', 2, 10), { ...run('deploy', 100, 100), ok: false, error: 'revision 2 was not served within 600 s' }],
    [run('baseline', 2, 10), run('deploy', 3, 40)],
  ]);
  // Deploy p99 over the two good rounds: 5 and 3 -> median 4; 4 / 2 = 2.
  assert.equal(deployRatio(r, 'p99Ms'), 2);
  const md = renderLatencySection(r, 'x.json');
  assert.match(md, /: not met \(2\.00×\)\./);
  assert.match(md, /^- round 2, deploy: failed: revision 2 was not served within 600 s$/m);
});

test('errors during a run are reported with their counts', () => {
  const r = latencyResults([[run('baseline', 2, 10, { non200: 3, failed: 1, unanswered: 2 }), run('deploy', 2, 10)]]);
  assert.match(renderLatencySection(r, 'x.json'), /^- round 1, no deploy: 3 answers other than 200, 1 failed requests, 2 unanswered at the end$/m);
});
