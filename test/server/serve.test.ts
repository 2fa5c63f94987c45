import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { once } from 'node:events';
import { eventually, get, getH2, rawExchange, rawRequest, startTestServer } from '../helpers/server.ts';

const html = `<!doctype html><title>Home</title>${'<p>Some text that compresses well. '.repeat(50)}`;
const css = 'main { margin: 0 auto; }\n'.repeat(40);
const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefghij');

const files = {
  'index.html': html,
  'about/index.html': '<h1>About</h1>',
  'contact.html': '<h1>Contact</h1>',
  '_astro/page.BX3kd9_a.css': css,
  'big.bin': big,
  '404.html': '<h1>Root 404</h1>',
  'docs/404.html': '<h1>Docs 404</h1>',
  'docs/index.html': '<h1>Docs</h1>',
  '.well-known/security.txt': 'Contact: mailto:security@example.com',
  '_redirects': '/old /about/ 301\n/go/* /docs/:splat 302\n/spa/* /index.html 200\n/gone /404.html 410\n/contact /elsewhere 302!\n/contact.html /about/ 301',
  '_headers': '/docs/*\n  X-Docs: yes\n/_astro/*\n  Access-Control-Allow-Origin: *',
};

test('serves files with the headers prepared at publish', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const res = await get(s.httpPort, '/');
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), html);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(html)));
  const hash = createHash('sha256').update(html).digest('hex');
  assert.equal(res.headers.etag, `"${hash.slice(0, 16)}"`);
  assert.equal(res.headers['cache-control'], 'public, max-age=0, must-revalidate');
  assert.equal(res.headers['x-content-type-options'], 'nosniff');
  assert.equal(res.headers['referrer-policy'], 'strict-origin-when-cross-origin');
  assert.equal(res.headers['accept-ranges'], 'bytes');
  assert.equal(res.headers.vary, 'Accept-Encoding');
  assert.ok(res.headers['last-modified']);

  const asset = await get(s.httpPort, '/_astro/page.BX3kd9_a.css');
  assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(asset.headers['access-control-allow-origin'], '*');
  assert.equal(asset.body.toString(), css);

  const head = await get(s.httpPort, '/', {}, 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], String(Buffer.byteLength(html)));
});

test('negotiates br and gzip, with an ETag per encoding', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const br = await get(s.httpPort, '/', { 'accept-encoding': 'gzip, deflate, br, zstd' });
  assert.equal(br.headers['content-encoding'], 'br');
  assert.equal(brotliDecompressSync(br.body).toString(), html);
  assert.match(String(br.headers.etag), /-br"$/);
  const gz = await get(s.httpPort, '/', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gz.body).toString(), html);
  assert.match(String(gz.headers.etag), /-gz"$/);
  const none = await get(s.httpPort, '/', { 'accept-encoding': 'br;q=0, gzip;q=0' });
  assert.equal(none.headers['content-encoding'], undefined);
  assert.equal(none.body.toString(), html);
});

