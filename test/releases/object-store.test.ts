import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import type { ResolvedSite } from '../../src/config/resolved-config.ts';
import { tidyReleaseStores } from '../../src/deploy/tidy-release-stores.ts';
import { createLogger } from '../../src/log/logger.ts';
import { fsReleaseStore } from '../../src/releases/fs-release-store.ts';
import { FILE_ROWS_NAME, MANIFEST_NAME, type Manifest, type ManifestFile } from '../../src/releases/manifest.ts';
import { hasReleasesToMigrate, migrateSiteReleases } from '../../src/releases/migrate-releases.ts';
import { objectPath } from '../../src/releases/object-path.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { readManifest } from '../../src/releases/read-manifest.ts';
import { activeReleaseId, releaseIds } from '../../src/releases/release-list.ts';
import { activateRelease } from '../../src/releases/activate.ts';
import { sitePaths, type SitePaths } from '../../src/releases/site-paths.ts';
import { withSiteLock } from '../../src/releases/site-lock.ts';
import { get, startTestServer } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const SRC = join(import.meta.dirname, '..', '..', 'src', 'releases');

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every object under the store, as `<name>`, debris included. */
async function storedNames(paths: SitePaths): Promise<string[]> {
  const names: string[] = [];
  for (const shard of await readdir(paths.objectsDir).catch(() => [] as string[])) {
    if (shard.startsWith('.')) {
      names.push(shard);
      continue;
    }
    for (const name of await readdir(join(paths.objectsDir, shard))) names.push(name);
  }
  return names.sort();
}

/** What every kept release names: each object, and each variant its manifest lists. */
async function referencedNames(paths: SitePaths): Promise<string[]> {
  const names = new Set<string>();
  for (const id of await releaseIds(paths)) {
    for (const file of Object.values((await readManifest(join(paths.releasesDir, id))).files)) {
      names.add(file.hash);
      if (file.encodings.br !== undefined) names.add(`${file.hash}.br`);
      if (file.encodings.gzip !== undefined) names.add(`${file.hash}.gz`);
    }
  }
  return [...names].sort();
}

/** Each file of each kept release has its object, holding bytes of its hash. */
async function assertWhole(paths: SitePaths): Promise<void> {
  for (const id of await releaseIds(paths)) {
    const manifest = await readManifest(join(paths.releasesDir, id));
    assert.equal(manifest.version, 2, `release ${id} is in the object store`);
    for (const [urlPath, file] of Object.entries(manifest.files)) {
      const bytes = await readFile(objectPath(paths.objectsDir, file.hash));
      assert.equal(sha256(bytes), file.hash, `${id}${urlPath}`);
      assert.equal(bytes.length, file.size, `${id}${urlPath}`);
    }
  }
}

function manyFiles(count: number, tag: string): Record<string, string> {
  return Object.fromEntries([['index.html', `<p>${tag}</p>`], ...Array.from({ length: count }, (_, i) => [`pages/${i}.html`, `<p>${tag} page ${i} ${'x'.repeat(200)}</p>`])]);
}

/** Runs `code` (an ES module body with `SRC` in scope) in a child and kills it with SIGKILL once `when` holds. */
async function killDuring(t: TestContext, code: string, when: () => Promise<boolean>): Promise<void> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const SRC = ${JSON.stringify(SRC)};\n${code}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  let finished = false;
  void exited.then(() => (finished = true));
  while (!finished && !(await when())) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(!finished, `the child ended before it could be killed half-way: ${stderr}`);
  child.kill('SIGKILL');
  assert.equal(await exited, null);
}

