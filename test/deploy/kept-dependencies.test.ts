import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { startServer } from '../../src/app/start-server.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { nodeModulesKey } from '../../src/deploy/build-cache.ts';
import { startControlPlane } from '../../src/deploy/control-plane.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { runDeploy } from '../../src/deploy/run-deploy.ts';
import { createLogger } from '../../src/log/logger.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo, type TestRepo } from '../helpers/git.ts';
import { goodBuild, INSTALL_MARKER, npmSiteFiles } from '../helpers/npm-site.ts';
import { get } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const SECRET = 'kept-dependencies-hook-secret';
/** A plain install in front of the build, as docs/building.md shows it: Berth runs it as a step of its own. */
const COMMAND = 'npm ci && npm run build';

/** build.js for a build that fails once the install is done. */
const FAILING_BUILD = "console.log('BUILD-BROKEN'); process.exit(3);\n";

interface Site {
  root: string;
  repo: TestRepo;
  file: string;
  config: ResolvedConfig;
  cacheDir: string;
}

/** A repository of `files` and a config that builds it with `command` as the site's own uid. */
async function site(t: TestContext, files: Record<string, string>, command = COMMAND, extra: string[] = []): Promise<Site> {
  const root = await tempDir(t, 'berth-kept-');
  // Builds run as the site's uid, which must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), files);
  const file = join(root, 'berth.toml');
  await writeFile(
    file,
    deployConfig({
      repo: repo.bare,
      buildUidBase: uniqueBuildUidBase(),
      more: ['branch = "main"', '[sites.build]', `command = ${JSON.stringify(command)}`, 'publish = "dist"', ...extra],
    }),
  );
  const config = await loadConfig(file, { HOOK_SECRET: SECRET });
  return { root, repo, file, config, cacheDir: join(config.dataDir, 'sites', 'blog', 'cache') };
}

