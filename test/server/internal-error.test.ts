import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { startListeners } from '../../src/server/listeners.ts';
import { createRequestHandler } from '../../src/server/request-handler.ts';
import { createStreamHandler } from '../../src/server/stream-handler.ts';
import type { SiteState, SiteTable } from '../../src/server/site-table.ts';
import { createServingCaches } from '../../src/server/reply-body.ts';
import { locateRow, routeFor, type FileRoute, type ServedRelease } from '../../src/static/served-release.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { get, startTestServer, type TestServer } from '../helpers/server.ts';

interface Answer {
  status: number;
  body: string;
  errorId: string | undefined;
}

function h2Session(port: number): ClientHttp2Session {
  const session = http2Connect(`https://localhost:${port}`, { rejectUnauthorized: false, servername: 'localhost', host: '127.0.0.1' } as never);
  session.on('error', () => undefined);
  return session;
}

function h2Get(session: ClientHttp2Session, path: string, authority = 'localhost'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': authority });
    let status = 0;
    let errorId: string | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      errorId = headers['x-berth-error-id'] as string | undefined;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString(), errorId }));
    stream.on('error', reject);
    stream.end();
  });
}

async function h1Get(port: number, path: string, host = 'localhost'): Promise<Answer> {
  const res = await get(port, path, { host });
  return { status: res.status, body: res.body.toString(), errorId: res.headers['x-berth-error-id'] as string | undefined };
}

/** The error line the server logged for an id, which must be the one the client was given. */
function assertLoggedOnce(logs: Array<Record<string, unknown>>, answer: Answer, cause: RegExp): void {
  assert.equal(answer.status, 500);
  const id = /error id ([0-9a-f]{16})/.exec(answer.body)?.[1];
  assert.ok(id !== undefined, `the body carries an error id: ${answer.body}`);
  assert.equal(answer.errorId, id, 'the header names the same id');
  const lines = logs.filter((line) => line.errorId === id);
  assert.equal(lines.length, 1, 'one log line carries the id');
  const line = lines[0] as { level: string; err: { message: string; code?: string } };
  assert.equal(line.level, 'error');
  assert.match(`${line.err.code ?? ''} ${line.err.message}`, cause);
  assert.doesNotMatch(answer.body, cause, 'the client never sees the internal message');
}

function captureLogs(): { logs: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logs, logger: createLogger({ level: 'info', destination: sink }) };
}

/** Listeners whose handlers read a site table that throws for one host name, as a bug on the request path would. */
async function serverWithThrowingTable(t: TestContext, base: TestServer): Promise<{ httpPort: number; httpsPort: number; logs: Array<Record<string, unknown>> }> {
  const real = base.server.sites;
  const table: SiteTable = {
    sites: real.sites,
    byHost: {
      get: (host: string): SiteState | undefined => {
        if (host === 'boom.test') throw new TypeError('injected failure while routing');
        return real.byHost.get(host);
      },
    } as ReadonlyMap<string, SiteState>,
    adminHost: undefined,
  };
  const { logs, logger } = captureLogs();
  const options = { accessLog: false, pushSink: undefined, caches: createServingCaches(1024 * 1024) };
  const listeners = await startListeners(
    base.config.server,
    { plain: createRequestHandler(table, logger, options), request: createRequestHandler(table, logger, { ...options, secure: true }), stream: createStreamHandler(table, logger, options) },
    base.server.certificates.source,
    logger,
  );
  onCleanup(t, () => listeners.close(1000));
  return { httpPort: listeners.httpPort as number, httpsPort: listeners.httpsPort as number, logs };
}

test('an exception on the request path is answered 500 with an error id that is in the log, and the next request works', async (t) => {
  const base = await startTestServer(t, { files: { site: { 'index.html': 'fine' } } });
  const server = await serverWithThrowingTable(t, base);
  await new Promise((resolve) => setTimeout(resolve, 0));

  const h1 = await h1Get(server.httpPort, '/', 'boom.test');
  await flushed(server.logs, h1);
  assertLoggedOnce(server.logs, h1, /injected failure while routing/);
  assert.deepEqual(await h1Get(server.httpPort, '/'), { status: 200, body: 'fine', errorId: undefined });

  const session = h2Session(server.httpsPort);
  t.after(() => session.destroy());
  const h2 = await h2Get(session, '/', 'boom.test');
  await flushed(server.logs, h2);
  assertLoggedOnce(server.logs, h2, /injected failure while routing/);
  assert.notEqual(h2.errorId, h1.errorId, 'each failure has its own id');
  // The same session carries on.
  assert.deepEqual(await h2Get(session, '/'), { status: 200, body: 'fine', errorId: undefined });
});