/** What a Berth before the object store wrote: every file and Berth's sidecars in the release directory. */
async function writeV1Release(paths: SitePaths, id: string, files: Record<string, { bytes: Buffer; manifest?: Partial<ManifestFile>; sidecars?: { br?: Buffer; gzip?: Buffer } }>): Promise<void> {
  const dir = join(paths.releasesDir, id);
  await mkdir(dir, { recursive: true });
  const entries: Record<string, ManifestFile> = {};
  for (const [urlPath, file] of Object.entries(files)) {
    await mkdir(join(dir, urlPath, '..'), { recursive: true });
    await writeFile(join(dir, urlPath), file.bytes);
    const encodings: ManifestFile['encodings'] = {};
    if (file.sidecars?.br !== undefined) {
      await writeFile(join(dir, `${urlPath}.br`), file.sidecars.br);
      encodings.br = file.sidecars.br.length;
    }
    if (file.sidecars?.gzip !== undefined) {
      await writeFile(join(dir, `${urlPath}.gz`), file.sidecars.gzip);
      encodings.gzip = file.sidecars.gzip.length;
    }
    entries[urlPath] = { size: file.bytes.length, hash: sha256(file.bytes), type: urlPath.endsWith('.html') ? 'text/html; charset=utf-8' : 'text/javascript; charset=utf-8', cache: 'revalidate', encodings, mtimeMs: 1_700_000_000_000, ...file.manifest };
  }
  const manifest = { version: 1, id, site: 'site', createdAt: new Date().toISOString(), files: entries, redirects: [], headers: [] };
  await writeFile(join(dir, MANIFEST_NAME), JSON.stringify(manifest));
  await writeFile(join(dir, '.berth-release.json'), JSON.stringify({ id, site: 'site', createdAt: manifest.createdAt, files: Object.keys(entries).length, bytes: 0, source: 'old' }));
}

