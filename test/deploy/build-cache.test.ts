import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { ResolvedSite } from '../../src/config/resolved-config.ts';
import {
  installStep,
  MAX_NODE_MODULES_ENTRIES,
  nodeModulesKey,
  restoreNodeModules,
  saveNodeModules,
} from '../../src/deploy/build-cache.ts';
import { runBuild } from '../../src/deploy/build-runner.ts';
import { resolveBuildSettings } from '../../src/deploy/build-settings.ts';
import { assertNotQuoted, secretFile } from '../helpers/secret-file.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const packageJson = JSON.stringify({ scripts: { build: 'vite build' }, devDependencies: { vite: '^6.0.0' } });
/** Stands in for `npm ci`: no network in tests. */
const fakeInstall = 'mkdir -p node_modules/x node_modules/.bin node_modules/.vite && echo hi > node_modules/x/f && ln -s ../x/f node_modules/.bin/x';

async function checkout(t: TestContext, lockfile = '{"lockfileVersion":3}', extra: Record<string, string> = {}): Promise<string> {
  const dir = await tempDir(t, 'berth-work-');
  await writeTree(dir, { 'package.json': packageJson, 'package-lock.json': lockfile, 'index.html': 'x', ...extra });
  return dir;
}

function logger(): { lines: string[]; log: (line: string) => void } {
  const lines: string[] = [];
  return { lines, log: (line) => lines.push(line) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** One deploy's cache handling, the way the pipeline does it. */
async function deploy(work: string, cacheDir: string, command: string): Promise<{ hit: boolean; lines: string[] }> {
  const { lines, log } = logger();
  const restored = await restoreNodeModules(work, cacheDir, log);
  if (!restored.hit) {
    assert.equal(installStep(work, false), 'npm ci');
    await runBuild({ command, cwd: work, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 10_000, log: () => undefined });
  }
  await saveNodeModules(work, cacheDir, log, restored.key);
  return { hit: restored.hit, lines };
}

describe('node_modules cache', () => {
  it('restores node_modules on the second build with an unchanged lockfile, so no install runs', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    const first = await checkout(t);
    const miss = await deploy(first, cacheDir, fakeInstall);
    assert.equal(miss.hit, false);
    assert.match(miss.lines.join('\n'), /no cached node_modules for this lockfile/);
    assert.match(miss.lines.join('\n'), /saved node_modules to the cache/);
    assert.equal(await exists(join(first, 'node_modules')), false, 'moved out of the work directory');

    const second = await checkout(t);
    const { lines, log } = logger();
    const restored = await restoreNodeModules(second, cacheDir, log);
    assert.equal(restored.hit, true);
    assert.match(lines.join('\n'), /restored node_modules from the cache/);
    assert.equal(await readFile(join(second, 'node_modules/x/f'), 'utf8'), 'hi\n');
    assert.equal(await readlink(join(second, 'node_modules/.bin/x')), '../x/f', 'links stay relative');
    assert.equal(await exists(join(second, 'node_modules/.vite')), true, 'framework caches travel along');
    assert.equal(installStep(second, restored.hit), undefined);

    const site = { name: 'blog', build: { command: undefined, publish: undefined, environment: {}, timeoutMs: 60_000 } } as ResolvedSite;
    const settings = await resolveBuildSettings(site, second, { cacheHit: restored.hit });
    assert.equal(settings.command, 'npm run build');
    assert.equal(settings.source, 'preset vite (node_modules from cache)');
  });

  it('misses when the lockfile changes, and keeps both entries', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    await deploy(await checkout(t, '{"v":1}'), cacheDir, fakeInstall);
    assert.equal((await deploy(await checkout(t, '{"v":2}'), cacheDir, fakeInstall)).hit, false);
    assert.equal((await readdir(join(cacheDir, 'node_modules'))).length, 2);
    assert.equal((await deploy(await checkout(t, '{"v":1}'), cacheDir, fakeInstall)).hit, true);
  });

  it(`keeps at most ${MAX_NODE_MODULES_ENTRIES} entries, dropping the least recently used`, async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    const keys: string[] = [];
    for (let version = 1; version <= 3; version++) {
      const work = await checkout(t, `{"v":${version}}`);
      keys.push((await nodeModulesKey(work)) as string);
      await deploy(work, cacheDir, fakeInstall);
      // Pretend the builds were a minute apart, oldest first.
      const when = new Date(Date.now() - (4 - version) * 60_000);
      await utimes(join(cacheDir, 'node_modules', keys.at(-1) as string), when, when);
    }
    // Using version 1 again makes version 2 the least recently used.
    assert.equal((await deploy(await checkout(t, '{"v":1}'), cacheDir, fakeInstall)).hit, true);
    const fourth = await checkout(t, '{"v":4}');
    keys.push((await nodeModulesKey(fourth)) as string);
    const { lines } = await deploy(fourth, cacheDir, fakeInstall);
    assert.match(lines.join('\n'), new RegExp(`removed the least recently used cached node_modules \\(key ${(keys[1] as string).slice(0, 12)}\\)`));
    const left = (await readdir(join(cacheDir, 'node_modules'))).sort();
    assert.deepEqual(left, [keys[0], keys[2], keys[3]].sort());
  });

  it('does not cache node_modules without a lockfile, and says why', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    const work = await tempDir(t, 'berth-work-');
    await writeTree(work, { 'package.json': packageJson });
    const { lines, log } = logger();
    const restored = await restoreNodeModules(work, cacheDir, log);
    assert.deepEqual(restored, { hit: false, key: undefined });
    assert.match(lines.join('\n'), /no lockfile/);
    assert.equal(installStep(work, false), 'npm install');
    await mkdir(join(work, 'node_modules/x'), { recursive: true });
    await saveNodeModules(work, cacheDir, log);
    assert.equal(await exists(join(cacheDir, 'node_modules')), false);
  });

  it('leaves a node_modules committed to the repository alone', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    await deploy(await checkout(t), cacheDir, fakeInstall);
    const work = await checkout(t, undefined, { 'node_modules/own/f': 'committed' });
    const restored = await restoreNodeModules(work, cacheDir, () => undefined);
    assert.equal(restored.hit, false);
    assert.equal(await readFile(join(work, 'node_modules/own/f'), 'utf8'), 'committed');
    assert.equal(await exists(join(work, 'node_modules/x')), false);
  });

  it('does not cache a node_modules the build replaced with a link', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    const work = await checkout(t);
    const outside = await tempDir(t, 'berth-outside-');
    await symlink(outside, join(work, 'node_modules'));
    await saveNodeModules(work, cacheDir, () => undefined);
    assert.equal(await exists(join(cacheDir, 'node_modules')), false);
  });

  it('keys on the lockfile and the dependency fields of package.json, not on scripts', async (t) => {
    const base = await checkout(t);
    const scripts = await checkout(t);
    await writeFile(join(scripts, 'package.json'), JSON.stringify({ scripts: { build: 'vite build --mode x' }, devDependencies: { vite: '^6.0.0' } }));
    const deps = await checkout(t);
    await writeFile(join(deps, 'package.json'), JSON.stringify({ scripts: { build: 'vite build' }, devDependencies: { vite: '^7.0.0' } }));
    const key = await nodeModulesKey(base);
    assert.match(key ?? '', /^[0-9a-f]{32}$/);
    assert.equal(await nodeModulesKey(scripts), key);
    assert.notEqual(await nodeModulesKey(deps), key);
  });

  it('keeps the repository root .cache between builds', async (t) => {
    const cacheDir = await tempDir(t, 'berth-cache-');
    const first = await checkout(t);
    await deploy(first, cacheDir, `${fakeInstall} && mkdir -p .cache/eleventy-fetch && echo data > .cache/eleventy-fetch/a`);
    const second = await checkout(t);
    const { lines, log } = logger();
    await restoreNodeModules(second, cacheDir, log);
    assert.equal(await readFile(join(second, '.cache/eleventy-fetch/a'), 'utf8'), 'data\n');
    assert.match(lines.join('\n'), /restored \.cache from the cache/);
  });

  it('copies instead of renaming when the cache is on another filesystem', async (t) => {
    const work = await checkout(t);
    let cacheDir: string;
    try {
      cacheDir = await mkdtemp('/dev/shm/berth-cache-');
    } catch {
      t.skip('no /dev/shm here');
      return;
    }
    t.after(() => rm(cacheDir, { recursive: true, force: true }));
    if ((await stat(cacheDir)).dev === (await stat(work)).dev) {
      t.skip('/dev/shm is on the same filesystem as the temp directory');
      return;
    }
    await deploy(work, cacheDir, fakeInstall);
    const second = await checkout(t);
    assert.equal((await restoreNodeModules(second, cacheDir, () => undefined)).hit, true);
    assert.equal(await readFile(join(second, 'node_modules/x/f'), 'utf8'), 'hi\n');
    assert.equal(await readlink(join(second, 'node_modules/.bin/x')), '../x/f');
  });

  it('installStep() picks npm ci only with an npm lockfile, and nothing without package.json', async (t) => {
    const shrinkwrap = await tempDir(t, 'berth-work-');
    await writeTree(shrinkwrap, { 'package.json': '{}', 'npm-shrinkwrap.json': '{}' });
    assert.equal(installStep(shrinkwrap, false), 'npm ci');
    const yarn = await tempDir(t, 'berth-work-');
    await writeTree(yarn, { 'package.json': '{}', 'yarn.lock': '' });
    assert.equal(installStep(yarn, false), 'npm install');
    const none = await tempDir(t, 'berth-work-');
    assert.equal(installStep(none, false), undefined);
  });

  it('refuses a lockfile that links to a secret or to /dev/zero, or is a FIFO, without reading it', { timeout: 20_000 }, async (t) => {
    const secret = await secretFile(t, 'yarn.lock');
    const cacheDir = await tempDir(t, 'berth-cache-');
    for (const make of [
      (dir: string) => symlink(secret.file, join(dir, 'yarn.lock')),
      (dir: string) => symlink('/dev/zero', join(dir, 'yarn.lock')),
      async (dir: string) => execFileSync('mkfifo', [join(dir, 'yarn.lock')]),
    ]) {
      const dir = await checkout(t);
      await make(dir);
      await assert.rejects(restoreNodeModules(dir, cacheDir, () => undefined), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'E_BUILD_CONFIG');
        assert.match(error.message, /^the repository's yarn\.lock is (a symbolic link|a FIFO, not a regular file);/);
        assertNotQuoted(error.message, secret);
        return true;
      });
    }
  });
});
