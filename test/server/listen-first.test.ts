/**
 * Listen first: the ports open before any release is loaded. The release's
 * load is held back by a real mechanism: its manifest is a FIFO, so the
 * server's read of it blocks until the test writes the manifest's bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createChallengeStore } from '../../src/acme/challenge-store.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { MANIFEST_NAME } from '../../src/releases/manifest.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { startServer } from '../../src/app/start-server.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { get, getH2 } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

test('ports open while a release loads: its site answers 503 with Retry-After, health says starting, challenges answer, then the site serves', { timeout: 60_000 }, async (t) => {
  const root = await tempDir(t);
  await writeFile(
    join(root, 'berth.toml'),
    [
      'data_dir = "data"',
      '[server]',
      'host = "127.0.0.1"',
      'http_port = 0',
      'https_port = 0',
      'https_redirect = false',
      '[acme]',
      // ACME on, so the challenge store answers; the CA is unreachable and never retried during the test.
      'directory = "https://127.0.0.1:9/dir"',
      'retry_delay = "1h"',
      '[[sites]]',
      'name = "big"',
      'domains = ["localhost", "big.example.com"]',
      '[[sites]]',
      'name = "empty"',
      'domains = ["empty.example.com"]',
    ].join('\n'),
  );
  const config = await loadConfig(join(root, 'berth.toml'), {});
  await writeTree(join(root, 'public'), { 'index.html': '<p>loaded</p>' });
  const published = await publishRelease({ dataDir: config.dataDir, site: 'big', sourceDir: join(root, 'public'), retain: 10 });
  const manifestPath = join(published.releaseDir, MANIFEST_NAME);
  const manifest = await readFile(manifestPath);
  await rm(manifestPath);
  execFileSync('mkfifo', ['-m', '600', manifestPath]);
  // Whatever happens, the blocked read is let go, so nothing is left waiting on the FIFO.
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    await writeFile(manifestPath, manifest);
  };
  onCleanup(t, release);

  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  // Resolves while the manifest read is blocked: before, it waited for every release.
  const server = await startServer(config, createLogger({ level: 'info', destination: sink }), { manageCertificates: true });
  onCleanup(t, () => server.stop());
  const http = server.listeners.httpPort as number;
  const https = server.listeners.httpsPort as number;
  assert.equal(server.sites.sites.find((site) => site.config.name === 'big')?.loading, true, 'the release is still loading');

  const plain = await get(http, '/', { host: 'localhost' });
  assert.equal(plain.status, 503);
  assert.equal(plain.headers['retry-after'], '2');
  assert.equal(plain.headers['cache-control'], 'no-store');
  assert.match(plain.body.toString(), /starting/);
  const h2 = await getH2(https, '/', { ':authority': 'localhost' });
  assert.equal(h2.alpn, 'h2');
  assert.equal(h2.status, 503);
  assert.equal(h2.headers['retry-after'], '2');
  assert.equal(h2.headers['cache-control'], 'no-store');

  const starting = await get(http, '/_berth/health', { host: '127.0.0.1' });
  assert.equal(starting.status, 503);
  assert.equal(starting.headers['cache-control'], 'no-store');
  assert.equal(starting.body.toString(), 'starting: loading big\n');

  // A site with no release at all keeps its own answer meanwhile.
  const empty = await get(http, '/', { host: 'empty.example.com' });
  assert.equal(empty.status, 503);
  assert.equal(empty.headers['retry-after'], '10');
  assert.match(empty.body.toString(), /no published release/);

  await createChallengeStore(config.dataDir).put('dG9rZW4tMQ', 'dG9rZW4tMQ.thumbprint');
  const challenge = await get(http, '/.well-known/acme-challenge/dG9rZW4tMQ', { host: 'big.example.com' });
  assert.equal(challenge.status, 200);
  assert.equal(challenge.body.toString(), 'dG9rZW4tMQ.thumbprint');
  assert.equal(lines.some((line) => line.msg === 'sites ready'), false, 'still loading when all of the above was answered');

  await release();
  await server.ready;
  assert.ok(lines.some((line) => line.msg === 'sites ready'));
  const served = await get(http, '/', { host: 'localhost' });
  assert.equal(served.status, 200);
  assert.equal(served.body.toString(), '<p>loaded</p>');
  const servedH2 = await getH2(https, '/', { ':authority': 'localhost' });
  assert.equal(servedH2.status, 200);
  const healthy = await get(http, '/_berth/health', { host: '127.0.0.1' });
  assert.equal(healthy.status, 200);
  assert.equal(healthy.body.toString(), 'ok\n');
});