describe('the object store', () => {
  it('keeps content once per site and sweeps only what no kept release names', async (t) => {
    const root = await tempDir(t);
    const paths = sitePaths(join(root, 'data'), 'site');
    const publish = async (files: Record<string, string>, retain: number): Promise<string> => {
      const dir = await tempDir(t);
      await writeTree(dir, files);
      return (await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: dir, retain })).id;
    };
    const shared = '<p>the same in every release</p>'.repeat(10);
    await publish({ 'index.html': 'one', 'shared.html': shared, 'copy.html': shared }, 2);
    await publish({ 'index.html': 'two', 'shared.html': shared }, 2);
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
    assert.equal((await storedNames(paths)).filter((name) => name === sha256(shared)).length, 1, 'two paths, two releases, one object');
    await publish({ 'index.html': 'three', 'shared.html': shared }, 2);
    // The first release was pruned: "one" is gone, the shared content stays.
    assert.equal((await releaseIds(paths)).length, 2);
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
    assert.ok(!(await storedNames(paths)).includes(sha256('one')));
    assert.ok((await storedNames(paths)).includes(sha256(shared)));
    await assertWhole(paths);
  });

  it('keeps two sites that share content apart: each store holds its own copy, and each site serves its files', async (t) => {
    const shared = { 'index.html': '<p>the same page on two sites</p>', 'style.css': 'body { color: teal }'.repeat(10) };
    const server = await startTestServer(t, {
      sites: [
        { name: 'one', domains: ['one.test'] },
        { name: 'two', domains: ['two.test'] },
      ],
      files: { one: { ...shared, 'only-one.txt': 'one' }, two: { ...shared, 'only-two.txt': 'two' } },
    });
    const dataDir = server.config.dataDir;
    for (const [site, own] of [['one', 'only-one.txt'], ['two', 'only-two.txt']] as const) {
      const paths = sitePaths(dataDir, site);
      assert.ok((await storedNames(paths)).includes(sha256(shared['style.css'])), `${site} holds the shared content itself`);
      assert.deepEqual(await storedNames(paths), await referencedNames(paths));
      const reply = await get(server.httpPort, '/style.css', { host: `${site}.test`, 'accept-encoding': 'identity' });
      assert.equal(reply.body.toString(), shared['style.css']);
      assert.equal((await get(server.httpPort, `/${own}`, { host: `${site}.test` })).status, 200);
      const other = own === 'only-one.txt' ? 'only-two.txt' : 'only-one.txt';
      assert.equal((await get(server.httpPort, `/${other}`, { host: `${site}.test` })).status, 404, `${site} does not serve the other site's file`);
    }
  });

  it('gives a file that changes type but not content the variants of its new type, and a file deleted and re-added its content back', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const text = 'compressible text that repeats itself. '.repeat(40);
    const publish = async (files: Record<string, string>): Promise<Manifest> => {
      const dir = await tempDir(t);
      await writeTree(dir, files);
      return (await publishRelease({ dataDir, site: 'site', sourceDir: dir, retain: 10 })).manifest;
    };
    const first = await publish({ 'index.html': 'i', 'data.bin': text });
    assert.deepEqual(first.files['/data.bin']?.encodings, {}, 'application/octet-stream is not compressed');
    const second = await publish({ 'index.html': 'i', 'data.txt': text });
    assert.equal(second.files['/data.txt']?.hash, first.files['/data.bin']?.hash);
    assert.ok(second.files['/data.txt']?.encodings.gzip !== undefined, 'as text it gets a gzip variant');
    const third = await publish({ 'index.html': 'i' });
    assert.equal(third.files['/data.txt'], undefined);
    const fourth = await publish({ 'index.html': 'i', 'data.txt': text });
    assert.deepEqual(fourth.files['/data.txt']?.encodings, second.files['/data.txt']?.encodings);
    await assertWhole(sitePaths(dataDir, 'site'));
  });

  it('a start with nothing to convert or sweep changes nothing on disk, so a backup taken beside it sees no change', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const paths = sitePaths(dataDir, 'site');
    const dir = await tempDir(t);
    await writeTree(dir, { 'index.html': 'one', 'a.css': 'body{}' });
    await activateRelease(paths, (await publishRelease({ dataDir, site: 'site', sourceDir: dir, retain: 2 })).id);
    assert.equal(await hasReleasesToMigrate(paths), false);
    const changes = async (): Promise<bigint[]> => {
      const times: bigint[] = [];
      for (const path of [paths.siteDir, paths.objectsDir, paths.releasesDir]) {
        const info = await stat(path, { bigint: true });
        times.push(info.mtimeNs, info.ctimeNs);
      }
      return times;
    };
    const before = await changes();
    const logged: string[] = [];
    const logger = createLogger({ level: 'info', destination: new Writable({ write: (chunk: Buffer, _encoding, done) => (logged.push(chunk.toString()), done()) }) });
    await tidyReleaseStores({ dataDir, sites: [{ name: 'site' } as ResolvedSite] }, logger);
    assert.deepEqual(await changes(), before, 'no lock file was created and removed, nothing was written');
    assert.deepEqual(logged, []);
    // Debris is still cleaned: an object no release names.
    await mkdir(join(paths.objectsDir, 'ab'), { recursive: true });
    await writeFile(join(paths.objectsDir, 'ab', `ab${'0'.repeat(62)}`), 'debris');
    await tidyReleaseStores({ dataDir, sites: [{ name: 'site' } as ResolvedSite] }, logger);
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
  });

  it('a sweep keeps what a release written while it ran names, whichever of its two phases saw it', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const paths = sitePaths(dataDir, 'site');
    const store = fsReleaseStore(paths);
    const dir = await tempDir(t);
    await writeTree(dir, { 'index.html': 'kept', 'old.html': 'only in the first release' });
    const first = await publishRelease({ dataDir, site: 'site', sourceDir: dir, retain: 5 });
    await writeTree(dir, { 'index.html': 'second' });
    await rm(join(dir, 'old.html'));
    await publishRelease({ dataDir, site: 'site', sourceDir: dir, retain: 5 });
    await rm(first.releaseDir, { recursive: true });
    // The sweep starts while the lock is held (as by a publish): it lists, then waits for the lock,
    // during which a release naming the orphaned object appears.
    let sweep: ReturnType<typeof store.sweep> | undefined;
    await withSiteLock(paths.lockFile, async () => {
      sweep = store.sweep();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const again = { ...first.manifest, id: '29990101T000000Z-00000000' };
      await store.writeRelease(again, { id: again.id, site: 'site', createdAt: again.createdAt, files: 2, bytes: 0, source: 'test' }, {});
    });
    await sweep;
    await assertWhole(paths);
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
    assert.ok((await storedNames(paths)).includes(sha256('only in the first release')));
  });

  it('a publish killed half-way leaves the live release whole, and the next start sweeps what it wrote', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const paths = sitePaths(dataDir, 'site');
    const live = await tempDir(t);
    await writeTree(live, manyFiles(50, 'live'));
    await publishRelease({ dataDir, site: 'site', sourceDir: live, retain: 5 });
    const before = await storedNames(paths);
    const next = await tempDir(t);
    await writeTree(next, manyFiles(3000, 'next'));
    await killDuring(
      t,
      `const { publishRelease } = await import(SRC + '/publish.ts');
       await publishRelease({ dataDir: ${JSON.stringify(dataDir)}, site: 'site', sourceDir: ${JSON.stringify(next)}, retain: 5 });`,
      async () => (await storedNames(paths)).length > before.length + 100,
    );
    assert.equal((await releaseIds(paths)).length, 1, 'no new release appeared');
    assert.equal(await activeReleaseId(paths), (await releaseIds(paths))[0]);
    await assertWhole(paths);
    assert.ok((await storedNames(paths)).length > before.length, 'the killed publish left objects');
    await fsReleaseStore(paths).sweep();
    assert.deepEqual(await storedNames(paths), before);
  });

  it('a sweep killed half-way removes nothing a kept release names, and the next one finishes', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const paths = sitePaths(dataDir, 'site');
    const old = await tempDir(t);
    await writeTree(old, manyFiles(3000, 'old'));
    const first = await publishRelease({ dataDir, site: 'site', sourceDir: old, retain: 5 });
    const now = await tempDir(t);
    await writeTree(now, manyFiles(20, 'now'));
    await publishRelease({ dataDir, site: 'site', sourceDir: now, retain: 5 });
    // The old release goes without its sweep: 3,000 objects nothing names.
    await rm(first.releaseDir, { recursive: true });
    const total = (await storedNames(paths)).length;
    await killDuring(
      t,
      `const { fsReleaseStore } = await import(SRC + '/fs-release-store.ts');
       const { sitePaths } = await import(SRC + '/site-paths.ts');
       await fsReleaseStore(sitePaths(${JSON.stringify(dataDir)}, 'site')).sweep();`,
      async () => (await storedNames(paths)).length < total - 100,
    );
    await assertWhole(paths);
    assert.ok((await storedNames(paths)).length > (await referencedNames(paths)).length, 'the sweep was stopped before it finished');
    await fsReleaseStore(paths).sweep();
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
  });
});

