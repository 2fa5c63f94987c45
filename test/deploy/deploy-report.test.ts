import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { noticesOf, statusOf, statusOfPassedOver } from '../../src/deploy/deploy-report.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { observeDeploys } from '../../src/deploy/observe-deploys.ts';
import { openStateStore } from '../../src/state/state-store.ts';

const SHA = 'a'.repeat(40);

function record(patch: Partial<DeployRecord>): DeployRecord {
  return {
    id: '20261204T100000Z-abcdef',
    site: 'blog',
    trigger: 'webhook',
    forge: 'github',
    delivery: undefined,
    ref: 'refs/heads/main',
    sha: SHA,
    author: 'Alice',
    message: 'Fix the feed',
    state: 'queued',
    createdAt: '2026-12-04T10:00:00.000Z',
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

describe('statusOf()', () => {
  it('says what a forge shows for each state, within 140 characters', () => {
    const ended = { finishedAt: '2026-12-04T10:01:03.000Z' };
    const cases: Array<[Partial<DeployRecord>, string, RegExp]> = [
      [{ state: 'queued' }, 'queued', /^Waiting to deploy$/],
      [{ state: 'building' }, 'running', /^Fetching and building$/],
      [{ state: 'publishing' }, 'running', /^Publishing/],
      [{ state: 'live', releaseId: '20261204T100103Z-1234ab', ...ended }, 'succeeded', /^Live in 1 min 03 s: release 20261204T100103Z-1234ab$/],
      [{ state: 'skipped', ...ended }, 'succeeded', /^Already live/],
      [{ state: 'failed', errorCode: 'E_BUILD_FAILED', ...ended }, 'failed', /^Failed in 1 min 03 s: E_BUILD_FAILED; the live site is unchanged$/],
      [{ state: 'superseded', ...ended }, 'cancelled', /newer push replaced it/],
      [{ state: 'cancelled', ...ended }, 'cancelled', /^Cancelled in 1 min 03 s/],
    ];
    for (const [patch, state, description] of cases) {
      const status = statusOf(record(patch));
      assert.equal(status.state, state, JSON.stringify(patch));
      assert.match(status.description, description);
      assert.ok(status.description.length <= 140);
    }
  });

  it('tells a pushed commit that a newer tip was deployed with it', () => {
    const tip = 'b'.repeat(40);
    assert.deepEqual(statusOfPassedOver(record({ state: 'live', sha: tip, finishedAt: '2026-12-04T10:00:30.000Z' })), { state: 'succeeded', description: `Deployed as part of ${tip.slice(0, 12)}` });
    assert.equal(statusOfPassedOver(record({ state: 'building', sha: tip })).state, 'running');
    assert.match(statusOfPassedOver(record({ state: 'failed', sha: tip, errorCode: 'E_BUILD_FAILED' })).description, /E_BUILD_FAILED.*\(deploy of b{12}\)$/);
  });
});

describe('noticesOf()', () => {
  const at = (minute: number): string => `2026-12-04T10:${String(minute).padStart(2, '0')}:00.000Z`;
  it('a failure is news; a success after failures is also a recovery; cancelled and superseded deploys are not news', () => {
    const failed = record({ id: 'f', state: 'failed', finishedAt: at(10) });
    const live = record({ id: 'l', state: 'live', finishedAt: at(5) });
    const now = { finishedAt: at(20) };
    assert.deepEqual(noticesOf(record({ state: 'failed', ...now }), [live]), ['deploy.failed']);
    assert.deepEqual(noticesOf(record({ state: 'live', ...now }), [failed, live]), ['deploy.succeeded', 'deploy.recovered']);
    assert.deepEqual(noticesOf(record({ state: 'live', ...now }), [record({ id: 'l2', state: 'live', finishedAt: at(15) }), failed]), ['deploy.succeeded']);
    assert.deepEqual(noticesOf(record({ state: 'live', ...now }), []), ['deploy.succeeded']);
    for (const state of ['cancelled', 'superseded', 'skipped', 'queued', 'building'] as const) assert.deepEqual(noticesOf(record({ state, ...now }), [failed]), []);
  });

  it('compares with the outcome that ended last before this one, not the one created last', () => {
    // Created after the failure but ended before it (a `berth deploy` and the server, say).
    const failedLate = record({ id: 'f', state: 'failed', createdAt: at(1), finishedAt: at(12) });
    const liveEarly = record({ id: 'l', state: 'live', createdAt: at(3), finishedAt: at(8) });
    assert.deepEqual(noticesOf(record({ state: 'live', finishedAt: at(20) }), [liveEarly, failedLate]), ['deploy.succeeded', 'deploy.recovered']);
    // One that ended after this one does not count.
    const failedAfter = record({ id: 'f2', state: 'failed', finishedAt: at(30) });
    assert.deepEqual(noticesOf(record({ state: 'live', finishedAt: at(20) }), [failedAfter, liveEarly]), ['deploy.succeeded']);
  });

  it('leaves rollbacks out: a success after a failure and a rollback is still a recovery', () => {
    const failed = record({ id: 'f', state: 'failed', finishedAt: at(10) });
    const rollback = record({ id: 'r', trigger: 'rollback', state: 'live', finishedAt: at(12) });
    assert.deepEqual(noticesOf(record({ state: 'live', finishedAt: at(20) }), [rollback, failed]), ['deploy.succeeded', 'deploy.recovered']);
  });
});

describe('observeDeploys()', () => {
  it('hears every change of state or commit once, from creation, updates and recovery, and never from a change of anything else', async (t) => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-observe-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const heard: string[] = [];
    const store = observeDeploys(openStateStore(dataDir), (now, before) => heard.push(`${before?.state ?? 'new'}->${now.state}${now.sha === before?.sha ? '' : ` ${now.sha?.slice(0, 1) ?? '-'}`}`));
    t.after(() => store.close());
    const first = store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
    store.updateDeploy(first.id, { state: 'building' });
    store.updateDeploy(first.id, { phases: { fetch: 10 } });
    store.updateDeploy(first.id, { sha: SHA });
    store.updateDeploy(first.id, { state: 'live', finishedAt: new Date().toISOString() });
    const second = store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main', sha: 'c'.repeat(40) });
    store.updateDeploy(second.id, { state: 'building' });
    // As if the process that ran it had died: the owner is a pid no process has.
    const db = new DatabaseSync(path.join(dataDir, 'state.db'));
    db.prepare('UPDATE deploys SET owner_pid = ? WHERE id = ?').run(2 ** 22 + 17, second.id);
    db.close();
    const recovered = store.recoverInterrupted();
    assert.deepEqual(recovered.map((deploy) => deploy.id), [second.id]);
    assert.deepEqual(heard, ['new->queued', 'queued->building', 'building->building a', 'building->live', 'new->queued c', 'queued->building', 'building->failed']);
  });

  it('a listener that throws does not fail the write', async (t) => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'berth-observe-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const store = observeDeploys(openStateStore(dataDir), () => {
      throw new Error('the forge is down');
    });
    t.after(() => store.close());
    const created = store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
    assert.equal(store.updateDeploy(created.id, { state: 'failed' }).state, 'failed');
  });
});
