/**
 * A serving worker's memory has a bound: file bodies within
 * `server.memory_cache`, open files within the open-file cache's bound,
 * prepared answers reused across releases, and a file damaged on disk
 * answered 500, never with other bytes. Real servers on port 0, real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { publishRelease } from '../../src/releases/publish.ts';
import type { SiteState } from '../../src/server/site-table.ts';
import { locateRow, type ServedRelease } from '../../src/static/served-release.ts';
import { DEFAULT_OPEN_FILES } from '../../src/server/open-file-cache.ts';
import { eventually, get, getH2, startTestServer, type TestServer } from '../helpers/server.ts';
import { writeTree } from '../helpers/temp.ts';

/** Distinct bytes per file, so no two files share a cache entry. */
function distinct(count: number, size: number, name: (i: number) => string): Record<string, Buffer> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [name(i), randomBytes(size)]));
}

function live(s: TestServer): ServedRelease {
  const release = (s.server.sites.byHost.get('localhost') as SiteState).release;
  assert.ok(release !== undefined, 'the site has a live release');
  return release;
}

/** Where the live release keeps the bytes of `path` (or of Berth's variant of them): asked of the release, which alone knows its layout. */
function diskPath(s: TestServer, path: string, encoding?: 'br' | 'gzip'): string {
  const release = live(s);
  const row = release.files.rows.get(path);
  assert.ok(row !== undefined, path);
  return locateRow(release, row, encoding);
}

test('the body cache never holds more than memory_cache, and a body evicted is read again with the right bytes', async (t) => {
  // 256 KiB holds bodies of up to 32 KiB: forty 20 KiB files are three times the cache.
  const files = distinct(40, 20 * 1024, (i) => `f${i}.bin`);
  const s = await startTestServer(t, { server: 'memory_cache = "256KiB"', files: { site: { 'index.html': 'home', ...files } } });
  const bodies = s.server.caches.bodies;
  assert.equal(bodies.stats().limit, 256 * 1024);
  for (let round = 0; round < 2; round++) {
    for (const [name, bytes] of Object.entries(files)) {
      const res = round === 0 ? await get(s.httpPort, `/${name}`) : await getH2(s.httpsPort, `/${name}`);
      assert.equal(res.status, 200, name);
      assert.ok(res.body.equals(bytes), `${name} round ${round}: the right bytes`);
      const stats = bodies.stats();
      assert.ok(stats.bytes <= stats.limit, `${stats.bytes} bytes held, more than ${stats.limit}`);
    }
  }
  const stats = bodies.stats();
  assert.ok(stats.bytes > 128 * 1024, `the cache is used (${stats.bytes} bytes held)`);
  assert.ok(stats.evictions >= 40, `bodies were evicted (${stats.evictions}) and read again`);
  // A body held is answered from memory: asked twice in a row, the second is a hit.
  const hits = bodies.stats().hits;
  const last = Object.entries(files).at(-1) as [string, Buffer];
  assert.ok((await get(s.httpPort, `/${last[0]}`)).body.equals(last[1]));
  assert.equal(bodies.stats().hits, hits + 1);
});

test('a file larger than a memory cache entry may be is never held, and memory_cache = 0 holds nothing', async (t) => {
  const big = randomBytes(40 * 1024);
  const s = await startTestServer(t, { server: 'memory_cache = "256KiB"', files: { site: { 'index.html': 'home', 'big.bin': big } } });
  assert.ok((await get(s.httpPort, '/big.bin')).body.equals(big));
  assert.equal(s.server.caches.bodies.stats().bytes, 0, 'a 40 KiB file is over the 32 KiB entry ceiling of a 256 KiB cache');

  const none = await startTestServer(t, { server: 'memory_cache = 0', files: { site: { 'index.html': 'home', 'small.txt': 'small' } } });
  for (let i = 0; i < 3; i++) assert.equal((await get(none.httpPort, '/small.txt')).body.toString(), 'small');
  assert.deepEqual([none.server.caches.bodies.stats().bytes, none.server.caches.bodies.stats().entries], [0, 0]);
  assert.equal(none.server.caches.files.stats().opens, 1, 'read from one descriptor, opened once');
});

