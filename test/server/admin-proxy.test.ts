import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { adminSocketPath } from '../../src/admin/admin-socket.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';

const ADMIN = 'admin.localhost';
const FILES = { 'index.html': '<h1>site</h1>' };

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A stand-in for the admin app on the server's admin socket, in the place
 * of the control plane's (test/api/ tests the real one): records what reaches it, answers
 * `/events` as an event stream whose events the test releases one by one,
 * and never answers `/slow`.
 */
async function standIn(t: TestContext, s: ServeProcess) {
  const path = adminSocketPath(join(s.root, 'data'));
  const seen: Seen[] = [];
  const streams: ServerResponse[] = [];
  const streamOpened: Array<(res: ServerResponse) => void> = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === '/slow') return;
      if (req.url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        res.write('data: 0\n\n');
        streams.push(res);
        streamOpened.shift()?.(res);
        return;
      }
      res.writeHead(201, [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['keep-alive', 'timeout=5'], ['x-answer', 'yes']].flat());
      res.end(`answered ${req.method} ${req.url}`);
    });
  });
  // The control plane's socket is taken over once it is there (it would be renamed over this one otherwise).
  assert.ok(await s.waitForLine((line) => line.msg === 'dashboard and API ready', 30_000), JSON.stringify(s.lines));
  await rm(path, { force: true });
  server.listen(path);
  await once(server, 'listening');
  // The test runs as root; the workers may not: connecting takes write permission on the socket.
  await chmod(path, 0o666);
  onCleanup(t, async () => {
    for (const res of streams) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { seen, nextStream: () => new Promise<ServerResponse>((resolve) => streamOpened.push(resolve)) };
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a connection of its own. `unfinished`: the body is
 * written but the request not ended, as a client still uploading: the
 * answer is all that is waited for.
 */
function send(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string; unfinished?: boolean } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: { host: ADMIN, ...options.headers }, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    // A server that answers before it has read the whole body closes the connection under the rest of it.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (options.unfinished === true) req.write(options.body ?? '');
    else req.end(options.body);
  });
}

/** Reads an event stream's chunks as they come, one `next()` at a time. */
function eventReader(stream: NodeJS.ReadableStream): () => Promise<string> {
  const iterator = stream[Symbol.asyncIterator]();
  return async () => {
    const { value, done } = await iterator.next();
    assert.equal(done, false, 'the event stream ended early');
    return Buffer.from(value as Buffer).toString();
  };
}