test('answers conditional requests with 304', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const first = await get(s.httpPort, '/');
  const etag = String(first.headers.etag);
  const cached = await get(s.httpPort, '/', { 'if-none-match': etag });
  assert.equal(cached.status, 304);
  assert.equal(cached.body.length, 0);
  assert.equal(cached.headers.etag, etag);
  const list = await get(s.httpPort, '/', { 'if-none-match': `"nope", W/${etag}` });
  assert.equal(list.status, 304, 'a weak validator in a list still matches');
  assert.equal((await get(s.httpPort, '/', { 'if-none-match': '*' })).status, 304);
  assert.equal((await get(s.httpPort, '/', { 'if-none-match': '"other"' })).status, 200);
  const lastModified = String(first.headers['last-modified']);
  assert.equal((await get(s.httpPort, '/', { 'if-modified-since': lastModified })).status, 304);
  assert.equal((await get(s.httpPort, '/', { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' })).status, 200);
  assert.equal((await get(s.httpPort, '/', { 'if-modified-since': 'not a date' })).status, 200);
  // If-None-Match wins over If-Modified-Since.
  assert.equal((await get(s.httpPort, '/', { 'if-none-match': '"other"', 'if-modified-since': lastModified })).status, 200);
});

test('serves single ranges, suffix ranges and 416, from memory and from disk', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const part = await get(s.httpPort, '/', { range: 'bytes=0-9' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 0-9/${Buffer.byteLength(html)}`);
  assert.equal(part.body.toString(), html.slice(0, 10));
  const suffix = await get(s.httpPort, '/big.bin', { range: 'bytes=-5' });
  assert.equal(suffix.status, 206);
  assert.equal(suffix.headers['content-length'], '5');
  assert.deepEqual(suffix.body, big.subarray(big.length - 5));
  const middle = await get(s.httpPort, '/big.bin', { range: 'bytes=1048576-1048585' });
  assert.deepEqual(middle.body, big.subarray(1048576, 1048586));
  const unsatisfiable = await get(s.httpPort, '/', { range: 'bytes=999999-' });
  assert.equal(unsatisfiable.status, 416);
  assert.equal(unsatisfiable.headers['content-range'], `bytes */${Buffer.byteLength(html)}`);
  const multi = await get(s.httpPort, '/', { range: 'bytes=0-1,3-4' });
  assert.equal(multi.status, 200);
  assert.equal(multi.body.toString(), html);
  for (const bad of ['bytes=abc', 'bytes=5-2', 'lines=1-2', 'bytes=', 'bytes=--1']) {
    const res = await get(s.httpPort, '/', { range: bad });
    assert.equal(res.status, 200, bad);
  }
  const stale = await get(s.httpPort, '/', { range: 'bytes=0-9', 'if-range': '"stale"' });
  assert.equal(stale.status, 200, 'If-Range with another ETag gets the whole file');
});

test('streams a large file from disk in full', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const res = await get(s.httpPort, '/big.bin');
  assert.equal(res.status, 200);
  assert.equal(res.body.length, big.length);
  assert.ok(res.body.equals(big));
});

test('one trailing-slash policy by 308, keeping the query', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const dir = await get(s.httpPort, '/about?x=1');
  assert.equal(dir.status, 308);
  assert.equal(dir.headers.location, '/about/?x=1');
  assert.equal((await get(s.httpPort, '/about/')).body.toString(), '<h1>About</h1>');
  const page = await get(s.httpPort, '/docs/');
  assert.equal(page.status, 200);
  const forced = await get(s.httpPort, '/contact');
  assert.equal(forced.status, 302, 'a forced rule applies even though /contact.html exists');
  assert.equal(forced.headers.location, '/elsewhere');
  const slashes = await get(s.httpPort, '//evil.example/');
  assert.equal(slashes.status, 308);
  assert.equal(slashes.headers.location, '/evil.example/', 'never to another host');
});

test('serves the nearest 404.html with status 404', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const root = await get(s.httpPort, '/nope');
  assert.equal(root.status, 404);
  assert.equal(root.body.toString(), '<h1>Root 404</h1>');
  const docs = await get(s.httpPort, '/docs/deep/missing.html');
  assert.equal(docs.status, 404);
  assert.equal(docs.body.toString(), '<h1>Docs 404</h1>');
});

test('applies _redirects rules: redirects, splats, rewrites, 410', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const moved = await get(s.httpPort, '/old?ref=x');
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.location, '/about/?ref=x');
  const splat = await get(s.httpPort, '/go/a/b');
  assert.equal(splat.status, 302);
  assert.equal(splat.headers.location, '/docs/a/b');
  const rewrite = await get(s.httpPort, '/spa/any/route');
  assert.equal(rewrite.status, 200);
  assert.equal(rewrite.body.toString(), html);
  const gone = await get(s.httpPort, '/gone');
  assert.equal(gone.status, 410);
  assert.equal(gone.body.toString(), '<h1>Root 404</h1>');
  // A non-forced rule does not shadow an existing file.
  assert.equal((await get(s.httpPort, '/contact.html')).status, 200);
  assert.equal((await get(s.httpPort, '/docs/')).headers['x-docs'], 'yes');
});

test('never serves dotfiles, the manifest, or anything outside the release', async (t) => {
  const s = await startTestServer(t, { files: { site: { ...files, '.env': 'SECRET=1' } } });
  for (const path of ['/.env', '/.berth-manifest.json', '/.berth-release.json', '/.git/config', '/index.html.br']) {
    const res = await get(s.httpPort, path);
    assert.notEqual(res.status, 200, path);
    assert.ok(!res.body.toString().includes('SECRET'), path);
  }
  assert.equal((await get(s.httpPort, '/.well-known/security.txt')).status, 200);
  for (const path of ['/../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/%5c..%5cetc']) {
    const raw = await rawRequest(s.httpPort, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 400 /, path);
    assert.ok(!raw.includes('root:'), path);
  }
});

test('GET and HEAD only; other methods get 405 with Allow', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND']) {
    const res = await get(s.httpPort, '/', {}, method);
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.allow, 'GET, HEAD');
  }
});

test('routes by Host and never serves another site for an unknown one', async (t) => {
  const s = await startTestServer(t, {
    sites: [
      { name: 'one', domains: ['one.test'] },
      { name: 'two', domains: ['two.test', 'www.two.test'] },
    ],
    files: { one: { 'index.html': 'site one' }, two: { 'index.html': 'site two' } },
  });
  assert.equal((await get(s.httpPort, '/', { host: 'one.test' })).body.toString(), 'site one');
  assert.equal((await get(s.httpPort, '/', { host: 'TWO.test:8080' })).body.toString(), 'site two');
  assert.equal((await get(s.httpPort, '/', { host: 'www.two.test.' })).body.toString(), 'site two');
  for (const host of ['three.test', 'one.test.evil', '', 'one.test@two.test', '[::1]']) {
    const res = await get(s.httpPort, '/', { host });
    assert.equal(res.status, 421, host);
    assert.doesNotMatch(res.body.toString(), /site (one|two)/, host);
  }
  const noHost = await rawRequest(s.httpPort, 'GET / HTTP/1.0\r\n\r\n');
  assert.match(noHost, /^HTTP\/1\.1 421 /);
  const h2 = await getH2(s.httpsPort, '/', { ':authority': 'two.test' }, 'two.test');
  assert.equal(h2.body.toString(), 'site two');
  const crossed = await getH2(s.httpsPort, '/', { ':authority': 'two.test' }, 'one.test');
  assert.equal(crossed.status, 421, 'a connection made for one site cannot fetch another');
});

test('HTTPS speaks HTTP/2 by ALPN and HTTP/1.1 as a fallback', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const h2 = await getH2(s.httpsPort, '/', { 'accept-encoding': 'br' });
  assert.equal(h2.alpn, 'h2');
  assert.equal(h2.status, 200);
  assert.equal(brotliDecompressSync(h2.body).toString(), html);
  const { request } = await import('node:https');
  const h1 = await new Promise<{ status: number; body: string; version: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.httpsPort, path: '/about/', servername: 'localhost', headers: { host: 'localhost' }, rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, version: res.httpVersion }));
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(h1.version, '1.1');
  assert.equal(h1.body, '<h1>About</h1>');
});

test('a publish goes live in the running server at once, and a rollback too', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'version one' } } });
  assert.equal((await get(s.httpPort, '/')).body.toString(), 'version one');
  const second = await s.publish('site', { 'index.html': 'version two' });
  assert.ok(await eventually(async () => (await get(s.httpPort, '/')).body.toString() === 'version two'), 'new release served');
  assert.equal(s.server.sites.sites[0]?.release?.id, second);
  const { activateRelease, previousReleaseId } = await import('../../src/releases/activate.ts');
  const { sitePaths } = await import('../../src/releases/site-paths.ts');
  const paths = sitePaths(s.config.dataDir, 'site');
  await activateRelease(paths, await previousReleaseId(paths));
  assert.ok(await eventually(async () => (await get(s.httpPort, '/')).body.toString() === 'version one'), 'rolled back');
});

test('a site with no release yet answers 503, and health is always up', async (t) => {
  const s = await startTestServer(t);
  assert.equal((await get(s.httpPort, '/')).status, 503);
  const health = await get(s.httpPort, '/_berth/health');
  assert.equal(health.status, 200);
  assert.equal((await get(s.httpPort, '/_berth/other')).status, 404);
});

test('rejects over-long URLs and header blocks with 431', async (t) => {
  const s = await startTestServer(t, { files: { site: files }, server: 'max_header_size = "8KiB"' });
  const longUrl = await rawRequest(s.httpPort, `GET /${'a'.repeat(10_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  assert.match(longUrl, /^HTTP\/1\.1 431 /);
  const longHeader = await rawRequest(s.httpPort, `GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`);
  assert.match(longHeader, /^HTTP\/1\.1 431 /);
  const garbage = await rawRequest(s.httpPort, 'NOT HTTP AT ALL\r\n\r\n');
  assert.match(garbage, /^HTTP\/1\.1 400 /);
});

test('closes a connection that sends its headers too slowly', async (t) => {
  const s = await startTestServer(t, { files: { site: files }, server: 'headers_timeout = "1s"\nrequest_timeout = "2s"' });
  const { text, closedBy } = await rawExchange(s.httpPort, 'GET / HTTP/1.1\r\nHost: localhost\r\n');
  assert.equal(closedBy, 'server', 'the server closed the connection, the client did not give up');
  assert.match(text, /^(HTTP\/1\.1 408 |$)/);
});

test('logs one structured line per request', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  await get(s.httpPort, '/about/');
  assert.ok(await eventually(async () => s.logs.some((line) => line.kind === 'access')));
  const line = s.logs.find((entry) => entry.kind === 'access');
  assert.equal(line?.url, '/about/');
  assert.equal(line?.status, 200);
  assert.equal(line?.host, 'localhost');
  assert.equal(typeof line?.release, 'string');
});

test('keeps health probes out of the access log at the info level', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  for (let probe = 0; probe < 3; probe += 1) assert.equal((await get(s.httpPort, '/_berth/health')).status, 200);
  await get(s.httpPort, '/about/');
  assert.ok(await eventually(async () => s.logs.some((line) => line.kind === 'access' && line.url === '/about/')));
  assert.deepEqual(s.logs.filter((line) => line.kind === 'access' && line.url === '/_berth/health'), [], 'no info line for a probe');
});

test('shutdown lets a request in flight finish', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const response = new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: s.httpPort, path: '/big.bin', headers: { host: 'localhost' }, agent: false }, (res) => {
      let length = 0;
      res.once('data', (chunk: Buffer) => {
        length += chunk.length;
        void s.server.stop();
        res.on('data', (more: Buffer) => (length += more.length));
      });
      res.on('end', () => resolve(length));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(await response, big.length);
  await assert.rejects(get(s.httpPort, '/'), { code: 'ECONNREFUSED' });
});

test('closes a TLS connection that sends its headers too slowly', async (t) => {
  const { connect } = await import('node:tls');
  const s = await startTestServer(t, { files: { site: files }, server: 'headers_timeout = "1s"\nrequest_timeout = "2s"\nidle_timeout = "30s"' });
  const closedBy = await new Promise<'server' | 'client'>((resolve) => {
    let gaveUp = false;
    const socket = connect({ host: '127.0.0.1', port: s.httpsPort, rejectUnauthorized: false, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(gaveUp ? 'client' : 'server'));
    // Only against a hang: the assertion is on who closed, not when.
    setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, 60_000).unref();
  });
  assert.equal(closedBy, 'server', 'the server closed the connection, the client did not give up');
});

test('a release that fails to load is logged and the previous one keeps serving', async (t) => {
  const { writeFile: write } = await import('node:fs/promises');
  const { join: joinPath } = await import('node:path');
  const { activateRelease } = await import('../../src/releases/activate.ts');
  const { sitePaths } = await import('../../src/releases/site-paths.ts');
  const s = await startTestServer(t, { files: { site: { 'index.html': 'good' } } });
  const paths = sitePaths(s.config.dataDir, 'site');
  const { publishRelease } = await import('../../src/releases/publish.ts');
  const { writeTree } = await import('../helpers/temp.ts');
  const dir = joinPath(s.root, 'broken');
  await writeTree(dir, { 'index.html': 'broken' });
  const broken = await publishRelease({ dataDir: s.config.dataDir, site: 'site', sourceDir: dir, retain: 10, activate: false });
  await write(joinPath(broken.releaseDir, '.berth-manifest.json'), '{"version": 1, "truncated');
  await activateRelease(paths, broken.id);
  assert.ok(await eventually(async () => s.logs.some((line) => line.msg === 'cannot load release; still serving the previous one')));
  assert.equal((await get(s.httpPort, '/')).body.toString(), 'good');
});

test('refuses a request with two Host headers', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const raw = await rawRequest(s.httpPort, 'GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400 /);
  assert.ok(!raw.includes('Some text'), 'no site content');
});

test('ignores malformed and hostile conditional headers', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  for (const headers of [
    { 'if-none-match': 'garbage' },
    { 'if-none-match': '"' },
    { 'if-none-match': `"${'a'.repeat(4000)}"` },
    { 'if-modified-since': '' },
    { 'if-modified-since': 'Sun, 99 Foo 99999 99:99:99 GMT' },
    { 'if-modified-since': '-1' },
    { 'if-range': 'Tue, 01 Jan 2999 00:00:00 GMT', range: 'bytes=0-1' },
  ]) {
    const res = await get(s.httpPort, '/', headers);
    assert.equal(res.status, 200, JSON.stringify(headers).slice(0, 80));
    assert.equal(res.body.toString(), html);
  }
});

test('caps concurrent connections per listener', async (t) => {
  const { connect } = await import('node:net');
  const s = await startTestServer(t, { files: { site: files }, server: 'max_connections = 2' });
  const open = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<import('node:net').Socket>((resolve, reject) => {
          const socket = connect(s.httpPort, '127.0.0.1', () => resolve(socket));
          socket.on('error', reject);
        }),
    ),
  );
  t.after(() => open.forEach((socket) => socket.destroy()));
  // An answer on each proves the server holds both before the third arrives.
  await Promise.all(
    open.map((socket) => {
      const answered = once(socket, 'data');
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      return answered;
    }),
  );
  const third = await rawExchange(s.httpPort, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  assert.deepEqual(third, { text: '', closedBy: 'server' }, 'the server closes the third connection without an answer');
  open.forEach((socket) => socket.destroy());
  const accepted = await eventually(async () => (await get(s.httpPort, '/').catch(() => undefined))?.status === 200);
  assert.ok(accepted, 'connections are accepted again once others closed');
});

test('HTTP/2 answers conditionals, ranges, HEAD, large files and 404s like HTTP/1.1', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const first = await getH2(s.httpsPort, '/');
  assert.equal(first.status, 200);
  assert.equal(first.headers['x-content-type-options'], 'nosniff');
  assert.ok(first.headers.date, 'a Date header is sent');
  const etag = String(first.headers.etag);
  assert.equal((await getH2(s.httpsPort, '/', { 'if-none-match': etag })).status, 304);
  const large = await getH2(s.httpsPort, '/big.bin');
  assert.equal(large.status, 200);
  assert.ok(large.body.equals(big), 'the streamed file arrives whole');
  const part = await getH2(s.httpsPort, '/big.bin', { range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 100-199/${big.length}`);
  assert.ok(part.body.equals(big.subarray(100, 200)));
  const head = await getH2(s.httpsPort, '/', { ':method': 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  const missing = await getH2(s.httpsPort, '/docs/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.toString(), '<h1>Docs 404</h1>');
  const post = await getH2(s.httpsPort, '/', { ':method': 'POST' });
  assert.equal(post.status, 405);
  assert.ok(await eventually(async () => s.logs.some((line) => line.kind === 'access' && line.url === '/docs/nope' && line.status === 404)));
});

test('webhook URLs answer over HTTP/1.1 and HTTP/2 before any site content is looked at', async (t) => {
  const s = await startTestServer(t, { files: { site: files } });
  const { connect } = await import('node:http2');
  const session = connect(`https://localhost:${s.httpsPort}`, { rejectUnauthorized: false });
  t.after(() => session.close());
  const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/_berth/hooks/site', ':authority': 'localhost', 'content-type': 'application/json' });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
    stream.end('{}');
  });
  assert.equal(h2.status, 401, 'this site has no webhook configured');
  assert.equal(JSON.parse(h2.body).error, 'E_WEBHOOK_SIGNATURE');
  const h1 = await get(s.httpPort, '/_berth/hooks/site');
  assert.equal(h1.status, 405);
  assert.equal(h1.headers.allow, 'POST');
  const unknown = await getH2(s.httpsPort, '/_berth/hooks/nope', { ':method': 'POST' });
  assert.equal(unknown.status, 401, 'the same answer as a site that exists, so site names cannot be guessed');
});