describe('releases from before the object store', () => {
  const appJs = Buffer.from(`console.log(${JSON.stringify('app '.repeat(300))});\n`);
  const ownGz = Buffer.from('the site\'s own app.js.gz, not gzip\n'.repeat(5));
  const page = Buffer.from(`<!doctype html><p>${'page '.repeat(300)}</p>`);

  it('are converted once: files become objects, sidecars are kept only when they decompress to their file, and the site serves what it served', async (t) => {
    const root = await tempDir(t);
    const dataDir = join(root, 'data');
    const paths = sitePaths(dataDir, 'site');
    // Berth's gzip of app.js was written over the site's own app.js.gz (the old bug): the manifest
    // says the site's bytes, the disk holds Berth's.
    await writeV1Release(paths, '20260101T000000Z-aaaaaaaa', {
      '/index.html': { bytes: page, sidecars: { br: brotliCompressSync(page), gzip: gzipSync(page) } },
      '/app.js': { bytes: appJs, sidecars: { gzip: gzipSync(appJs) } },
      '/app.js.gz': { bytes: gzipSync(appJs), manifest: { hash: sha256(ownGz), size: ownGz.length } },
    });
    // The other order: the site's file won, so app.js's "gzip" is not gzip of app.js.
    await writeV1Release(paths, '20260102T000000Z-bbbbbbbb', {
      '/index.html': { bytes: page, sidecars: { gzip: gzipSync(page) } },
      '/app.js': { bytes: appJs, sidecars: { gzip: ownGz } },
      '/app.js.gz': { bytes: ownGz },
      '/gone.html': { bytes: Buffer.from('x') },
    });
    await rm(join(paths.releasesDir, '20260102T000000Z-bbbbbbbb', 'gone.html'));
    await activateRelease(paths, '20260102T000000Z-bbbbbbbb');

    assert.equal(await hasReleasesToMigrate(paths), true);
    const result = await migrateSiteReleases(paths);
    assert.equal(result.releases, 2);
    assert.equal(result.droppedVariants, 1, 'the gzip of app.js that was not one');
    assert.deepEqual(result.corrected.map((line) => line.slice(paths.releasesDir.length)), ['/20260101T000000Z-aaaaaaaa/app.js.gz', '/20260102T000000Z-bbbbbbbb/gone.html (missing, left out)']);
    await assertWhole(paths);
    const older = await readManifest(join(paths.releasesDir, '20260101T000000Z-aaaaaaaa'));
    assert.equal(older.files['/app.js.gz']?.hash, sha256(gzipSync(appJs)), 'described by the bytes it holds');
    assert.ok(older.files['/app.js']?.encodings.gzip !== undefined);
    const newer = await readManifest(join(paths.releasesDir, '20260102T000000Z-bbbbbbbb'));
    assert.deepEqual(newer.files['/app.js']?.encodings, {});
    assert.equal(newer.files['/gone.html'], undefined);
    // Converted to the version 2 layout: the files in their own list, not in the manifest.
    const header = JSON.parse(await readFile(join(paths.releasesDir, '20260102T000000Z-bbbbbbbb', MANIFEST_NAME), 'utf8')) as Record<string, unknown>;
    assert.equal(header.version, 2);
    assert.equal(header.files, undefined);
    assert.equal((await readFile(join(paths.releasesDir, '20260102T000000Z-bbbbbbbb', FILE_ROWS_NAME), 'utf8')).split('\n').length, 3 + 1);
    assert.equal((await migrateSiteReleases(paths)).releases, 0, 'once');
    assert.equal(await hasReleasesToMigrate(paths), false);

    const server = await startTestServer(t, { root });
    for (const [path, bytes] of [['/app.js', appJs], ['/app.js.gz', ownGz], ['/', page]] as const) {
      const reply = await get(server.httpPort, path, { 'accept-encoding': 'identity' });
      assert.equal(reply.status, 200, path);
      assert.ok(reply.body.equals(bytes), path);
      assert.equal(Number(reply.headers['content-length']), bytes.length, path);
    }
  });

  it('a conversion killed half-way leaves every release readable, and the next run finishes it', async (t) => {
    const root = await tempDir(t);
    const paths = sitePaths(join(root, 'data'), 'site');
    const files = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`/p/${i}.html`, { bytes: Buffer.from(`<p>${i} ${'y'.repeat(300)}</p>`) }]));
    await writeV1Release(paths, '20260101T000000Z-cccccccc', { '/index.html': { bytes: page }, ...files });
    await activateRelease(paths, '20260101T000000Z-cccccccc');
    await killDuring(
      t,
      `const { migrateSiteReleases } = await import(SRC + '/migrate-releases.ts');
       const { sitePaths } = await import(SRC + '/site-paths.ts');
       await migrateSiteReleases(sitePaths(${JSON.stringify(join(root, 'data'))}, 'site'));`,
      async () => (await storedNames(paths)).length > 100,
    );
    const halfway = await readManifest(join(paths.releasesDir, '20260101T000000Z-cccccccc'));
    assert.equal(halfway.version, 1, 'the manifest is replaced only once every file is stored');
    assert.ok((await readFile(join(paths.releasesDir, '20260101T000000Z-cccccccc', 'p', '2999.html'))).length > 0);
    assert.equal((await migrateSiteReleases(paths)).releases, 1);
    await assertWhole(paths);
    await fsReleaseStore(paths).sweep();
    assert.deepEqual(await storedNames(paths), await referencedNames(paths));
  });
});