/** One deploy of the branch's tip through the whole pipeline; the record and the deploy's log. */
async function deploy(s: Site, signal?: AbortSignal, echo?: (line: string) => void): Promise<{ record: DeployRecord; log: string }> {
  const store = openStateStore(s.config.dataDir);
  try {
    const logger = createLogger({ level: 'error', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    const created = store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
    const record = await runDeploy({ config: s.config, store, logger, echo }, created, signal);
    return { record, log: await readFile(deployLogPath(s.config.dataDir, record.id), 'utf8') };
  } finally {
    store.close();
  }
}

/** The cached node_modules trees of the site, by key. */
async function cachedTrees(s: Site): Promise<string[]> {
  return readdir(join(s.cacheDir, 'node_modules')).catch(() => []);
}

/** The node_modules cache key of `files` as committed. */
async function keyOf(t: TestContext, files: Record<string, string>): Promise<string> {
  const dir = await tempDir(t, 'berth-key-');
  await writeTree(dir, files);
  const key = await nodeModulesKey(dir);
  assert.ok(key !== undefined);
  return key;
}

function post(port: number, body: string): Promise<number> {
  const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: '/_berth/hooks/blog', agent: false, headers: { host: 'localhost', 'content-type': 'application/json', 'x-berth-signature': signature } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('dependencies kept when only the build fails', () => {
  it('keeps node_modules from a good install when the build then fails, and the next push with a fixed build does not install', async (t) => {
    const one = npmSiteFiles({ deps: ['alpha'], build: goodBuild('one', ['alpha']) });
    const s = await site(t, one, COMMAND, ['[sites.webhook]', 'forge = "generic"', 'secret = "${HOOK_SECRET}"']);
    const logger = createLogger({ level: 'error', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    const control = await startControlPlane(s.config, logger);
    const server = await startServer(s.config, logger, { pushSink: async (event) => control.deployer.receivePush(event) });
    await server.ready;
    onCleanup(t, async () => {
      await server.stop();
      await control.stop();
    });
    const port = server.listeners.httpPort as number;
    let delivery = 0;
    const push = async (files: Record<string, string>): Promise<{ record: DeployRecord; log: string }> => {
      const sha = await s.repo.commit(files);
      assert.equal(await post(port, JSON.stringify({ ref: 'refs/heads/main', sha, delivery: `d-${++delivery}` })), 202);
      await control.deployer.idle();
      const [record] = control.store.listDeploys({ site: 'blog', limit: 1 });
      assert.ok(record !== undefined);
      return { record, log: await readFile(deployLogPath(s.config.dataDir, record.id), 'utf8') };
    };

    const first = await push({ 'README.md': 'a site\n' });
    assert.equal(first.record.state, 'live', first.log);
    assert.equal((await get(port, '/')).body.toString(), '<h1>one alpha</h1>');

    // A new dependency (a new lockfile, so a cache miss) and a build that fails after the install.
    const broken = npmSiteFiles({ deps: ['alpha', 'beta'], build: FAILING_BUILD });
    const second = await push(broken);
    assert.equal(second.record.state, 'failed', second.log);
    assert.equal(second.record.errorCode, 'E_BUILD_FAILED');
    assert.match(second.log, /no cached node_modules for this lockfile/);
    assert.match(second.log, /install step: npm ci\n/);
    assert.ok(second.log.includes(INSTALL_MARKER), 'the install ran');
    assert.match(second.log, /install step succeeded; build step: npm run build/);
    assert.match(second.log, /BUILD-BROKEN/);
    const key = await keyOf(t, broken);
    assert.match(second.log, new RegExp(`cache: saved node_modules to the cache \\(key ${key.slice(0, 12)}\\)`));
    assert.match(second.log, /cache: kept node_modules for the next deploy/);
    assert.match(second.log, /the live release is unchanged/);
    assert.equal((await get(port, '/')).body.toString(), '<h1>one alpha</h1>', 'the live site is unchanged');
    assert.ok((await cachedTrees(s)).includes(key));

    // The same lockfile with the build fixed: node_modules comes from the cache and nothing installs.
    const third = await push({ 'build.js': goodBuild('three', ['alpha', 'beta']) });
    assert.equal(third.record.state, 'live', third.log);
    assert.match(third.log, new RegExp(`restored node_modules from the cache \\(key ${key.slice(0, 12)}\\)`));
    assert.match(third.log, /command "npm run build"/);
    assert.doesNotMatch(third.log, /install step:|install step succeeded/);
    assert.ok(!third.log.includes(INSTALL_MARKER), 'no install ran');
    assert.equal((await get(port, '/')).body.toString(), '<h1>three alpha,beta</h1>');
  });

  it('saves nothing when the install itself fails, so the next deploy installs again', async (t) => {
    // npm ci puts the packages in node_modules, then the root package's postinstall fails.
    const files = npmSiteFiles({ deps: ['alpha'], build: goodBuild('one', ['alpha']), postinstall: `echo ${INSTALL_MARKER} && exit 7` });
    const s = await site(t, files);
    const failed = await deploy(s);
    assert.equal(failed.record.state, 'failed', failed.log);
    assert.equal(failed.record.errorCode, 'E_BUILD_FAILED');
    assert.match(failed.log, /install step: npm ci\n/);
    assert.ok(failed.log.includes(INSTALL_MARKER), 'the install ran');
    assert.match(failed.log, /failed \[E_BUILD_FAILED\]: the install step \(npm ci\) exited with code 7/);
    assert.doesNotMatch(failed.log, /install step succeeded/);
    assert.doesNotMatch(failed.log, /saved node_modules|kept node_modules/);
    assert.deepEqual(await cachedTrees(s), []);

    // The postinstall fixed (scripts are not part of the key): still a miss, and the install runs.
    await s.repo.commit(npmSiteFiles({ deps: ['alpha'], build: goodBuild('two', ['alpha']) }));
    const next = await deploy(s);
    assert.equal(next.record.state, 'live', next.log);
    assert.match(next.log, /no cached node_modules for this lockfile/);
    assert.ok(next.log.includes(INSTALL_MARKER), 'the install ran again');
  });

  it('keeps node_modules when the build is cancelled after a good install', async (t) => {
    // A tool's root .cache, half-written when the build is stopped: unlike node_modules, nothing proves it whole.
    const build = "require('node:fs').mkdirSync('.cache/tool', { recursive: true }); console.log('BUILD-STARTED'); setTimeout(() => undefined, 600_000);\n";
    const files = npmSiteFiles({ deps: ['alpha'], build });
    const s = await site(t, files);
    const cancel = new AbortController();
    const { record, log } = await deploy(s, cancel.signal, (line) => {
      if (line.includes('BUILD-STARTED')) cancel.abort('the test cancels it');
    });
    assert.equal(record.state, 'cancelled', log);
    assert.equal(record.errorCode, 'E_BUILD_CANCELLED');
    assert.match(log, /install step succeeded/);
    assert.match(log, /cache: kept node_modules for the next deploy/);
    const key = await keyOf(t, files);
    assert.deepEqual(await cachedTrees(s), [key]);
    assert.equal((await lstat(join(s.cacheDir, 'node_modules', key, '.package-lock.json'))).isFile(), true, 'the tree npm ci made');
    assert.equal((await lstat(join(s.cacheDir, 'node_modules', key, 'alpha'))).isSymbolicLink(), true, 'npm links a file: dependency');
    assert.deepEqual(await readdir(join(s.cacheDir, 'dirs')), [], 'the root .cache of a stopped build is not kept');
  });

  it('does not cache a node_modules the build replaced with a link out of the checkout or a FIFO before failing', async (t) => {
    const outside = await tempDir(t, 'berth-outside-');
    await chmod(outside, 0o755);
    await writeFile(join(outside, 'keep.txt'), 'outside\n');
    const replacements = {
      link: `fs.symlinkSync(${JSON.stringify(outside)}, 'node_modules');`,
      fifo: "require('node:child_process').execFileSync('mkfifo', ['node_modules']);",
    };
    for (const [name, replace] of Object.entries(replacements)) {
      const build = ["const fs = require('node:fs');", "fs.rmSync('node_modules', { recursive: true });", replace, 'process.exit(1);', ''].join('\n');
      const s = await site(t, npmSiteFiles({ deps: ['alpha'], build }));
      const { record, log } = await deploy(s);
      assert.equal(record.state, 'failed', `${name}: ${log}`);
      assert.match(log, /install step succeeded/, name);
      assert.match(log, name === 'link' ? /node_modules is a symbolic link after the build; it is not cached/ : /node_modules is not a directory after the build; it is not cached/, name);
      assert.doesNotMatch(log, /saved node_modules|kept node_modules/, name);
      assert.deepEqual(await cachedTrees(s), [], name);
      assert.deepEqual(await readdir(outside), ['keep.txt'], `${name}: the directory outside is where it was`);
    }
  });

  it('runs a command it cannot split as one, and then keeps node_modules only when it succeeds', async (t) => {
    const files = npmSiteFiles({ deps: ['alpha'], build: FAILING_BUILD });
    // `||` after the install: split in two, the command would no longer mean what it says.
    const whole = await site(t, files, 'npm ci && npm run build || exit 5');
    const unsplit = await deploy(whole);
    assert.equal(unsplit.record.state, 'failed', unsplit.log);
    assert.ok(unsplit.log.includes(INSTALL_MARKER), 'the install ran');
    assert.match(unsplit.log, /the build command exited with code 5/);
    assert.doesNotMatch(unsplit.log, /install step:|install step succeeded|kept node_modules/);
    assert.deepEqual(await cachedTrees(whole), []);

    // The same repository with a plain chain of `&&` after the install: two steps, and the tree is kept.
    const split = await site(t, files, 'npm ci && npm run build && echo built');
    const kept = await deploy(split);
    assert.equal(kept.record.state, 'failed', kept.log);
    assert.match(kept.log, /install step succeeded; build step: npm run build && echo built/);
    assert.match(kept.log, /the build command exited with code 3/);
    assert.deepEqual(await cachedTrees(split), [await keyOf(t, files)]);
  });
});
