/**
 * `live` means served: with a `confirmServed` (what a running server gives
 * the deployer), a deploy is recorded live only once it resolves, and a
 * rejection puts the `current` link back on the release that was live
 * before. Real deployer, real state.db, real git, real server.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { createDeployer, type Deployer } from '../../src/deploy/deployer.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { activateRelease } from '../../src/releases/activate.ts';
import { MANIFEST_NAME } from '../../src/releases/manifest.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { sitePaths } from '../../src/releases/site-paths.ts';
import { startServer } from '../../src/app/start-server.ts';
import type { ReleaseEvent } from '../../src/server/release-watcher.ts';
import { openStateStore, type StateStore } from '../../src/state/state-store.ts';
import { createRepo, type TestRepo } from '../helpers/git.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { get } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';

interface Setup {
  config: ResolvedConfig;
  store: StateStore;
  repo: TestRepo;
  logger: Logger;
  currentLink: string;
}

async function setup(t: TestContext): Promise<Setup> {
  const root = await tempDir(t, 'berth-served-');
  const repo = await createRepo(root, { 'index.html': '<p>one</p>' });
  await writeFile(join(root, 'berth.toml'), deployConfig({ repo: repo.bare, more: ['branch = "main"'] }));
  const config = await loadConfig(join(root, 'berth.toml'), {});
  const store = openStateStore(config.dataDir);
  t.after(() => store.close());
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  return { config, store, repo, logger, currentLink: sitePaths(config.dataDir, 'blog').currentLink };
}

async function deployWith(deployer: Deployer, store: StateStore): Promise<DeployRecord> {
  const record = deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
  await deployer.idle();
  const done = store.getDeploy(record.id);
  assert.ok(done !== undefined);
  return done;
}

async function linkTarget(link: string): Promise<string | undefined> {
  try {
    return basename(await readlink(link));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

test('a deploy whose release the workers do not serve fails with E_RELEASE_NOT_SERVED and leaves the previous release live', { timeout: 30_000 }, async (t) => {
  const { config, store, repo, logger, currentLink } = await setup(t);
  const first = await deployWith(createDeployer(config, store, logger), store);
  assert.equal(first.state, 'live');
  assert.ok(first.releaseId !== undefined);

  await repo.commit({ 'index.html': '<p>two</p>' });
  const asked: Array<{ site: string; release: string; linkedTo: string | undefined }> = [];
  const deployer = createDeployer(config, store, logger, {
    confirmServed: async (site, release) => {
      asked.push({ site, release, linkedTo: await linkTarget(currentLink) });
      throw new Error('worker 2 (pid 4242) could not load it: EACCES reading the manifest');
    },
  });
  const second = await deployWith(deployer, store);

  assert.equal(asked.length, 1);
  assert.equal(asked[0]?.site, 'blog');
  assert.notEqual(asked[0]?.release, first.releaseId);
  assert.equal(asked[0]?.linkedTo, asked[0]?.release, 'the link had moved to the new release when the workers were asked');
  assert.equal(second.state, 'failed');
  assert.equal(second.errorCode, 'E_RELEASE_NOT_SERVED');
  assert.match(second.errorMessage ?? '', /worker 2 \(pid 4242\) could not load it: EACCES reading the manifest/);
  assert.match(second.errorMessage ?? '', new RegExp(`release ${first.releaseId} is live again`));
  assert.equal(await linkTarget(currentLink), first.releaseId, 'the current link is back on the first release');
  const live = store.listDeploys({ site: 'blog', states: ['live'] });
  assert.deepEqual(live.map((deploy) => deploy.releaseId), [first.releaseId], 'the history still shows the first release live');
});

test('a first deploy that is not served removes the current link again', { timeout: 30_000 }, async (t) => {
  const { config, store, logger, currentLink } = await setup(t);
  const deployer = createDeployer(config, store, logger, {
    confirmServed: () => Promise.reject(new Error('worker 1 (pid 77) did not answer within 30 s')),
  });
  const record = await deployWith(deployer, store);
  assert.equal(record.state, 'failed');
  assert.equal(record.errorCode, 'E_RELEASE_NOT_SERVED');
  assert.match(record.errorMessage ?? '', /worker 1 \(pid 77\) did not answer within 30 s; the site has no live release again/);
  assert.equal(await linkTarget(currentLink), undefined);
  assert.deepEqual(store.listDeploys({ site: 'blog', states: ['live'] }), []);
});

test('a deploy is recorded live only after the server has loaded its release', { timeout: 30_000 }, async (t) => {
  const { config, store, repo, logger, currentLink } = await setup(t);
  const events: ReleaseEvent[] = [];
  const waiting = new Map<string, () => void>();
  const server = await startServer(config, logger, {
    onRelease: (event) => {
      events.push(event);
      if (event.ok) waiting.get(event.release)?.();
    },
  });
  t.after(() => server.stop());
  const port = server.listeners.httpPort as number;
  const seenWhileWaiting: Array<{ state: string | undefined; linkedTo: string | undefined }> = [];
  let deployId: string | undefined;
  const deployer = createDeployer(config, store, logger, {
    confirmServed: async (site, release) => {
      assert.equal(site, 'blog');
      // What the history and the link say before the server has answered with the release.
      seenWhileWaiting.push({ state: deployId === undefined ? undefined : store.getDeploy(deployId)?.state, linkedTo: await linkTarget(currentLink) });
      if (events.some((event) => event.ok && event.release === release)) return;
      await new Promise<void>((resolve) => waiting.set(release, resolve));
    },
  });

  const submitted = deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
  deployId = submitted.id;
  await deployer.idle();
  const first = store.getDeploy(submitted.id);
  assert.equal(first?.state, 'live');
  assert.equal(seenWhileWaiting[0]?.state, 'publishing', 'not live while the server had not confirmed');
  assert.equal(seenWhileWaiting[0]?.linkedTo, first.releaseId);
  assert.deepEqual(events, [{ site: 'blog', release: first.releaseId, ok: true }]);
  assert.equal((await get(port, '/')).body.toString(), '<p>one</p>');

  await repo.commit({ 'index.html': '<p>two</p>' });
  const next = deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
  deployId = next.id;
  await deployer.idle();
  const second = store.getDeploy(next.id);
  assert.equal(second?.state, 'live');
  assert.equal(seenWhileWaiting[1]?.state, 'publishing');
  assert.deepEqual(events.at(-1), { site: 'blog', release: second.releaseId, ok: true });
  assert.equal((await get(port, '/')).body.toString(), '<p>two</p>');
});

test('the server reports a release it cannot load as not ok and keeps serving the previous one', { timeout: 30_000 }, async (t) => {
  const { config, logger, currentLink } = await setup(t);
  const events: ReleaseEvent[] = [];
  let next: ((event: ReleaseEvent) => void) | undefined;
  const server = await startServer(config, logger, {
    onRelease: (event) => {
      events.push(event);
      next?.(event);
    },
  });
  t.after(() => server.stop());
  const source = join(config.dataDir, '..', 'out');
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'index.html'), 'good');
  const arrived = (): Promise<ReleaseEvent> => new Promise((resolve) => (next = resolve));

  let event = arrived();
  const good = await publishRelease({ dataDir: config.dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.deepEqual(await event, { site: 'blog', release: good.id, ok: true });

  const bad = await publishRelease({ dataDir: config.dataDir, site: 'blog', sourceDir: source, retain: 10, activate: false });
  await writeFile(join(bad.releaseDir, MANIFEST_NAME), '{"truncated": ');
  event = arrived();
  await activateRelease(sitePaths(config.dataDir, 'blog'), bad.id);
  assert.deepEqual(await event, { site: 'blog', release: bad.id, ok: false });
  assert.equal(await linkTarget(currentLink), bad.id);
  assert.equal((await get(server.listeners.httpPort as number, '/')).body.toString(), 'good');
});

test('stopping the deployer while it waits for the workers cancels the deploy and puts the previous release back', { timeout: 30_000 }, async (t) => {
  const { config, store, repo, logger, currentLink } = await setup(t);
  const first = await deployWith(createDeployer(config, store, logger), store);
  await repo.commit({ 'index.html': '<p>two</p>' });
  let asked!: () => void;
  const waiting = new Promise<void>((resolve) => (asked = resolve));
  // Workers that never answer (gone with a stopping server): only the stop may end the wait.
  const deployer = createDeployer(config, store, logger, {
    confirmServed: () => {
      asked();
      return new Promise<void>(() => undefined);
    },
  });
  const record = deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
  await waiting;
  await deployer.stop();
  const stopped = store.getDeploy(record.id);
  assert.equal(stopped?.state, 'cancelled');
  assert.equal(stopped.errorCode, 'E_RELEASE_NOT_SERVED');
  assert.match(stopped.errorMessage ?? '', /cancelled before the serving workers answered/);
  assert.equal(await linkTarget(currentLink), first.releaseId);
});
