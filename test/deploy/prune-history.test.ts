import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import type { DeployState } from '../../src/deploy/deploy-types.ts';
import { pruneHistory } from '../../src/deploy/prune-history.ts';
import { openStateStore, type StateStore } from '../../src/state/state-store.ts';
import { eventually } from '../helpers/server.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { tempDir } from '../helpers/temp.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const DAY = 86_400_000;
const daysAgo = (days: number): Date => new Date(NOW.getTime() - days * DAY);

async function setup(t: TestContext): Promise<{ dataDir: string; store: StateStore }> {
  const dataDir = await tempDir(t);
  const store = openStateStore(dataDir);
  t.after(() => store.close());
  await mkdir(join(dataDir, 'logs', 'deploys'), { recursive: true });
  return { dataDir, store };
}

/** A deploy created `days` ago, in `state`, with a log file. */
async function deploy(dataDir: string, store: StateStore, site: string, days: number, state: DeployState): Promise<string> {
  const record = store.createDeploy({ site, trigger: 'cli', ref: 'refs/heads/main' }, daysAgo(days));
  if (state !== 'queued') store.updateDeploy(record.id, { state });
  await writeFile(deployLogPath(dataDir, record.id), `log of ${record.id}\n`);
  return record.id;
}

/** Sets when a delivery was received (recordDelivery stamps the present). */
function receivedAt(store: StateStore, delivery: string, when: Date): void {
  const db = new DatabaseSync(store.file, { timeout: 5_000 });
  try {
    db.prepare('UPDATE deliveries SET received_at = ? WHERE delivery = ?').run(when.toISOString(), delivery);
  } finally {
    db.close();
  }
}

function deliveries(store: StateStore): Array<{ delivery: string; deploy: string | null }> {
  const db = new DatabaseSync(store.file, { timeout: 5_000 });
  try {
    return db
      .prepare('SELECT delivery, deploy_id FROM deliveries ORDER BY delivery')
      .all()
      .map((row) => ({ delivery: String(row.delivery), deploy: row.deploy_id === null ? null : String(row.deploy_id) }));
  } finally {
    db.close();
  }
}

const history = { keepDeploys: 2, keepDays: 30, keepDeliveriesDays: 30 };

test('pruneHistory deletes exactly the deploys and logs outside both the newest N and the last D days', async (t) => {
  const { dataDir, store } = await setup(t);
  const a = await deploy(dataDir, store, 'blog', 100, 'failed');
  const b = await deploy(dataDir, store, 'blog', 90, 'live');
  const c = await deploy(dataDir, store, 'blog', 80, 'building');
  const d = await deploy(dataDir, store, 'blog', 70, 'live');
  const e = await deploy(dataDir, store, 'blog', 31, 'superseded');
  const f = await deploy(dataDir, store, 'blog', 29, 'failed');
  const g = await deploy(dataDir, store, 'blog', 10, 'skipped');
  const h = await deploy(dataDir, store, 'blog', 1, 'failed');
  // Another site's deploys count for that site only: two, so both stay however old.
  const x = await deploy(dataDir, store, 'docs', 200, 'failed');
  const y = await deploy(dataDir, store, 'docs', 150, 'cancelled');

  const report = await pruneHistory({ dataDir, history, store }, NOW);

  // a, b, e: older than 30 days and not among blog's newest 2 (h, g). c still
  // builds; d is blog's newest live deploy; f is younger than 30 days.
  assert.deepEqual(report.deploys.sort(), [a, b, e].sort());
  const kept = store.listDeploys({ limit: 100 }).map((record) => record.id);
  assert.deepEqual(kept.sort(), [c, d, f, g, h, x, y].sort());
  const logs = (await readdir(join(dataDir, 'logs', 'deploys'))).sort();
  assert.deepEqual(logs, [c, d, f, g, h, x, y].map((id) => `${id}.log`).sort());

  // Applying the same policy again changes nothing.
  const again = await pruneHistory({ dataDir, history, store }, NOW);
  assert.deepEqual(again, { deploys: [], deliveries: 0, strayLogs: [] });
});

