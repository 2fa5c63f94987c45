import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { chmod, chown, lstat, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { createFileStorage } from '../../src/acme/certificate-storage.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { nodeModulesKey, restoreNodeModules } from '../../src/deploy/build-cache.ts';
import { buildUids } from '../../src/deploy/build-user.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startServer } from '../../src/app/start-server.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { writeFileAtomic } from '../../src/tls/atomic-write.ts';
import { createRepo, type TestRepo } from '../helpers/git.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { get } from '../helpers/server.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const SECRET = 'b-webhook-secret-5a1f0c9e7d2b4e68';
const KEY_MARKER = 'PRIVATE-KEY-OF-B-3c9d';
const ACME_MARKER = 'ACME-ACCOUNT-KEY-77e1';
const BASE = uniqueBuildUidBase();
const UIDS = buildUids(['a', 'b'], BASE);

/** Site b: node_modules made by its build unless restored from the cache, and served from there. */
const B_BUILD = [
  'if [ ! -d node_modules/lib ]; then mkdir -p node_modules/lib && echo "clean-b" > node_modules/lib/script.js; fi',
  'mkdir -p dist && cp node_modules/lib/script.js dist/script.js && echo "<h1>b</h1>" > dist/index.html && id -u > dist/uid.txt',
  'echo "serving script: $(cat dist/script.js)"',
].join('\n');

interface TwoSites {
  root: string;
  data: string;
  config: string;
  a: TestRepo;
  b: TestRepo;
}

/**
 * Two sites on one data directory that an older Berth left readable (0755,
 * state.db 0644), with b's webhook secret, a certificate key and an ACME
 * account key stored as Berth stores them.
 */
async function twoSites(t: TestContext): Promise<TwoSites> {
  const root = await tempDir(t, 'berth-iso-');
  // Builds must be able to enter the directories above the data dir.
  await chmod(root, 0o755);
  const data = join(root, 'data');
  await mkdir(data, { mode: 0o755 });
  await chmod(data, 0o755);
  openStateStore(data).close();
  // As an older Berth left it: readable by all (Berth now creates it 0600).
  await chmod(join(data, 'state.db'), 0o644);
  await createFileStorage(data).save('b.test', { key: `-----BEGIN PRIVATE KEY-----\n${KEY_MARKER}\n`, cert: '-----BEGIN CERTIFICATE-----\nx\n' });
  await writeFileAtomic(join(data, 'acme', 'directory', 'account.key.pem'), `${ACME_MARKER}\n`);
  await writeFileAtomic(join(root, 'secrets', 'b-webhook-secret'), `${SECRET}\n`);
  await mkdir(join(root, 'git', 'a'), { recursive: true });
  await mkdir(join(root, 'git', 'b'), { recursive: true });
  const a = await createRepo(join(root, 'git', 'a'), { 'index.html': 'a' });
  const b = await createRepo(join(root, 'git', 'b'), { 'build.sh': B_BUILD, 'package-lock.json': '{"lockfileVersion":3}\n' });
  const config = join(root, 'berth.toml');
  await writeFileAtomic(
    config,
    deployConfig({
      site: 'a',
      domains: ['a.test'],
      repo: a.bare,
      buildUidBase: BASE,
      more: [
        '[sites.build]',
        'command = "sh attack.sh"',
        'publish = "dist"',
        '[[sites]]',
        'name = "b"',
        'domains = ["b.test"]',
        `repo = ${JSON.stringify(b.bare)}`,
        '[sites.build]',
        'command = "sh build.sh"',
        'publish = "dist"',
        '[sites.webhook]',
        'forge = "github"',
        'secret_file = "secrets/b-webhook-secret"',
      ],
    }),
    0o600,
  );
  return { root, data, config, a, b };
}

function deploy(p: TwoSites, site: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, 'deploy', '--site', site, '--config', p.config], {
    cwd: p.root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Build output lines from a deploy's log (`out| …`). */
function buildOutput(stderr: string): string[] {
  return stderr.split('\n').flatMap((line) => (line.includes('out| ') ? [line.slice(line.indexOf('out| ') + 5)] : []));
}

describe('site isolation', () => {
  it('keeps one site\'s build out of every other site\'s files and Berth\'s secrets', async (t) => {
    const p = await twoSites(t);
    const first = deploy(p, 'b');
    assert.equal(first.status, 0, first.stderr);
    const bCache = join(p.data, 'sites', 'b', 'cache', 'node_modules');
    const [key] = await readdir(bCache);
    assert.ok(key !== undefined, 'b\'s node_modules is cached');
    const bScript = join(bCache, key, 'lib', 'script.js');
    assert.equal(await readFile(bScript, 'utf8'), 'clean-b\n');
    // A work directory of b's, as one exists while b builds, with a file anyone could read if they got there.
    const bWork = join(p.data, 'sites', 'b', 'work', 'in-progress');
    await writeTree(bWork, { 'checkout.txt': 'b-work-file-0d4e' });
    await chmod(bWork, 0o755);
    await chown(bWork, UIDS.get('b') ?? 0, UIDS.get('b') ?? 0);

    // Site a's build tries to read and change what is b's or Berth's, and prints what happened.
    const targets: Record<string, string> = {
      'list b': `ls ${join(p.data, 'sites', 'b')}`,
      'list b work': `ls ${join(p.data, 'sites', 'b', 'work')}`,
      'read b work file': `cat ${join(bWork, 'checkout.txt')}`,
      'read b cache': `cat ${bScript}`,
      'read b source.git': `cat ${join(p.data, 'sites', 'b', 'source.git', 'config')}`,
      'read state.db': `cat ${join(p.data, 'state.db')}`,
      'read webhook secret': `cat ${join(p.root, 'secrets', 'b-webhook-secret')}`,
      'read berth.toml': `cat ${p.config}`,
      'read certificate key': `cat ${join(p.data, 'certs', 'b.test', 'key.pem')}`,
      'read acme key': `cat ${join(p.data, 'acme', 'directory', 'account.key.pem')}`,
      'poison b cache': `sh -c 'echo "alert(1)" > ${bScript}'`,
      'plant b cache entry': `mkdir ${join(bCache, 'planted')}`,
      'list data dir': `ls ${p.data}`,
    };
    const attack = [
      'mkdir -p dist && echo "<h1>a</h1>" > dist/index.html && id -u > dist/uid.txt',
      ...Object.entries(targets).map(([label, command]) => `if out=$(${command} 2>&1); then echo "${label}: READ $out"; else echo "${label}: FAILED $out"; fi`),
    ].join('\n');
    await p.a.commit({ 'attack.sh': attack });
    const attacked = deploy(p, 'a');
    assert.equal(attacked.status, 0, attacked.stderr);
    const report = buildOutput(attacked.stderr);
    for (const label of Object.keys(targets)) {
      const line = report.find((candidate) => candidate.startsWith(`${label}: `));
      assert.ok(line !== undefined, `${label} was tried: ${report.join('\n')}`);
      assert.match(line, /: FAILED .*Permission denied/, line);
    }
    for (const secret of [SECRET, KEY_MARKER, ACME_MARKER, 'clean-b', 'b-work-file-0d4e', 'SQLite format']) {
      assert.ok(!attacked.stderr.includes(secret), `${secret} leaked into a's build`);
    }
    assert.equal(await readFile(bScript, 'utf8'), 'clean-b\n');
    assert.deepEqual(await readdir(bCache), [key]);

    // b builds again from its own cache and serves no script of a's.
    await p.b.commit({ 'index.txt': 'second' });
    const second = deploy(p, 'b');
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stderr, /restored node_modules from the cache/);

    const config = await loadConfig(p.config, {});
    const server = await startServer(config, createLogger({ level: 'silent', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) }));
    onCleanup(t, () => server.stop());
    await server.ready;
    const port = server.listeners.httpPort as number;
    assert.equal((await get(port, '/script.js', { host: 'b.test' })).body.toString(), 'clean-b\n');
    const uidA = (await get(port, '/uid.txt', { host: 'a.test' })).body.toString().trim();
    const uidB = (await get(port, '/uid.txt', { host: 'b.test' })).body.toString().trim();
    assert.equal(uidA, String(UIDS.get('a')));
    assert.equal(uidB, String(UIDS.get('b')));
    assert.notEqual(uidA, uidB);
    assert.ok(uidA !== '0' && uidB !== '0');
    assert.match(attacked.stderr, new RegExp(`building as uid ${uidA} and gid ${uidA}, this site's own`));
  });

  it('makes the data directory, state.db and site directories private, says what it changed, and drops caches other uids wrote', async (t) => {
    const p = await twoSites(t);
    assert.equal((await stat(join(p.data, 'state.db'))).mode & 0o777, 0o644, 'the old mode, before a deploy');
    // A cache as an older Berth left it: every site's build ran as one user, who owned (and could poison) every cache.
    const probe = join(p.root, 'probe');
    await writeTree(probe, { 'package-lock.json': '{"lockfileVersion":3}\n' });
    const key = await nodeModulesKey(probe);
    const oldCache = join(p.data, 'sites', 'b', 'cache');
    await writeTree(join(oldCache, 'node_modules', key ?? 'none'), { 'lib/script.js': 'old-poison' });
    await writeTree(join(oldCache, 'home'), { '.npmrc': 'registry=http://attacker.invalid/' });
    spawnSync('chown', ['-R', '65534:65534', join(p.data, 'sites')]);
    const result = deploy(p, 'b');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /made \d+ paths under data_dir private: \S+\/data \(mode 755 -> 711\), .*sites\/b \(owner 65534:65534 -> 0:\d+\)/);
    assert.match(result.stderr, /cache: discarded cache\/node_modules: it did not belong to this site's build user/);
    assert.match(result.stderr, /cache: discarded cache\/home: it did not belong to this site's build user/);
    assert.match(result.stderr, /out\| serving script: clean-b/);
    assert.ok(!result.stderr.includes('old-poison'), result.stderr);
    const mode = async (...path: string[]): Promise<number> => (await stat(join(p.data, ...path))).mode & 0o7777;
    assert.equal(await mode(), 0o711);
    assert.equal(await mode('state.db'), 0o600);
    for (const name of await readdir(p.data)) {
      if (name === 'sites') continue;
      const info = await lstat(join(p.data, name));
      assert.equal(info.mode & 0o077, 0, `${name} is ${(info.mode & 0o777).toString(8)}`);
    }
    assert.equal(await mode('sites'), 0o711);
    const site = await stat(join(p.data, 'sites', 'b'));
    assert.equal(site.mode & 0o7777, 0o710);
    assert.equal(site.uid, 0);
    assert.equal(site.gid, UIDS.get('b'));
    for (const name of ['work', 'cache']) assert.equal(await mode('sites', 'b', name), 0o710);
    for (const name of ['source.git', 'releases']) assert.equal(await mode('sites', 'b', name), 0o700);
    for (const name of ['home', 'npm', 'tmp']) {
      const info = await stat(join(p.data, 'sites', 'b', 'cache', name));
      assert.deepEqual([info.uid, info.gid, info.mode & 0o7777], [UIDS.get('b'), UIDS.get('b'), 0o700], name);
    }
    for (const name of ['node_modules', 'dirs']) {
      const info = await stat(join(p.data, 'sites', 'b', 'cache', name));
      assert.deepEqual([info.uid, info.mode & 0o7777], [0, 0o700], name);
    }
    const logs = await readdir(join(p.data, 'logs', 'deploys'));
    assert.equal((await stat(join(p.data, 'logs', 'deploys', logs[0] ?? ''))).mode & 0o777, 0o600, 'files Berth writes are its own');
  });

  it('discards a cached node_modules another uid wrote instead of restoring it', async (t) => {
    const root = await tempDir(t, 'berth-iso-cache-');
    const work = join(root, 'work');
    const cache = join(root, 'cache');
    await writeTree(work, { 'package-lock.json': '{"lockfileVersion":3}\n' });
    const lines: string[] = [];
    const probe = await restoreNodeModules(work, cache, (line) => lines.push(line), 4242);
    assert.ok(probe.key !== undefined);
    await writeTree(join(cache, 'node_modules', probe.key), { 'lib/script.js': 'alert("planted")' });
    await writeTree(join(cache, 'dirs', '.cache'), { 'x.json': 'planted' });
    await chown(join(cache, 'node_modules', probe.key), 4343, 4343);
    await chown(join(cache, 'dirs', '.cache'), 4343, 4343);

    const restored = await restoreNodeModules(work, cache, (line) => lines.push(line), 4242);
    assert.equal(restored.hit, false);
    assert.deepEqual(await readdir(work), ['package-lock.json']);
    assert.deepEqual(await readdir(join(cache, 'node_modules')), []);
    assert.deepEqual(await readdir(join(cache, 'dirs')), []);
    assert.ok(lines.some((line) => /discarded the cached node_modules .*written by uid 4343, not by this site's build \(uid 4242\)/.test(line)), lines.join('\n'));

    await writeTree(join(cache, 'node_modules', probe.key), { 'lib/script.js': 'own' });
    await chown(join(cache, 'node_modules', probe.key), 4242, 4242);
    assert.equal((await restoreNodeModules(work, cache, () => undefined, 4242)).hit, true);
    assert.equal(await readFile(join(work, 'node_modules', 'lib', 'script.js'), 'utf8'), 'own');
  });

  it('makes an old data directory private when the server starts, and logs what it changed', { timeout: 120_000 }, async (t) => {
    const p = await twoSites(t);
    await mkdir(join(p.data, 'sites', 'b', 'releases'), { recursive: true, mode: 0o755 });
    await chmod(join(p.data, 'sites', 'b'), 0o755);
    const child = spawn(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '' } });
    t.after(() => child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    const lines: Array<Record<string, unknown>> = [];
    // The control plane fixes the data dir as it starts, which may be after the workers listen (they listen first).
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (entry.msg === 'made paths under data_dir private') resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${JSON.stringify(lines)}`)));
    });
    const made = lines.find((line) => line.msg === 'made paths under data_dir private');
    assert.ok(made !== undefined, JSON.stringify(lines));
    const fixed = made.fixed as Array<{ path: string; change: string }>;
    assert.ok(fixed.some((fix) => fix.path === join(p.data, 'state.db') && fix.change === 'mode 644 -> 600'), JSON.stringify(fixed));
    assert.equal((await stat(join(p.data, 'state.db'))).mode & 0o777, 0o600);
    assert.equal((await stat(p.data)).mode & 0o777, 0o711);
    const site = await stat(join(p.data, 'sites', 'b'));
    assert.deepEqual([site.gid, site.mode & 0o777], [UIDS.get('b'), 0o710]);
    assert.equal((await stat(join(p.data, 'sites', 'b', 'releases'))).mode & 0o777, 0o700);
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  /** A site whose build writes its uid, on a data dir of an ordinary user (nobody), with `deploy` lines in the config. */
  async function unprivilegedSite(t: TestContext, deploy: string[]): Promise<{ root: string; user: number; deploy(): ReturnType<typeof spawnSync> }> {
    const root = await tempDir(t, 'berth-iso-user-');
    await chmod(root, 0o755);
    await mkdir(join(root, 'git'));
    const repo = await createRepo(join(root, 'git'), { 'index.html': 'x' });
    await mkdir(join(root, 'data'));
    await writeFile(
      join(root, 'berth.toml'),
      `data_dir = "data"\n[acme]\ndirectory = "off"\n[deploy]\n${deploy.join('\n')}\n[[sites]]\nname = "s"\ndomains = ["s.test"]\nrepo = ${JSON.stringify(repo.bare)}\n[sites.build]\ncommand = "mkdir -p dist && id -u > dist/index.html"\npublish = "dist"\n`,
    );
    // Berth as an ordinary user: it owns its config, data dir and repository.
    const user = 65534;
    for (const path of [join(root, 'berth.toml'), join(root, 'data'), join(root, 'git')]) spawnSync('chown', ['-R', `${user}:${user}`, path]);
    return {
      root,
      user,
      deploy: () =>
        spawnSync(process.execPath, [cli, 'deploy', '--config', join(root, 'berth.toml')], {
          cwd: root,
          encoding: 'utf8',
          env: { PATH: process.env.PATH ?? '', HOME: join(root, 'data') },
          uid: user,
          gid: user,
        }),
    };
  }

  it('refuses to build when Berth is not root and has no root parent, with E_BUILD_UNISOLATED and why in the deploy log', async (t) => {
    const site = await unprivilegedSite(t, []);
    const result = site.deploy();
    assert.equal(result.status, 1, String(result.stderr));
    assert.match(String(result.stderr), /not building: The build was not run: Berth is not root and has no root parent/);
    assert.match(String(result.stderr), /allow_unisolated_builds = true/);
    assert.match(String(result.stderr), /\[E_BUILD_UNISOLATED\]/);
    const releases = await readdir(join(site.root, 'data', 'sites', 's', 'releases')).catch(() => []);
    assert.deepEqual(releases, []);
  });

  it('builds as Berth\'s own user with allow_unisolated_builds, says the build is not isolated, and keeps the data dir 0700', async (t) => {
    const site = await unprivilegedSite(t, ['allow_unisolated_builds = true']);
    const { root, user } = site;
    const result = site.deploy();
    assert.equal(result.status, 0, String(result.stderr));
    assert.match(String(result.stderr), /building as Berth's own user, not isolated from Berth or from other sites: Berth is not root and has no root parent, and \[deploy\] allow_unisolated_builds = true allows it/);
    const mode = async (...path: string[]): Promise<number> => (await stat(join(root, 'data', ...path))).mode & 0o777;
    assert.equal(await mode(), 0o700);
    assert.equal(await mode('state.db'), 0o600);
    assert.equal(await mode('sites'), 0o700);
    assert.equal(await mode('sites', 's'), 0o700);
    const home = await stat(join(root, 'data', 'sites', 's', 'cache', 'home'));
    assert.deepEqual([home.uid, home.mode & 0o777], [user, 0o700]);
    const releases = await readdir(join(root, 'data', 'sites', 's', 'releases'));
    assert.equal(releases.length, 1);
  });
});