/** The log is written asynchronously: wait until a line matching `logged` is there (the bound only guards against a hang). */
async function loggedLine(logs: Array<Record<string, unknown>>, logged: (line: Record<string, unknown>) => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!logs.some(logged) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** Waits until the line for the answer's id is in the log. */
async function flushed(logs: Array<Record<string, unknown>>, answer: Answer): Promise<void> {
  await loggedLine(logs, (line) => line.errorId !== undefined && line.errorId === answer.errorId);
}

/** The route of a real file of the release, answered with `headers` instead of its own: what a release built with rules that slipped past the checks at publish could carry. */
function withHeaders(release: ServedRelease, path: string, headers: string[]): FileRoute {
  const route = routeFor(release, path);
  assert.ok(route?.kind === 'file', path);
  const identity = route.prepared.identity;
  const size = String(route.prepared.size);
  return { ...route, prepared: { ...route.prepared, br: undefined, gzip: undefined, identity: { ...identity, get: { ...identity.get, headers: ['content-length', size, ...headers] } } } };
}

test('a header table Node refuses to send is answered 500 with an error id over HTTP/2 and HTTP/1.1, never a crash', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'fine', 'body.txt': 'body', 'big.bin': Buffer.alloc(2 * 1024 * 1024, 'x') } } });
  const site = s.server.sites.byHost.get('localhost') as SiteState;
  const live = site.release as ServedRelease;
  // What a header table could carry if a release were built with rules that
  // slipped past the checks at publish: the responder must still not crash.
  // Small files are answered from memory, big.bin from disk.
  live.memo.set('/twice.html', withHeaders(live, '/body.txt', ['x-content-type-options', 'nosniff', 'x-content-type-options', 'nosniff']));
  live.memo.set('/connection.html', withHeaders(live, '/body.txt', ['connection', 'keep-alive', 'transfer-encoding', 'chunked']));
  live.memo.set('/newline.html', withHeaders(live, '/body.txt', ['x-note', 'one\r\nset-cookie: injected=1']));
  live.memo.set('/twice-big.bin', withHeaders(live, '/big.bin', ['content-type', 'a/b', 'content-type', 'c/d']));

  const session = h2Session(s.httpsPort);
  t.after(() => session.destroy());
  for (const [path, cause] of [
    ['/twice.html', /ERR_HTTP2_HEADER_SINGLE_VALUE/],
    ['/connection.html', /ERR_HTTP2_INVALID_CONNECTION_HEADERS/],
    ['/twice-big.bin', /ERR_HTTP2_HEADER_SINGLE_VALUE/],
    // And again: nothing about the first failure is remembered wrongly.
    ['/twice-big.bin', /ERR_HTTP2_HEADER_SINGLE_VALUE/],
  ] as const) {
    const answer = await h2Get(session, path);
    await flushed(s.logs, answer);
    assert.equal(answer.status, 500, `${path}: ${answer.body}`);
    assertLoggedOnce(s.logs, answer, cause);
    assert.deepEqual(await h2Get(session, '/'), { status: 200, body: 'fine', errorId: undefined }, `the session still answers after ${path}`);
  }

  // HTTP/1.1 refuses a line break in a value (it would split the header block).
  const h1 = await h1Get(s.httpPort, '/newline.html');
  await flushed(s.logs, h1);
  assertLoggedOnce(s.logs, h1, /ERR_INVALID_CHAR/);
  assert.equal((await h1Get(s.httpPort, '/')).status, 200);
});

test('a file that cannot be opened is answered 500 with an error id over HTTP/2, and the session carries on', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'fine', 'gone.bin': 'bytes' } } });
  const live = (s.server.sites.byHost.get('localhost') as SiteState).release as ServedRelease;
  // A release whose file went missing under it (removed by hand, a damaged disk).
  await rm(locateRow(live, live.files.rows.get('/gone.bin') as number, undefined));
  const session = h2Session(s.httpsPort);
  t.after(() => session.destroy());
  for (let i = 0; i < 2; i++) {
    const answer = await h2Get(session, '/gone.bin');
    await flushed(s.logs, answer);
    assertLoggedOnce(s.logs, answer, /ENOENT/);
    assert.deepEqual(await h2Get(session, '/'), { status: 200, body: 'fine', errorId: undefined });
  }
});
