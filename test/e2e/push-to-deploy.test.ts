import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { objectPath } from '../../src/releases/object-path.ts';
import { request } from 'node:http';
import { chmod, mkdir, readFile, readdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { startControlPlane, type ControlPlane } from '../../src/deploy/control-plane.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startServer, type RunningServer } from '../../src/app/start-server.ts';
import { createRepo, git, type TestRepo } from '../helpers/git.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { eventually, get } from '../helpers/server.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { tempDir } from '../helpers/temp.ts';

const SECRET = 'push-secret-for-tests';

interface Stack {
  root: string;
  repo: TestRepo;
  control: ControlPlane;
  server: RunningServer;
  port: number;
  logs: Array<Record<string, unknown>>;
}

async function stack(t: TestContext, files: Record<string, string>, extra = ''): Promise<Stack> {
  const root = await tempDir(t, 'berth-e2e-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), files);
  await writeFile(
    join(root, 'berth.toml'),
    deployConfig({
      repo: repo.bare,
      buildUidBase: uniqueBuildUidBase(),
      more: ['branch = "main"', extra, '[sites.webhook]', 'forge = "generic"', 'secret = "${HOOK_SECRET}"'],
    }),
  );
  const config = await loadConfig(join(root, 'berth.toml'), { HOOK_SECRET: SECRET });
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'info', destination: sink });
  const control = await startControlPlane(config, logger);
  const server = await startServer(config, logger, { pushSink: async (event) => control.deployer.receivePush(event) });
  await server.ready;
  t.after(async () => {
    await server.stop();
    await control.stop();
  });
  return { root, repo, control, server, port: server.listeners.httpPort as number, logs };
}