/** Starts a GET and pauses the body after its first bytes; `resume` reads the rest. */
function pausedGet(port: number, path: string): Promise<{ res: IncomingMessage; rest: () => Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host: 'localhost' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.once('data', (chunk: Buffer) => {
        chunks.push(chunk);
        res.pause();
        resolve({
          res,
          rest: () =>
            new Promise((done, failed) => {
              res.on('data', (more: Buffer) => chunks.push(more));
              res.on('end', () => done(Buffer.concat(chunks)));
              res.on('error', failed);
              res.resume();
            }),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('the open-file cache stays within its bound under many distinct files, and a stream in flight survives the eviction of its file', async (t) => {
  const many = DEFAULT_OPEN_FILES + 60;
  const files = distinct(many, 512, (i) => `d/${i}.bin`);
  // Far more than socket buffers hold, so the answer is still being read from disk while the client waits.
  const big = randomBytes(48 * 1024 * 1024);
  const s = await startTestServer(t, { server: 'memory_cache = 0', files: { site: { 'index.html': 'home', 'big.bin': big, ...files } } });
  const cache = s.server.caches.files;

  const paused = await pausedGet(s.httpPort, '/big.bin');
  assert.equal(paused.res.statusCode, 200);
  for (const [name, bytes] of Object.entries(files)) {
    const res = await get(s.httpPort, `/${name}`);
    assert.ok(res.body.equals(bytes), name);
    const stats = cache.stats();
    assert.ok(stats.cached <= stats.limit, `${stats.cached} descriptors kept, more than ${stats.limit}`);
  }
  const during = cache.stats();
  assert.equal(during.cached, DEFAULT_OPEN_FILES, 'the cache is full');
  assert.equal(during.open, during.cached + 1, 'big.bin was evicted but its descriptor stays open while its answer is in flight');

  const whole = await paused.rest();
  assert.equal(whole.length, big.length);
  assert.ok(whole.equals(big), 'the answer in flight is whole and right');
  assert.ok(await eventually(async () => cache.stats().open === cache.stats().cached), 'its descriptor is closed once the answer is done');
  // And big.bin is opened (and checked) again for the next request.
  const opens = cache.stats().opens;
  assert.ok((await getH2(s.httpsPort, '/big.bin')).body.equals(big));
  assert.equal(cache.stats().opens, opens + 1);
});

interface Failure {
  status: number;
  errorId: string | undefined;
  body: string;
}

async function bothProtocols(s: TestServer, path: string, headers: Record<string, string> = {}): Promise<Failure[]> {
  const h1 = await get(s.httpPort, path, headers);
  const h2 = await getH2(s.httpsPort, path, headers);
  return [h1, h2].map((res) => ({ status: res.status, errorId: res.headers['x-berth-error-id'] as string | undefined, body: res.body.toString() }));
}

/** A 500 over both protocols, each with an id in one error line that names the site, release and path; never a body of the file. */
async function assertDamaged(s: TestServer, path: string, what: string, headers: Record<string, string> = {}): Promise<void> {
  for (const answer of await bothProtocols(s, path, headers)) {
    assert.equal(answer.status, 500, `${what}: ${answer.body.slice(0, 80)}`);
    assert.match(answer.errorId ?? '', /^[0-9a-f]{16}$/, what);
    assert.equal(answer.body, `Internal server error (error id ${answer.errorId})\n`, `${what}: only the id`);
    assert.ok(await eventually(async () => s.logs.some((line) => line.errorId === answer.errorId)), `${what}: logged`);
    const lines = s.logs.filter((line) => line.errorId === answer.errorId);
    assert.equal(lines.length, 1, `${what}: one line`);
    const line = lines[0] as Record<string, unknown>;
    assert.equal(line.level, 'error');
    assert.deepEqual([line.site, line.release, line.path], ['site', live(s).id, path], what);
    assert.equal((line.err as { code: string }).code, 'E_RELEASE_FILE', what);
  }
}

test('a file changed on disk to other bytes of the same size, truncated or removed is a 500 with an id and a log line, over HTTP/1.1 and HTTP/2, never the wrong body', async (t) => {
  const small = (seed: string): string => `${seed} `.repeat(100);
  const large = (seed: string): Buffer => Buffer.from(`${seed}\n`.repeat(300_000));
  const site = {
    'index.html': 'home',
    'same-size.txt': small('same-size'),
    'short.txt': small('short'),
    'gone.txt': small('gone'),
    'same-size.bin': large('same-size'),
    'short.bin': large('short'),
    'gone.bin': large('gone'),
    'served-then-changed.bin': large('served-then-changed'),
    'served-then-cut.bin': large('served-then-cut'),
    'served-then-removed.bin': large('served-then-removed'),
    'variant.css': 'body { color: red; }\n'.repeat(200),
  };
  const s = await startTestServer(t, { files: { site } });
  const sameSize = (bytes: string | Buffer): Buffer => Buffer.alloc(Buffer.byteLength(bytes), 'x');

  // Held in memory once read: damaged before anyone asked for them.
  await writeFile(diskPath(s, '/same-size.txt'), sameSize(site['same-size.txt']));
  await assertDamaged(s, '/same-size.txt', 'a small file with other bytes of the same size');
  await truncate(diskPath(s, '/short.txt'), 10);
  await assertDamaged(s, '/short.txt', 'a small file truncated');
  await rm(diskPath(s, '/gone.txt'));
  await assertDamaged(s, '/gone.txt', 'a small file removed');

  // Read from disk (over 1 MiB): damaged before the first request, and after one (its descriptor kept).
  await writeFile(diskPath(s, '/same-size.bin'), sameSize(site['same-size.bin']));
  await assertDamaged(s, '/same-size.bin', 'a large file with other bytes of the same size');
  await truncate(diskPath(s, '/short.bin'), 10);
  await assertDamaged(s, '/short.bin', 'a large file truncated');
  await rm(diskPath(s, '/gone.bin'));
  await assertDamaged(s, '/gone.bin', 'a large file removed');
  for (const name of ['served-then-changed.bin', 'served-then-cut.bin', 'served-then-removed.bin'] as const) {
    for (const answer of await bothProtocols(s, `/${name}`)) assert.equal(answer.status, 200, name);
  }
  await writeFile(diskPath(s, '/served-then-changed.bin'), sameSize(site['served-then-changed.bin']));
  await assertDamaged(s, '/served-then-changed.bin', 'a large file changed in place after it was served');
  await truncate(diskPath(s, '/served-then-cut.bin'), 1000);
  await assertDamaged(s, '/served-then-cut.bin', 'a large file truncated after it was served');
  await rm(diskPath(s, '/served-then-removed.bin'));
  await assertDamaged(s, '/served-then-removed.bin', 'a large file removed after it was served');

  // Berth's compressed variant of another size than the release says: that encoding fails, the others still serve.
  await truncate(diskPath(s, '/variant.css', 'br'), 5);
  await assertDamaged(s, '/variant.css', 'a br variant truncated', { 'accept-encoding': 'br' });
  const identity = await get(s.httpPort, '/variant.css');
  assert.equal(identity.body.toString(), site['variant.css']);

  // The same server carries on.
  assert.equal((await get(s.httpPort, '/')).body.toString(), 'home');
  assert.equal((await getH2(s.httpsPort, '/')).body.toString(), 'home');
});

test('switching to a release where one of many files changed prepares only that file again', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'first' } } });
  const source = join(s.root, 'site-source');
  const names = Array.from({ length: 30 }, (_, i) => `page-${i}.html`);
  await writeTree(source, Object.fromEntries(names.map((name) => [name, `<p>${name} ${'text '.repeat(40)}</p>`])));
  const publish = async (): Promise<string> => {
    const { id } = await publishRelease({ dataDir: s.config.dataDir, site: 'site', sourceDir: source, retain: 10 });
    assert.ok(await eventually(async () => live(s).id === id), `release ${id} went live`);
    return id;
  };
  const askAll = async (): Promise<void> => {
    for (const name of names) {
      // Under its own path and its alias, over both protocols, with and without compression.
      assert.equal((await get(s.httpPort, `/${name}`)).status, 200);
      assert.equal((await getH2(s.httpsPort, `/${name.replace(/\.html$/, '')}`, { 'accept-encoding': 'br' })).status, 200);
    }
  };
  await publish();
  await askAll();
  const built = s.server.prepared.stats().builds;
  assert.ok(built >= names.length, `every file was prepared (${built})`);

  await writeFile(join(source, 'page-7.html'), '<p>changed</p>');
  await publish();
  await askAll();
  assert.equal(s.server.prepared.stats().builds, built + 1, 'only the changed file was prepared again');
  assert.equal((await get(s.httpPort, '/page-7')).body.toString(), '<p>changed</p>');
});
