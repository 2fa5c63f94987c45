import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createChallengeStore } from '../../src/acme/challenge-store.ts';
import { get, getH2, rawRequest, startTestServer } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { siteFixture } from '../webhooks/helpers.ts';
import { routeRequest, type IncomingRequest } from '../../src/server/route-request.ts';
import { createSiteTable } from '../../src/server/site-table.ts';

const SITE = { 'index.html': '<h1>home</h1>', 'docs/index.html': '<h1>docs</h1>', '.well-known/acme-challenge/site-file': 'from the site' };

function getTls(port: number, path: string, host: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; rawHeaders: string[] }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { host }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('plain HTTP redirects to HTTPS', () => {
  it('answers site requests with 308 to the same host and path, keeping the query', async (t) => {
    const server = await startTestServer(t, { server: 'https_redirect = true', sites: [{ name: 'site', domains: ['example.com', 'www.example.com', '::1'] }], files: { site: SITE } });
    const port = server.httpsPort;
    const cases: Array<[string, string, string]> = [
      ['example.com', '/', `https://example.com:${port}/`],
      ['WWW.Example.com:80', '/docs/?page=2&x=%2F', `https://www.example.com:${port}/docs/?page=2&x=%2F`],
      ['example.com', '//evil.example/path', `https://example.com:${port}//evil.example/path`],
      ['example.com', '/\\evil.example', `https://example.com:${port}/\\evil.example`],
      ['[::1]', '/a', `https://[::1]:${port}/a`],
    ];
    for (const [host, path, location] of cases) {
      const response = await get(server.httpPort, path, { host });
      assert.equal(response.status, 308, `${host} ${path}`);
      assert.equal(response.headers.location, location, `${host} ${path}`);
      assert.equal(response.headers['cache-control'], 'no-store');
    }
    // Node's parser refuses raw non-ASCII bytes in the target before Berth sees them; the server carries on.
    const raw = await rawRequest(server.httpPort, 'GET /caf\xe9?q=\xff HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400/);
    assert.equal((await get(server.httpPort, '/', { host: 'example.com' })).status, 308);
  });

  it('does not redirect unknown hosts, Berth\'s own paths, or a request target that is not a path', async (t) => {
    const server = await startTestServer(t, { server: 'https_redirect = true', sites: [{ name: 'site', domains: ['example.com'] }], files: { site: SITE } });
    assert.equal((await get(server.httpPort, '/', { host: 'attacker.example' })).status, 421);
    const health = await get(server.httpPort, '/_berth/health', { host: 'example.com' });
    assert.equal(health.status, 200);
    // Health answers on any host (a container probing 127.0.0.1), and is never redirected.
    assert.equal((await get(server.httpPort, '/_berth/health', { host: '127.0.0.1' })).status, 200);
    const hook = await get(server.httpPort, '/_berth/hooks/site', { host: 'example.com' }, 'POST');
    assert.notEqual(hook.status, 308);
    // An absolute-form target's authority takes the place of Host (RFC 9112 3.2.2): another host is 421, never a redirect.
    const absolute = await rawRequest(server.httpPort, 'GET http://other.example/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    assert.match(absolute, /^HTTP\/1\.1 421/);
    const ours = await rawRequest(server.httpPort, 'GET http://example.com/x?y HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n');
    assert.match(ours, /^HTTP\/1\.1 308/);
    assert.match(ours, new RegExp(`\r\nlocation: https://example\\.com:${server.httpsPort}/x\\?y\r\n`, 'i'));
    const notAPath = await rawRequest(server.httpPort, 'GET ftp://example.com/x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
    assert.match(notAPath, /^HTTP\/1\.1 400/);
    const twoHosts = await rawRequest(server.httpPort, 'GET / HTTP/1.1\r\nHost: example.com\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    assert.match(twoHosts, /^HTTP\/1\.1 400/);
  });

  it('leaves plain HTTP alone when the redirect is off (the default with ACME off and no certificate)', async (t) => {
    const server = await startTestServer(t, { sites: [{ name: 'site', domains: ['example.com'] }], files: { site: SITE } });
    assert.equal(server.config.server.httpsRedirect, false);
    const response = await get(server.httpPort, '/', { host: 'example.com' });
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), '<h1>home</h1>');
  });

  it('writes the public HTTPS port from https_redirect_port, for port forwards', async (t) => {
    const forwarded = await startTestServer(t, { server: 'https_redirect = true\nhttps_redirect_port = 443', sites: [{ name: 'site', domains: ['example.com'] }], files: { site: SITE } });
    assert.equal((await get(forwarded.httpPort, '/a?b', { host: 'example.com' })).headers.location, 'https://example.com/a?b');
    const published = await startTestServer(t, { server: 'https_redirect = true\nhttps_redirect_port = 8443', sites: [{ name: 'site', domains: ['example.com'] }], files: { site: SITE } });
    assert.equal((await get(published.httpPort, '/a', { host: 'example.com' })).headers.location, 'https://example.com:8443/a');
  });

  it('omits the port from the location when HTTPS is on 443, and encodes what a header cannot carry', () => {
    const table = createSiteTable([siteFixture('github')]);
    const location = (url: string, port: number): string | undefined => {
      const { headers } = routeRequest(table, request(url), port).reply;
      return headers[headers.indexOf('location') + 1];
    };
    const request = (url: string): IncomingRequest => ({ method: 'GET', url, authority: 'blog.example.com', headers: {}, servername: undefined, duplicateHost: false });
    assert.equal(location('/x?y=1', 443), 'https://blog.example.com/x?y=1');
    assert.equal(location('/x', 8443), 'https://blog.example.com:8443/x');
    // A parser that let latin1 bytes through would hand them over like this.
    assert.equal(location('/caf\xe9 x', 443), 'https://blog.example.com/caf%E9%20x');
    assert.equal(routeRequest(table, request('*'), 443).reply.status, 400);
  });
});

describe('Strict-Transport-Security', () => {
  it('is sent on HTTPS responses (HTTP/1.1 and HTTP/2) of a site that asks for it, never on plain HTTP', async (t) => {
    const server = await startTestServer(t, {
      server: 'https_redirect = false',
      sites: [
        { name: 'strict', domains: ['strict.example'], extra: 'hsts = { max_age = 86400, include_subdomains = true }' },
        { name: 'plain', domains: ['plain.example'] },
      ],
      files: { strict: SITE, plain: SITE },
    });
    const h1 = await getTls(server.httpsPort, '/', 'strict.example');
    assert.equal(h1.status, 200);
    assert.equal(h1.headers['strict-transport-security'], 'max-age=86400; includeSubDomains');
    const missing = await getTls(server.httpsPort, '/missing', 'strict.example');
    assert.equal(missing.headers['strict-transport-security'], 'max-age=86400; includeSubDomains');
    const h2 = await getH2(server.httpsPort, '/', { ':authority': 'strict.example' }, 'strict.example');
    assert.equal(h2.status, 200);
    assert.equal(h2.headers['strict-transport-security'], 'max-age=86400; includeSubDomains');
    const overHttp = await get(server.httpPort, '/', { host: 'strict.example' });
    assert.equal(overHttp.status, 200);
    assert.equal(overHttp.headers['strict-transport-security'], undefined);
    const other = await getTls(server.httpsPort, '/', 'plain.example');
    assert.equal(other.headers['strict-transport-security'], undefined);
    const otherH2 = await getH2(server.httpsPort, '/', { ':authority': 'plain.example' }, 'plain.example');
    assert.equal(otherH2.headers['strict-transport-security'], undefined);
  });

  it('sends only the berth.toml value when _headers also sets it, once, over HTTP/1.1 and HTTP/2', async (t) => {
    const headers = '/*\n  Strict-Transport-Security: max-age=60\n  X-From-Headers: yes\n';
    const server = await startTestServer(t, {
      server: 'https_redirect = false',
      sites: [
        { name: 'strict', domains: ['strict.example'], extra: 'hsts = { max_age = 86400, include_subdomains = true }' },
        { name: 'plain', domains: ['plain.example'] },
      ],
      files: { strict: { ...SITE, _headers: headers }, plain: { ...SITE, _headers: headers } },
    });
    const sent = (raw: readonly string[]): string[] => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]?.toLowerCase() === 'strict-transport-security');
    for (const path of ['/', '/docs/', '/docs/index.html', '/missing']) {
      const h1 = await getTls(server.httpsPort, path, 'strict.example');
      assert.equal(h1.headers['x-from-headers'], path === '/missing' ? undefined : 'yes', `the rest of _headers still applies to ${path}`);
      assert.deepEqual(sent(h1.rawHeaders), ['max-age=86400; includeSubDomains'], `HTTP/1.1 ${path}`);
      const h2 = await getH2Raw(server.httpsPort, path, 'strict.example');
      assert.deepEqual(sent(h2), ['max-age=86400; includeSubDomains'], `HTTP/2 ${path}`);
    }
    // Over plain HTTP the configured header is not sent, and the one from _headers is not either.
    const overHttp = await get(server.httpPort, '/', { host: 'strict.example' });
    assert.equal(overHttp.headers['x-from-headers'], 'yes');
    assert.equal(overHttp.headers['strict-transport-security'], undefined);
    // A site without hsts in berth.toml keeps what its _headers says, once.
    assert.deepEqual(sent((await getTls(server.httpsPort, '/', 'plain.example')).rawHeaders), ['max-age=60']);
    assert.deepEqual(sent(await getH2Raw(server.httpsPort, '/', 'plain.example')), ['max-age=60']);
  });
});

