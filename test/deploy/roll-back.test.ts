import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import { rollBack } from '../../src/deploy/roll-back.ts';
import { shownState, type Serving } from '../../src/deploy/shown-state.ts';
import { isBerthError } from '../../src/errors.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { activeReleaseId } from '../../src/releases/release-list.ts';
import { sitePaths } from '../../src/releases/site-paths.ts';
import { openStateStore, type StateStore } from '../../src/state/state-store.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const SITE = { name: 'blog', branch: 'main' };

/** A deploy of `sha` as run-deploy leaves one: a release published from its files and made live. */
async function deployed(dataDir: string, state: StateStore, sha: string, message: string): Promise<{ id: string; release: string }> {
  const record = state.createDeploy({ site: 'blog', trigger: 'webhook', forge: 'github', ref: 'refs/heads/main', sha, author: 'Ada', message });
  const source = join(dataDir, '..', `src-${sha.slice(0, 4)}`);
  await writeTree(source, { 'index.html': `<p>${message}</p>` });
  const published = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10, commit: sha });
  state.updateDeploy(record.id, { state: 'live', releaseId: published.id, finishedAt: new Date().toISOString() });
  return { id: record.id, release: published.id };
}

async function servingNow(dataDir: string, state: StateStore): Promise<Serving> {
  const release = await activeReleaseId(sitePaths(dataDir, 'blog'));
  return { release, deploy: state.servingDeploy('blog', release) };
}

test('a rollback switches the release and is recorded as a deploy of its own, the one shown live', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const state = openStateStore(dataDir);
  t.after(() => state.close());
  const one = await deployed(dataDir, state, '1'.repeat(40), 'First page\n\nbody');
  const two = await deployed(dataDir, state, '2'.repeat(40), 'Second page');

  const outcome = await rollBack({ dataDir, site: SITE, release: undefined, by: 'ada', store: state });
  assert.equal(outcome.from, two.release);
  assert.equal(outcome.to, one.release, 'without a release named, the one before the live one');
  assert.equal(outcome.recordError, undefined);
  assert.equal(await activeReleaseId(sitePaths(dataDir, 'blog')), one.release);
  const record = outcome.deploy;
  assert.ok(record !== undefined);
  assert.equal(state.getDeploy(record.id)?.state, 'live');
  assert.equal(record.trigger, 'rollback');
  assert.equal(record.releaseId, one.release);
  assert.equal(record.sha, '1'.repeat(40), 'the commit the release was built from');
  assert.equal(record.author, 'Ada');
  assert.equal(record.message, 'First page\n\nbody');
  assert.equal(record.ref, 'refs/heads/main');
  assert.deepEqual(Object.keys(record.phases), ['activate']);
  assert.ok((record.phases.activate ?? -1) >= 0);
  assert.ok(record.startedAt !== undefined && record.finishedAt !== undefined && record.finishedAt >= record.startedAt);
  const log = await readFile(deployLogPath(dataDir, record.id), 'utf8');
  assert.match(log, new RegExp(`release ${one.release} made live again by ada \\(it was ${two.release}\\)`));
  assert.match(log, new RegExp(`release ${one.release} was made by deploy ${one.id}`));

  // Only the rollback is live; the deploy that first made the release is superseded, the newer one rolled back.
  const serving = await servingNow(dataDir, state);
  const shown = state.listDeploys({ site: 'blog' }).map((deploy) => [deploy.id, shownState(deploy, serving)]);
  assert.deepEqual(shown, [
    [record.id, 'live'],
    [two.id, 'rolled back'],
    [one.id, 'superseded'],
  ]);
  // The branch's tip is still the commit last deployed: a poll of it deploys nothing.
  assert.equal(state.liveSha('blog'), '2'.repeat(40));

  // Forward again by naming the release: a second rollback record, the one shown live.
  const forward = await rollBack({ dataDir, site: SITE, release: two.release, by: 'ada', store: state });
  assert.equal(forward.deploy?.releaseId, two.release);
  assert.equal(forward.deploy?.sha, '2'.repeat(40));
  const after = await servingNow(dataDir, state);
  assert.equal(after.deploy, forward.deploy?.id);
  assert.equal(shownState(record, after), 'superseded', 'a newer release is live again after it');
  assert.equal(shownState(state.getDeploy(two.id) as NonNullable<ReturnType<StateStore['getDeploy']>>, after), 'superseded');
});

test('a rollback to the live release records nothing; one to a release that is not there changes nothing', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const state = openStateStore(dataDir);
  t.after(() => state.close());
  const one = await deployed(dataDir, state, '1'.repeat(40), 'First');
  const same = await rollBack({ dataDir, site: SITE, release: one.release, by: 'ada', store: state });
  assert.deepEqual({ from: same.from, to: same.to, deploy: same.deploy }, { from: one.release, to: one.release, deploy: undefined });
  await assert.rejects(rollBack({ dataDir, site: SITE, release: undefined, by: 'ada', store: state }), (error) => isBerthError(error) && error.code === 'E_RELEASE_NONE');
  await assert.rejects(rollBack({ dataDir, site: SITE, release: '20200101T000000Z-00000000', by: 'ada', store: state }), (error) => isBerthError(error) && error.code === 'E_RELEASE_NOT_FOUND');
  assert.equal(await activeReleaseId(sitePaths(dataDir, 'blog')), one.release);
  assert.deepEqual(state.listDeploys({ site: 'blog' }).map((deploy) => deploy.id), [one.id]);
});

test('a rollback whose history cannot be written still stands, and says why it is not recorded', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const state = openStateStore(dataDir);
  t.after(() => state.close());
  const one = await deployed(dataDir, state, '1'.repeat(40), 'First');
  const two = await deployed(dataDir, state, '2'.repeat(40), 'Second');
  const closed = openStateStore(dataDir);
  closed.close();
  const outcome = await rollBack({ dataDir, site: SITE, release: one.release, by: 'ada', store: closed });
  assert.equal(outcome.to, one.release);
  assert.equal(outcome.from, two.release);
  assert.equal(outcome.deploy, undefined);
  assert.ok(outcome.recordError instanceof Error);
  assert.equal(await activeReleaseId(sitePaths(dataDir, 'blog')), one.release);
});