test('pruneHistory forgets deliveries older than keep_deliveries_days, and unlinks those of deleted deploys', async (t) => {
  const { dataDir, store } = await setup(t);
  const old = await deploy(dataDir, store, 'blog', 100, 'failed');
  await deploy(dataDir, store, 'blog', 1, 'failed');
  await deploy(dataDir, store, 'blog', 1, 'failed');
  for (const [delivery, days, linked] of [
    ['d-old', 40, old],
    ['d-recent-of-old-deploy', 10, old],
    ['d-old-unlinked', 31, undefined],
    ['d-new', 0, undefined],
  ] as const) {
    assert.equal(store.recordDelivery('blog', 'github', delivery), 'new');
    if (linked !== undefined) store.linkDelivery('blog', delivery, linked);
    receivedAt(store, delivery, daysAgo(days));
  }

  const report = await pruneHistory({ dataDir, history, store }, NOW);
  assert.deepEqual(report.deploys, [old]);
  assert.equal(report.deliveries, 2);
  assert.deepEqual(deliveries(store), [
    { delivery: 'd-new', deploy: null },
    { delivery: 'd-recent-of-old-deploy', deploy: null },
  ]);
  // A delivery still remembered is still a duplicate.
  assert.equal(store.recordDelivery('blog', 'github', 'd-recent-of-old-deploy'), 'duplicate');
  assert.equal(store.recordDelivery('blog', 'github', 'd-old'), 'new');
});

test('pruneHistory removes old logs whose deploy is not in the history, and keeps recent ones', async (t) => {
  const { dataDir, store } = await setup(t);
  const stray = deployLogPath(dataDir, '20260101T000000Z-aaaaaa');
  const fresh = deployLogPath(dataDir, '20261201T115900Z-bbbbbb');
  await writeFile(stray, 'from a state.db moved aside\n');
  await writeFile(fresh, 'being written by a deploy just created\n');
  await utimes(stray, daysAgo(40), daysAgo(40));
  await writeFile(join(dataDir, 'logs', 'deploys', 'notes.txt'), 'not a log\n');
  await utimes(join(dataDir, 'logs', 'deploys', 'notes.txt'), daysAgo(400), daysAgo(400));

  const report = await pruneHistory({ dataDir, history, store }, NOW);
  assert.deepEqual(report.strayLogs, [stray]);
  assert.deepEqual((await readdir(join(dataDir, 'logs', 'deploys'))).sort(), ['20261201T115900Z-bbbbbb.log', 'notes.txt']);
});

test('pruneHistory goes through a history longer than one batch', async (t) => {
  const { dataDir, store } = await setup(t);
  const ids: string[] = [];
  for (let i = 0; i < 450; i++) ids.push(store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, daysAgo(100 + i / 1000)).id);
  for (const id of ids) store.updateDeploy(id, { state: 'failed' });
  const report = await pruneHistory({ dataDir, history, store }, NOW);
  assert.equal(report.deploys.length, 448);
  // The newest two (created last, the least long ago) stay.
  assert.deepEqual(store.listDeploys({ limit: 1000 }).map((record) => record.id).sort(), ids.slice(0, 2).sort());
});

test('berth serve prunes the history by the [deploy] keep_* keys when it starts', { timeout: 120_000 }, async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const store = openStateStore(dataDir);
  t.after(() => store.close());
  await mkdir(join(dataDir, 'logs', 'deploys'), { recursive: true });
  const ids: string[] = [];
  // Created "now" minus days: the server prunes by its own clock.
  const realNow = Date.now();
  for (const days of [9, 8, 7]) {
    const record = store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, new Date(realNow - days * DAY));
    store.updateDeploy(record.id, { state: 'failed' });
    await writeFile(deployLogPath(dataDir, record.id), 'log\n');
    ids.push(record.id);
  }
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    // No repo: the server only prunes, nothing is built.
    deployConfig({ deploy: ['keep_deploys = 1', 'keep_days = 2'] }),
  );
  const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  assert.ok(await eventually(async () => lines.some((line) => line.msg === 'pruned the deploy history'), 60_000), 'the server pruned');
  assert.deepEqual(lines.find((line) => line.msg === 'pruned the deploy history')?.deploys, 2);
  assert.deepEqual(store.listDeploys({ limit: 10 }).map((record) => record.id), [ids[2]]);
  assert.deepEqual(await readdir(join(dataDir, 'logs', 'deploys')), [`${ids[2]}.log`]);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
