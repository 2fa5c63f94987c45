/**
 * A release of 100,000 files goes live in a real `berth serve` and is
 * served, while the serving worker's memory grows by a small fraction of
 * the site's size: the worker holds a table of the files, not the files
 * (which a loader reading every file under 1 MiB into memory, as Berth did
 * before, would hold whole).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { publishRelease } from '../../src/releases/publish.ts';
import { get, getH2 } from '../helpers/server.ts';
import { rssBytes } from '../helpers/rss.ts';
import { startServeProcess } from '../helpers/serve-process.ts';
import { writeTree } from '../helpers/temp.ts';

const FILES = 100_000;
const FILE_BYTES = 8192;

/** Distinct bytes per file: its number, then padding. */
function fileBytes(i: number): Buffer {
  const bytes = Buffer.alloc(FILE_BYTES, 0x2e);
  bytes.write(`file ${i}\n`);
  return bytes;
}

const pathOf = (i: number): string => `d${Math.floor(i / 1000)}/f${i}.bin`;


test('a release of 100,000 files goes live and is served, the worker growing by far less than a quarter of the site', { timeout: 900_000 }, async (t) => {
  const server = await startServeProcess(t, { server: 'workers = 1', files: { 'index.html': '<p>small</p>' } });
  const [worker] = server.servingPids;
  assert.ok(worker !== undefined);
  // The worker once it has served the small site from memory and from disk.
  for (let i = 0; i < 20; i++) assert.equal((await get(server.httpPort, '/')).status, 200);
  const before = await rssBytes(worker);

  const source = join(server.root, 'big-site');
  for (let dir = 0; dir < FILES / 1000; dir++) {
    const files: Record<string, Buffer> = { ...(dir === 0 ? { 'index.html': Buffer.from('<p>big</p>') } : {}) };
    for (let i = dir * 1000; i < (dir + 1) * 1000; i++) files[pathOf(i)] = fileBytes(i);
    await writeTree(source, files);
  }
  const siteBytes = FILES * FILE_BYTES;
  const { id } = await publishRelease({ dataDir: join(server.root, 'data'), site: 'site', sourceDir: source, retain: 10 });
  const active = await server.waitForLine((line) => line.release === id && line.msg === 'release active', 600_000);
  assert.equal(active?.files, FILES + 1);

  assert.equal((await get(server.httpPort, '/')).body.toString(), '<p>big</p>');
  // Files from across the site, over both protocols, with the right bytes.
  for (let n = 0; n < 200; n++) {
    const i = (n * 7919) % FILES;
    const res = n % 2 === 0 ? await get(server.httpPort, `/${pathOf(i)}`) : await getH2(server.httpsPort, `/${pathOf(i)}`);
    assert.equal(res.status, 200, pathOf(i));
    assert.ok(res.body.equals(fileBytes(i)), pathOf(i));
  }
  assert.equal((await get(server.httpPort, '/d99/missing.bin')).status, 404);

  const after = await rssBytes(worker);
  const growth = after - before;
  t.diagnostic(`worker RSS ${Math.round(before / 1048576)} MiB before, ${Math.round(after / 1048576)} MiB with ${FILES} files (${Math.round(siteBytes / 1048576)} MiB) live`);
  assert.ok(growth < siteBytes / 4, `the worker grew by ${Math.round(growth / 1048576)} MiB for a ${Math.round(siteBytes / 1048576)} MiB site`);
  assert.equal(server.exited(), false, server.stderr());
});
