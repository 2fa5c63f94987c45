/**
 * Nothing on the request path can take a serving process down. `berth
 * serve` runs as a real process (as an unprivileged uid, so file modes
 * count) and the test breaks its data dir under it: release files deleted,
 * truncated, replaced by a directory or a FIFO after the release was loaded;
 * new releases with a truncated manifest, malformed `_headers` rules, or a
 * directory it cannot read; the live release made unreadable. Every request
 * gets an answer (a 500 whose id is in the error log, or the old release),
 * and the same process keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, readlink, rm, truncate, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { join } from 'node:path';
import { objectPath } from '../../src/releases/object-path.ts';
import { readManifest } from '../../src/releases/read-manifest.ts';
import { MANIFEST_NAME } from '../../src/releases/manifest.ts';
import { activateRelease } from '../../src/releases/activate.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { sitePaths } from '../../src/releases/site-paths.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { writeTree } from '../helpers/temp.ts';

const NOBODY = { uid: 65534, gid: 65534 };
/** How long one answer may take before the test calls it missing: a guard against a hang, far above any real answer. */
const ANSWER_GUARD_MS = 15_000;

interface Answer {
  status: number;
  errorId: string | undefined;
  body: string;
}

function big(seed: string): string {
  // Distinct contents: release files share stored objects by content, and each fault must hit one file only.
  return `${seed}\n`.repeat(8192);
}

/** One HTTP/1.1 GET; a missing answer (cut connection, hang) is a status 0 with the reason as body. */
function http1(port: number, path: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers: { host: 'localhost' }, agent: false, timeout: ANSWER_GUARD_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, errorId: res.headers['x-berth-error-id'] as string | undefined, body: Buffer.concat(chunks).toString() }));
      res.on('error', (error) => resolve({ status: 0, errorId: undefined, body: `response cut: ${error.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in time')));
    req.on('error', (error) => resolve({ status: 0, errorId: undefined, body: `no answer: ${error.message}` }));
    req.end();
  });
}

/** One HTTP/2 GET over TLS, with the same conventions. */
function http2(port: number, path: string): Promise<Answer> {
  return new Promise((resolve) => {
    const session = http2Connect(`https://localhost:${port}`, { rejectUnauthorized: false, servername: 'localhost', host: '127.0.0.1' } as never);
    const done = (answer: Answer): void => {
      clearTimeout(timer);
      session.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done({ status: 0, errorId: undefined, body: 'no answer in time' }), ANSWER_GUARD_MS);
    session.on('error', (error) => done({ status: 0, errorId: undefined, body: `session failed: ${error.message}` }));
    const stream = session.request({ ':path': path, ':authority': 'localhost' });
    let headers: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (headers = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => done({ status: Number(headers[':status']), errorId: headers['x-berth-error-id'] as string | undefined, body: Buffer.concat(chunks).toString() }));
    stream.on('error', (error) => done({ status: 0, errorId: undefined, body: `stream cut: ${error.message}` }));
    stream.end();
  });
}

/** Both protocols get a 500 whose id is in the body, and an error line with that id was logged. */
async function assertInternalError(server: ServeProcess, path: string, fault: string): Promise<void> {
  for (const [protocol, ask] of [['http/1.1', http1], ['h2', http2]] as const) {
    const answer = await ask(protocol === 'h2' ? server.httpsPort : server.httpPort, path);
    assert.equal(answer.status, 500, `${fault} over ${protocol}: ${answer.body}`);
    assert.match(answer.errorId ?? '', /^[0-9a-f]{16}$/, `${fault} over ${protocol}: an error id`);
    assert.equal(answer.body, `Internal server error (error id ${answer.errorId})\n`, 'the bare 500 says nothing but the id');
    const logged = await server.waitForLine((line) => line.errorId === answer.errorId);
    assert.equal(logged?.level, 'error', `${fault} over ${protocol}: the id is in the error log`);
    assert.equal(logged?.url, path);
  }
}

/** Both protocols get the file as it was loaded (it is held in memory). */
async function assertServed(server: ServeProcess, path: string, body: string, fault: string): Promise<void> {
  for (const [protocol, ask] of [['http/1.1', http1], ['h2', http2]] as const) {
    const answer = await ask(protocol === 'h2' ? server.httpsPort : server.httpPort, path);
    assert.equal(answer.status, 200, `${fault} over ${protocol}: ${answer.body}`);
    assert.equal(answer.body, body, `${fault} over ${protocol}`);
  }
}