/** An HTTP/2 GET that returns the response's header fields as sent, names and values alternating. */
function getH2Raw(port: number, path: string, host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: host });
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': host });
    let raw: string[] = [];
    stream.on('response', (_headers, _flags, rawHeaders: string[]) => {
      raw = rawHeaders;
    });
    stream.resume();
    stream.on('end', () => {
      session.close();
      resolve(raw);
    });
    stream.on('error', reject);
    stream.end();
  });
}

describe('challenge answers on a server with ACME on', () => {
  it('serves the key authorization as text, and a site file of that name for unknown tokens', async (t) => {
    // ACME on against a CA that is not there: the manager only logs failures; the listener answers as it would.
    const root = await tempDir(t);
    const { startServer } = await import('../../src/app/start-server.ts');
    const { loadConfig } = await import('../../src/config/load-config.ts');
    const { createLogger } = await import('../../src/log/logger.ts');
    const { publishRelease } = await import('../../src/releases/publish.ts');
    const toml = join(root, 'berth.toml');
    await writeFile(
      toml,
      `data_dir = "data"\n[server]\nhost = "127.0.0.1"\nhttp_port = 0\nhttps_port = 0\nhttps_redirect = false\naccess_log = false\n[acme]\ndirectory = "https://127.0.0.1:9/dir"\nretry_delay = "1h"\n[[sites]]\nname = "site"\ndomains = ["localhost", "site.example.com"]\n`,
    );
    await writeTree(join(root, 'public'), SITE);
    const config = await loadConfig(toml, {});
    await publishRelease({ dataDir: config.dataDir, site: 'site', sourceDir: join(root, 'public'), retain: 10 });
    const running = await startServer(config, createLogger({ level: 'silent' }), { manageCertificates: true });
    onCleanup(t, () => running.stop());
    const port = running.listeners.httpPort as number;
    await createChallengeStore(config.dataDir).put('Zm9vYmFy_-1', 'Zm9vYmFy_-1.key-thumbprint');
    const answer = await get(port, '/.well-known/acme-challenge/Zm9vYmFy_-1', { host: 'site.example.com' });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'Zm9vYmFy_-1.key-thumbprint');
    assert.equal(answer.headers['content-type'], 'text/plain');
    const head = await get(port, '/.well-known/acme-challenge/Zm9vYmFy_-1', { host: 'site.example.com' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    await running.ready;
    const siteFile = await get(port, '/.well-known/acme-challenge/site-file', { host: 'site.example.com' });
    assert.equal(siteFile.status, 200);
    assert.equal(siteFile.body.toString(), 'from the site');
    for (const hostile of ['..%2F..%2Fserve.lock', '../../serve.lock', 'a/b', '%00', 'x'.repeat(300)]) {
      const response = await get(port, `/.well-known/acme-challenge/${hostile}`, { host: 'site.example.com' });
      assert.notEqual(response.status, 200, hostile);
      assert.doesNotMatch(response.body.toString(), /^\d+\n?$/, `${hostile} must not read files outside the challenge directory`);
    }
  });
});
