/**
 * A site of 2 GiB of files, every one small enough for the body cache,
 * requested under load (many at once, every file, over both protocols): the
 * serving worker's memory stays within `memory_cache` plus what a worker
 * needs anyway, far below the site, and every answer carries its own bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { publishRelease } from '../../src/releases/publish.ts';
import { get, getH2 } from '../helpers/server.ts';
import { rssBytes } from '../helpers/rss.ts';
import { startServeProcess } from '../helpers/serve-process.ts';

const FILES = 2048;
const FILE_BYTES = 1024 * 1024;
const SITE_BYTES = FILES * FILE_BYTES;
const MEMORY_CACHE = 64 * 1024 * 1024;
const AT_ONCE = 16;

/** Distinct bytes per file, cheap to make: its number repeated. */
function fileBytes(i: number): Buffer {
  return Buffer.alloc(FILE_BYTES, `file ${i};`);
}


test('a 2 GiB site requested whole under load: each answer is its file, and the worker stays within memory_cache plus its own needs', { timeout: 900_000 }, async (t) => {
  const server = await startServeProcess(t, { server: 'workers = 1\nmemory_cache = "64MiB"', files: { 'index.html': '<p>small</p>' } });
  const [worker] = server.servingPids;
  assert.ok(worker !== undefined);
  for (let i = 0; i < 20; i++) assert.equal((await get(server.httpPort, '/')).status, 200);
  const before = await rssBytes(worker);

  const source = join(server.root, 'big-bytes');
  await mkdir(join(source, 'files'), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const handle = await open(join(source, 'files', `${i}.bin`), 'w');
    await handle.writeFile(fileBytes(i));
    await handle.close();
  }
  await (await open(join(source, 'index.html'), 'w')).close();
  const { id } = await publishRelease({ dataDir: join(server.root, 'data'), site: 'site', sourceDir: source, retain: 10 });
  assert.ok(await server.waitForLine((line) => line.release === id && line.msg === 'release active', 600_000));

  // Every file, AT_ONCE at a time, alternating protocols; then the first quarter again (cache hits and evictions).
  const order = [...Array.from({ length: FILES }, (_, i) => i), ...Array.from({ length: FILES / 4 }, (_, i) => i)];
  let peak = 0;
  for (let start = 0; start < order.length; start += AT_ONCE) {
    await Promise.all(
      order.slice(start, start + AT_ONCE).map(async (i, k) => {
        const path = `/files/${i}.bin`;
        const reply = k % 2 === 0 ? await get(server.httpPort, path) : await getH2(server.httpsPort, path);
        assert.equal(reply.status, 200, path);
        assert.equal(reply.body.length, FILE_BYTES, path);
        assert.equal(createHash('sha256').update(reply.body).digest('hex'), createHash('sha256').update(fileBytes(i)).digest('hex'), path);
      }),
    );
    if (start % (AT_ONCE * 32) === 0) peak = Math.max(peak, await rssBytes(worker));
  }
  peak = Math.max(peak, await rssBytes(worker));
  t.diagnostic(`worker RSS ${Math.round(before / 1048576)} MiB before, peak ${Math.round(peak / 1048576)} MiB serving a ${SITE_BYTES / 1048576} MiB site with memory_cache 64 MiB`);
  // The bound that proves it: the cache, plus the worker as it was, plus generous room for buffers in flight
  // (AT_ONCE bodies of 1 MiB, twice over, and the allocator's slack): still a small fraction of the site.
  assert.ok(peak - before < MEMORY_CACHE + 192 * 1024 * 1024, `the worker grew by ${Math.round((peak - before) / 1048576)} MiB serving a ${SITE_BYTES / 1048576} MiB site`);
  assert.equal(server.exited(), false, server.stderr());
});