test('faults in the data dir under a running berth serve are answered, logged with an id, and never stop it', { timeout: 180_000 }, async (t) => {
  const files = {
    'index.html': '<p>home</p>',
    'small.txt': 'small and in memory',
    'gone.bin': big('gone'),
    'short.bin': big('short'),
    'dir.bin': big('dir'),
    'fifo.bin': big('fifo'),
    'locked.bin': big('locked'),
  };
  // One worker, so a file read into memory by one request is in the memory of the one answering the next.
  // A 64 KiB memory cache holds files up to 8 KiB: small.txt once asked for, never the big ones.
  const server = await startServeProcess(t, { server: 'memory_cache = "64KiB"\nworkers = 1', files, user: NOBODY });
  const listeningBefore = server.lines.filter((line) => line.msg === 'listening').length;
  const dataDir = join(server.root, 'data');
  const paths = sitePaths(dataDir, 'site');
  const live = join(paths.siteDir, await readlink(paths.currentLink));
  const liveId = live.split('/').at(-1) as string;
  const liveFiles = (await readManifest(live)).files;
  // Where the live release keeps a file's bytes: its object.
  const objectOf = (name: string): string => objectPath(paths.objectsDir, liveFiles[`/${name}`]?.hash ?? '');
  await assertServed(server, '/gone.bin', files['gone.bin'], 'before any fault');
  await assertServed(server, '/small.txt', files['small.txt'], 'before any fault');

  // Files of the live release, after it was loaded (gone.bin after its descriptor was opened and kept).
  await rm(objectOf('gone.bin'));
  await assertInternalError(server, '/gone.bin', 'a deleted file');
  await truncate(objectOf('short.bin'), 100);
  await assertInternalError(server, '/short.bin', 'a truncated file');
  await rm(objectOf('dir.bin'));
  await mkdir(objectOf('dir.bin'));
  await assertInternalError(server, '/dir.bin', 'a file replaced by a directory');
  await rm(objectOf('fifo.bin'));
  execFileSync('mkfifo', ['-m', '644', objectOf('fifo.bin')]);
  // Four at once per protocol: as many as libuv has pool threads, which a blocking open of a FIFO would each hold forever.
  await Promise.all(Array.from({ length: 4 }, () => assertInternalError(server, '/fifo.bin', 'a file replaced by a FIFO')));
  await rm(objectOf('small.txt'));
  await assertServed(server, '/small.txt', files['small.txt'], 'a deleted file held in memory');

  // New releases the server cannot load: the one it serves stays.
  let counter = 0;
  const badRelease = async (damage: (releaseDir: string) => Promise<void>): Promise<string> => {
    const source = join(server.root, `next-${counter++}`);
    await writeTree(source, { 'index.html': '<p>next</p>', _headers: '/*\n  X-Frame-Options: DENY\n' });
    const published = await publishRelease({ dataDir, site: 'site', sourceDir: source, retain: 100, activate: false });
    execFileSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, dataDir]);
    await damage(published.releaseDir);
    await activateRelease(paths, published.id);
    const failed = await server.waitForLine((line) => line.release === published.id && line.level === 'error');
    assert.equal(failed?.msg, 'cannot load release; still serving the previous one', JSON.stringify(failed));
    await assertServed(server, '/', '<p>home</p>', `release ${published.id}`);
    return published.id;
  };
  await badRelease(async (dir) => {
    const manifest = await readFile(join(dir, MANIFEST_NAME));
    await writeFile(join(dir, MANIFEST_NAME), manifest.subarray(0, Math.floor(manifest.length / 2)));
  });
  await badRelease(async (dir) => {
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_NAME), 'utf8')) as { headers: unknown[] };
    assert.equal(manifest.headers.length, 1, 'the _headers rule is in the manifest');
    manifest.headers = [{ pattern: 42, headers: 'not a table' }, null];
    await writeFile(join(dir, MANIFEST_NAME), JSON.stringify(manifest));
  });
  await badRelease((dir) => chmod(dir, 0o000));

  // A file of the live release made unreadable: what is on disk fails, what is in memory serves.
  await chmod(objectOf('locked.bin'), 0o000);
  await assertInternalError(server, '/locked.bin', 'an unreadable object');
  await chmod(live, 0o000);
  await assertServed(server, '/', '<p>home</p>', 'an unreadable release directory');

  // The same process, still serving.
  assert.equal(server.exited(), false, server.stderr());
  assert.deepEqual(server.workerDeaths(), []);
  assert.equal(server.lines.filter((line) => line.msg === 'listening').length, listeningBefore, 'no serving process was restarted');
  // Loaded once by each serving worker, never again.
  assert.equal(server.lines.filter((line) => line.release === liveId && line.msg === 'release active').length, server.servingPids.length);
  const last = await http1(server.httpPort, '/');
  assert.equal(last.status, 200);
  assert.equal(last.body, '<p>home</p>');
});