describe('the admin host', () => {
  it('is forwarded to the admin socket over plain HTTP, headers, bodies and event streams included', async (t) => {
    const s = await startServeProcess(t, {
      server: 'workers = 1',
      tables: `[admin]\ndomain = "${ADMIN}"`,
      files: FILES,
      env: { BERTH_TEST_ADMIN_HEADERS_TIMEOUT_MS: '500' },
    });
    // The control plane's own admin app is taken away, as if it were not started yet: the workers find no socket.
    assert.ok(await s.waitForLine((line) => line.msg === 'dashboard and API ready', 30_000), JSON.stringify(s.lines));
    await rm(adminSocketPath(join(s.root, 'data')), { force: true });
    const starting = await send(s.httpPort, '/');
    assert.equal(starting.status, 503);
    assert.equal(starting.headers['retry-after'], '5');
    assert.match(starting.body, /dashboard is starting/);

    const app = await standIn(t, s);
    const got = await send(s.httpPort, '/api/sites?x=1', {
      headers: { 'x-berth-client-address': '6.6.6.6', 'x-berth-client-proto': 'https', 'x-custom': 'kept', 'x-drop-me': 'gone', connection: 'x-drop-me', cookie: 'session=abc' },
    });
    assert.equal(got.status, 201, JSON.stringify(s.lines.filter((line) => line.kind === 'admin-proxy')));
    assert.equal(got.body, 'answered GET /api/sites?x=1');
    assert.deepEqual(got.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(got.headers['x-answer'], 'yes');
    const get = app.seen.at(-1) as Seen;
    assert.equal(get.method, 'GET');
    assert.equal(get.url, '/api/sites?x=1');
    assert.equal(get.headers.host, ADMIN);
    assert.equal(get.headers['x-berth-client-address'], '127.0.0.1');
    assert.equal(get.headers['x-berth-client-proto'], 'http');
    assert.equal(get.headers['x-custom'], 'kept');
    assert.equal(get.headers.cookie, 'session=abc');
    assert.equal(get.headers['x-drop-me'], undefined);

    const posted = await send(s.httpPort, '/api/deploys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"site":"site"}' });
    assert.equal(posted.status, 201, JSON.stringify(s.lines.filter((line) => line.kind === 'admin-proxy')));
    const post = app.seen.at(-1) as Seen;
    assert.equal(post.method, 'POST');
    assert.equal(post.body, '{"site":"site"}');
    assert.equal(post.headers['content-type'], 'application/json');

    // Over the bound, declared or streamed: 413, and the admin app never sees a whole body.
    const before = app.seen.length;
    const declared = await send(s.httpPort, '/api/upload', { method: 'POST', headers: { 'content-length': String(2 * 1024 * 1024) }, unfinished: true });
    assert.equal(declared.status, 413);
    assert.equal(declared.headers.connection, 'close');
    const streamed = await send(s.httpPort, '/api/upload', { method: 'POST', body: Buffer.alloc(1024 * 1024 + 64 * 1024, 'a'), unfinished: true });
    assert.equal(streamed.status, 413);
    assert.ok(app.seen.slice(before).every((request) => request.body.length <= 1024 * 1024));

    // An event stream: each event arrives while the admin app still holds the stream open.
    const opened = app.nextStream();
    const events = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: s.httpPort, path: '/events', headers: { host: ADMIN }, agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(events.headers['content-type'], 'text/event-stream');
    const upstream = await opened;
    const next = eventReader(events);
    assert.equal(await next(), 'data: 0\n\n');
    upstream.write('data: 1\n\n');
    assert.equal(await next(), 'data: 1\n\n');
    upstream.write('data: 2\n\n');
    assert.equal(await next(), 'data: 2\n\n');
    // The browser leaves: the admin app's side of the stream is closed, unfinished.
    const upstreamClosed = once(upstream, 'close');
    events.destroy();
    await upstreamClosed;
    assert.equal(upstream.writableEnded, false);

    // An admin app that never starts its answer: 504 (after the shortened 30 s).
    assert.equal((await send(s.httpPort, '/slow')).status, 504);

    // Health answers on the admin host as on any other.
    const health = await send(s.httpPort, '/_berth/health');
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok\n');
    assert.equal(app.seen.some((request) => request.url === '/_berth/health'), false);
    // The site is untouched, and Berth's own paths on it stay Berth's.
    assert.equal((await send(s.httpPort, '/', { headers: { host: 'localhost' } })).body, '<h1>site</h1>');
    assert.equal((await send(s.httpPort, '/_berth/admin', { headers: { host: 'localhost' } })).status, 404);
    assert.deepEqual(s.workerDeaths(), []);
  });

  it('redirects plain HTTP to HTTPS, and answers HTTP/1.1 and HTTP/2 over TLS with the admin domain\'s certificate', async (t) => {
    const s = await startServeProcess(t, { server: 'workers = 1\nhttps_redirect = true', tables: `[admin]\ndomain = "${ADMIN}"`, files: FILES });
    const redirect = await send(s.httpPort, '/login?next=%2F');
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.location, `https://${ADMIN}:${s.httpsPort}/login?next=%2F`);
    assert.equal((await send(s.httpPort, '/_berth/health')).status, 200);

    const app = await standIn(t, s);
    // SNI picks a certificate that names the admin domain.
    const names = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: s.httpsPort, servername: ADMIN, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerCertificate().subjectaltname ?? '');
        socket.end();
      });
      socket.on('error', reject);
    });
    assert.match(names, new RegExp(`DNS:${ADMIN.replace('.', '\\.')}`));

    const h1 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: s.httpsPort, path: '/api/me', servername: ADMIN, headers: { host: ADMIN, 'x-berth-client-proto': 'http' }, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(h1.status, 201);
    assert.equal(app.seen.at(-1)?.headers['x-berth-client-proto'], 'https');

    const session = http2Connect(`https://127.0.0.1:${s.httpsPort}`, { rejectUnauthorized: false, servername: ADMIN });
    session.on('error', () => undefined);
    onCleanup(t, () => session.destroy());
    const posted = session.request({ ':method': 'POST', ':path': '/api/deploys', ':authority': `${ADMIN}:${s.httpsPort}`, 'x-berth-client-address': '6.6.6.6', 'content-type': 'application/json' });
    posted.end('{"h2":true}');
    const [headers] = (await once(posted, 'response')) as [Record<string, string | string[]>];
    let body = '';
    for await (const chunk of posted) body += String(chunk);
    assert.equal(headers[':status'], 201);
    assert.deepEqual(headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(body, 'answered POST /api/deploys');
    const post = app.seen.at(-1) as Seen;
    assert.equal(post.body, '{"h2":true}');
    assert.equal(post.headers.host, `${ADMIN}:${s.httpsPort}`);
    assert.equal(post.headers['x-berth-client-address'], '127.0.0.1');
    assert.equal(post.headers['x-berth-client-proto'], 'https');

    const opened = app.nextStream();
    const events = session.request({ ':path': '/events', ':authority': ADMIN });
    const [eventHeaders] = (await once(events, 'response')) as [Record<string, string>];
    assert.equal(eventHeaders['content-type'], 'text/event-stream');
    const upstream = await opened;
    const next = eventReader(events);
    assert.equal(await next(), 'data: 0\n\n');
    upstream.write('data: 1\n\n');
    assert.equal(await next(), 'data: 1\n\n');
    const upstreamClosed = once(upstream, 'close');
    events.close();
    await upstreamClosed;
    assert.equal(upstream.writableEnded, false);

    const big = session.request({ ':method': 'POST', ':path': '/api/upload', ':authority': ADMIN });
    big.on('error', () => undefined);
    big.write(Buffer.alloc(2 * 1024 * 1024, 'a'));
    const [bigHeaders] = (await once(big, 'response')) as [Record<string, unknown>];
    assert.equal(bigHeaders[':status'], 413);
    assert.deepEqual(s.workerDeaths(), []);
  });
});