function hook(port: number, body: string, headers: Record<string, string> = {}, site = 'blog'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: `/_berth/hooks/${site}`, headers: { host: 'localhost', 'content-type': 'application/json', ...headers }, agent: false },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function signed(payload: object, secret = SECRET): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(payload);
  return { body, headers: { 'x-berth-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } };
}

/** Pushes the branch's tip through the webhook and waits for the deploy to end. */
async function deployPush(s: Stack, delivery: string): Promise<DeployRecord> {
  const sha = git(s.repo.work, 'rev-parse', 'HEAD');
  const push = signed({ ref: 'refs/heads/main', sha, delivery });
  const queued = await hook(s.port, push.body, push.headers);
  assert.equal(queued.status, 202, JSON.stringify(queued.body));
  await s.control.deployer.idle();
  const record = s.control.store.getDeploy(String(queued.body.deploy));
  assert.ok(record !== undefined);
  return record;
}

async function page(port: number): Promise<string> {
  return (await get(port, '/')).body.toString();
}

test('a signed push deploys that exact commit, and a replay does not', async (t) => {
  const s = await stack(t, { 'index.html': '<h1>first</h1>' });
  const sha = await s.repo.commit({ 'index.html': '<h1>second</h1>' });
  const push = signed({ ref: 'refs/heads/main', sha, delivery: 'd-1' });
  const first = await hook(s.port, push.body, push.headers);
  assert.equal(first.status, 202);
  assert.equal(first.body.status, 'queued');
  await s.control.deployer.idle();
  assert.equal(await page(s.port), '<h1>second</h1>');
  const record = s.control.store.getDeploy(String(first.body.deploy));
  assert.equal(record?.state, 'live');
  assert.equal(record?.sha, sha);
  assert.equal(record?.trigger, 'webhook');
  assert.ok(record?.releaseId);
  assert.equal(record?.buildSource, 'static files');

  const replay = await hook(s.port, push.body, push.headers);
  assert.equal(replay.status, 200);
  assert.equal(replay.body.status, 'duplicate');
  assert.equal(s.control.store.listDeploys({ site: 'blog' }).length, 1, 'no second deploy');
});

test('bad signatures, other branches and unknown sites trigger nothing', async (t) => {
  const s = await stack(t, { 'index.html': 'one' });
  const sha = await s.repo.commit({ 'index.html': 'two' });
  const good = signed({ ref: 'refs/heads/main', sha, delivery: 'x' });
  assert.equal((await hook(s.port, good.body, { 'x-berth-signature': 'sha256=' + '0'.repeat(64) })).status, 401);
  assert.equal((await hook(s.port, good.body, {})).status, 401);
  assert.equal((await hook(s.port, good.body, signed({ other: true }).headers)).status, 401, 'a signature of another body');
  const other = signed({ ref: 'refs/heads/feature', sha, delivery: 'y' });
  const ignored = await hook(s.port, other.body, other.headers);
  assert.equal(ignored.status, 202);
  assert.equal(ignored.body.status, 'ignored');
  assert.equal((await hook(s.port, good.body, good.headers, 'nope')).status, 401, 'an unknown site is answered like a bad signature');
  const malformed = '{"ref": ';
  const bad = await hook(s.port, malformed, { 'x-berth-signature': `sha256=${createHmac('sha256', SECRET).update(malformed).digest('hex')}` });
  assert.equal(bad.status, 400);
  assert.doesNotMatch(JSON.stringify(bad.body), new RegExp(SECRET));
  assert.equal(s.control.store.listDeploys({ site: 'blog' }).length, 0);
});

test('a failing build and a missing commit leave the live site as it was', async (t) => {
  const s = await stack(t, { 'index.html': 'good' });
  const ok = signed({ ref: 'refs/heads/main', sha: await s.repo.commit({ 'index.html': 'good two' }), delivery: 'a' });
  await hook(s.port, ok.body, ok.headers);
  await s.control.deployer.idle();
  assert.equal(await page(s.port), 'good two');

  const broken = await s.repo.commit({ 'berth.toml': '[build]\ncommand = "echo building; exit 3"\npublish = "."\n', 'index.html': 'never' });
  const fail = signed({ ref: 'refs/heads/main', sha: broken, delivery: 'b' });
  const queued = await hook(s.port, fail.body, fail.headers);
  await s.control.deployer.idle();
  const failed = s.control.store.getDeploy(String(queued.body.deploy));
  assert.equal(failed?.state, 'failed');
  assert.equal(failed?.errorCode, 'E_BUILD_FAILED');
  assert.equal(await page(s.port), 'good two');

  const missing = signed({ ref: 'refs/heads/main', sha: 'f'.repeat(40), delivery: 'c' });
  const gone = await hook(s.port, missing.body, missing.headers);
  await s.control.deployer.idle();
  // The branch is fetched, not the commit: one that is not on it deploys nothing.
  assert.equal(s.control.store.getDeploy(String(gone.body.deploy))?.errorCode, 'E_PUSH_NOT_ON_BRANCH');
  assert.equal(await page(s.port), 'good two');
  const work = await readdir(join(s.root, 'data', 'sites', 'blog', 'work')).catch(() => []);
  assert.deepEqual(work, [], 'work directories are removed');
});

test('a build from the repository berth.toml is published from its output directory', async (t) => {
  const s = await stack(t, {
    'src/index.html': '<p>built</p>',
    'berth.toml': '[build]\ncommand = "mkdir -p out && cp src/index.html out/index.html && echo done"\npublish = "out"\n',
  });
  const sha = await s.repo.commit({ 'src/index.html': '<p>built again</p>' });
  const push = signed({ ref: 'refs/heads/main', sha, delivery: 'z' });
  const queued = await hook(s.port, push.body, push.headers);
  await s.control.deployer.idle();
  const record = s.control.store.getDeploy(String(queued.body.deploy));
  assert.equal(record?.state, 'live', record?.errorMessage);
  assert.equal(record?.buildSource, 'berth.toml');
  assert.equal(await page(s.port), '<p>built again</p>');
  // A site with a build command is checked out, and built there.
  const log = await readFile(deployLogPath(join(s.root, 'data'), String(record?.id)), 'utf8');
  assert.match(log, new RegExp(`checked out ${sha}`));
  assert.doesNotMatch(log, /no build: read/);
  assert.ok(await eventually(async () => s.logs.some((line) => line.msg === 'deploy live')));
});

test('a push to a site with no build is published from the commit, reading only the files it changed', async (t) => {
  const files: Record<string, string> = { 'index.html': '<p>home</p>' };
  for (let i = 0; i < 1000; i++) files[`pages/p${i}.html`] = `<p>page ${i}</p>`;
  const s = await stack(t, files);
  const first = await deployPush(s, 'a');
  assert.equal(first.state, 'live', first.errorMessage);
  const changed: Record<string, string> = { 'index.html': '<p>home, again</p>' };
  for (let i = 0; i < 9; i++) changed[`pages/p${i * 100}.html`] = `<p>page ${i * 100}, edited</p>`;
  await s.repo.commit(changed);
  const second = await deployPush(s, 'b');
  assert.equal(second.state, 'live', second.errorMessage);
  const log = await readFile(deployLogPath(join(s.root, 'data'), second.id), 'utf8');
  assert.match(log, /fetched [0-9a-f]{40}/);
  assert.doesNotMatch(log, /checked out/, 'nothing was checked out');
  assert.match(log, /no build: read 10 changed of 1001 files from git/);
  // The server loads the release as it sees the current link move.
  assert.ok(await eventually(async () => (await page(s.port)) === '<p>home, again</p>'), 'the new release is served');
  assert.equal((await get(s.port, '/pages/p100.html')).body.toString(), '<p>page 100, edited</p>');
  assert.equal((await get(s.port, '/pages/p101.html')).body.toString(), '<p>page 101</p>');
  // Last-Modified is the commit's time, for changed and unchanged files alike.
  const committed = Number(git(s.repo.work, 'show', '--no-patch', '--format=%ct', 'HEAD')) * 1000;
  assert.equal(Date.parse(String((await get(s.port, '/pages/p101.html')).headers['last-modified'])), committed);
  assert.deepEqual(await readdir(join(s.root, 'data', 'sites', 'blog', 'work')).catch(() => []), [], 'no work directory was made');
});

test('a burst of pushes builds at most two commits and ends on the newest', async (t) => {
  // Every push deploys the branch's tip: the first builds v5, and the last, if it runs, finds v5 live already.
  const s = await stack(t, { 'index.html': 'v0', 'berth.toml': '[build]\ncommand = "sleep 0.3"\npublish = "."\n' });
  const shas: string[] = [];
  for (let i = 1; i <= 5; i++) shas.push(await s.repo.commit({ 'index.html': `v${i}` }));
  for (const [i, sha] of shas.entries()) {
    const push = signed({ ref: 'refs/heads/main', sha, delivery: `burst-${i}` });
    assert.equal((await hook(s.port, push.body, push.headers)).status, 202);
  }
  await s.control.deployer.idle();
  const all = s.control.store.listDeploys({ site: 'blog' });
  const built = all.filter((d) => d.state === 'live' || d.state === 'failed');
  assert.ok(built.length <= 2, `built ${built.length}`);
  assert.equal(all.filter((d) => d.state === 'superseded' || d.state === 'skipped').length, 5 - built.length);
  assert.equal(await page(s.port), 'v5');
});

test('an unreachable repository and a missing publish directory fail clearly', async (t) => {
  const s = await stack(t, { 'index.html': 'live one' });
  const ok = signed({ ref: 'refs/heads/main', sha: await s.repo.commit({ 'index.html': 'live two' }), delivery: 'ok' });
  await hook(s.port, ok.body, ok.headers);
  await s.control.deployer.idle();
  assert.equal(await page(s.port), 'live two');

  const noOutput = await s.repo.commit({ 'berth.toml': '[build]\ncommand = "true"\npublish = "dist"\n' });
  const push = signed({ ref: 'refs/heads/main', sha: noOutput, delivery: 'no-output' });
  const queued = await hook(s.port, push.body, push.headers);
  await s.control.deployer.idle();
  const failed = s.control.store.getDeploy(String(queued.body.deploy));
  assert.equal(failed?.state, 'failed');
  assert.match(String(failed?.errorCode), /^E_(PUBLISH_SOURCE|BUILD_CONFIG)$/);
  assert.match(String(failed?.errorMessage), /dist/);
  assert.equal(await page(s.port), 'live two');

  const { rename } = await import('node:fs/promises');
  await rename(s.repo.bare, `${s.repo.bare}.moved`);
  const later = signed({ ref: 'refs/heads/main', sha: 'a'.repeat(40), delivery: 'unreachable' });
  const lost = await hook(s.port, later.body, later.headers);
  await s.control.deployer.idle();
  const unreachable = s.control.store.getDeploy(String(lost.body.deploy));
  assert.equal(unreachable?.errorCode, 'E_GIT_FETCH');
  assert.equal(await page(s.port), 'live two');
});

test('a build cannot change the live release or anything outside its checkout it does not own', async (t) => {
  const s = await stack(t, { 'index.html': 'safe' });
  const first = signed({ ref: 'refs/heads/main', sha: await s.repo.commit({ 'index.html': 'safe two' }), delivery: 'first' });
  await hook(s.port, first.body, first.headers);
  await s.control.deployer.idle();
  const current = join(s.root, 'data', 'sites', 'blog', 'current');
  // The release live while the hostile build runs: after the deploy `current` names the new one.
  const liveRelease = await realpath(current);
  const objects = join(s.root, 'data', 'sites', 'blog', 'objects');
  const liveObject = objectPath(objects, createHash('sha256').update('safe two').digest('hex'));
  const hostile = await s.repo.commit({
    'berth.toml': `[build]\ncommand = "id -u > build-uid.txt; echo hacked > ${join(current, 'index.html')}; echo hacked > ${liveObject}; echo hacked > ${join(s.root, 'data', 'state.db')}; echo built"\npublish = "."\n`,
    'index.html': 'the new one',
  });
  const push = signed({ ref: 'refs/heads/main', sha: hostile, delivery: 'hostile' });
  const queued = await hook(s.port, push.body, push.headers);
  await s.control.deployer.idle();
  assert.equal(s.control.store.getDeploy(String(queued.body.deploy))?.state, 'live', 'the deploy itself succeeded');
  const buildUid = (await get(s.port, '/build-uid.txt')).body.toString().trim();
  assert.match(buildUid, /^\d+$/, 'the build recorded its uid');
  assert.notEqual(buildUid, '0', "the build did not run as Berth's user (root)");
  assert.equal(await readFile(liveObject, 'utf8'), 'safe two', 'the live release\'s content was not written by the build');
  assert.deepEqual((await readdir(liveRelease)).filter((name) => !name.startsWith('.')), [], 'the build added nothing to the live release');
  assert.ok(s.control.store.listDeploys({ site: 'blog' }).length >= 2, 'the state database still works');
  assert.equal(await page(s.port), 'the new one');
});

test('a data dir the build user cannot enter fails the build with a clear fix', async (t) => {
  const s = await stack(t, { 'index.html': 'x', 'berth.toml': '[build]\ncommand = "true"\npublish = "."\n' });
  await chmod(s.root, 0o700);
  const push = signed({ ref: 'refs/heads/main', sha: await s.repo.commit({ 'index.html': 'y' }), delivery: 'private' });
  const queued = await hook(s.port, push.body, push.headers);
  await s.control.deployer.idle();
  const record = s.control.store.getDeploy(String(queued.body.deploy));
  assert.equal(record?.errorCode, 'E_BUILD_CONFIG');
  assert.match(String(record?.errorMessage), new RegExp(`cannot enter ${s.root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(mode 700\\); allow it with \`chmod o\\+x`));
});
