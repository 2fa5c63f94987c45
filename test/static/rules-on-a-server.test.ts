import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { MANIFEST_NAME, type Manifest } from '../../src/releases/manifest.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { scryptPasswordHash } from '../../src/static/basic-auth.ts';
import { createRepo } from '../helpers/git.ts';
import { get, getH2, startTestServer, type SimpleResponse, type TestServer } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';

type Fetch = (path: string, headers?: Record<string, string>, method?: string) => Promise<SimpleResponse>;

/** The same request over HTTP/1.1 (plain) and HTTP/2 (TLS), so every check runs on both. */
function protocols(ports: { httpPort: number; httpsPort: number }): Array<[string, Fetch]> {
  return [
    ['HTTP/1.1', (path, headers = {}, method = 'GET') => get(ports.httpPort, path, headers, method)],
    ['HTTP/2', (path, headers = {}, method = 'GET') => getH2(ports.httpsPort, path, { ...headers, ':method': method })],
  ];
}

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

/** Starts a server on a data dir of the test's making, its one site "site" on localhost, with `env` for its secrets. */
function startOn(t: TestContext, root: string, siteExtra: string, env: NodeJS.ProcessEnv = {}): Promise<TestServer> {
  return startTestServer(t, { root, env, sites: [{ name: 'site', domains: ['localhost'], extra: siteExtra }] });
}

test('answers over HTTP/2 and HTTP/1.1 when several _headers blocks set the same headers for a path', async (t) => {
  const s = await startTestServer(t, {
    files: {
      site: {
        'index.html': '<h1>Home</h1>',
        'page.html': '<h1>Page</h1>',
        '404.html': '<h1>Missing</h1>',
        _headers: [
          '/*',
          '  X-Content-Type-Options: nosniff',
          '  X-Frame-Options: DENY',
          '  Cache-Control: no-transform',
          '  Link: </a.css>; rel=preload',
          '  Set-Cookie: a=1',
          '  Vary: Origin',
          '/index.html',
          '  X-Content-Type-Options: nosniff',
          '  X-Frame-Options: SAMEORIGIN',
          '  Content-Type: text/html; charset=utf-8',
          '  Cache-Control: max-age=60',
          '  Link: </b.css>; rel=preload',
          '  Set-Cookie: b=2',
          '/',
          '  Content-Type: text/html; charset=utf-8',
          '  Content-Language: en',
          '/*',
          '  Content-Language: de',
        ].join('\n'),
      },
    },
  });
  for (const [protocol, fetch] of protocols(s)) {
    const index = await fetch('/index.html');
    assert.equal(index.status, 200, protocol);
    assert.equal(index.body.toString(), '<h1>Home</h1>');
    assert.equal(index.headers['x-content-type-options'], 'nosniff', protocol);
    assert.equal(index.headers['x-frame-options'], 'SAMEORIGIN', protocol);
    assert.equal(index.headers['cache-control'], 'no-transform, max-age=60', protocol);
    assert.equal(index.headers.link, '</a.css>; rel=preload, </b.css>; rel=preload', protocol);
    assert.deepEqual(index.headers['set-cookie'], ['a=1', 'b=2'], protocol);
    assert.equal(index.headers['content-language'], 'de', protocol);

    const root = await fetch('/');
    assert.equal(root.status, 200, protocol);
    assert.equal(root.headers['content-type'], 'text/html; charset=utf-8', protocol);
    assert.equal(root.headers['content-language'], 'de', protocol);

    for (const path of ['/page', '/page.html', '/missing']) {
      const res = await fetch(path);
      assert.equal(res.status, path === '/missing' ? 404 : 200, `${protocol} ${path}`);
      assert.equal(res.headers['x-frame-options'], 'DENY', `${protocol} ${path}`);
    }
    const head = await fetch('/index.html', {}, 'HEAD');
    assert.equal(head.status, 200, protocol);
    const range = await fetch('/index.html', { range: 'bytes=0-3' });
    assert.equal(range.status, 206, protocol);
    assert.equal(range.body.toString(), '<h1>');
    assert.equal(range.headers['x-frame-options'], 'SAMEORIGIN', protocol);
  }
});

test('refuses at publish a _headers file that sets a header no response may carry, and keeps serving the live release', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'live' } } });
  for (const line of ['ETag: "x"', 'Connection: close', 'Proxy-Connection: keep-alive', 'Transfer-Encoding: chunked', 'HTTP2-Settings: x', 'Date: today']) {
    await assert.rejects(
      s.publish('site', { 'index.html': 'new', _headers: `/*\n  X-Fine: 1\n  ${line}` }),
      (error: unknown) => error instanceof BerthError && error.code === 'E_HEADERS_INVALID' && error.message.includes('_headers line 3: header'),
    );
  }
  for (const [protocol, fetch] of protocols(s)) {
    const res = await fetch('/');
    assert.equal(res.status, 200, protocol);
    assert.equal(res.body.toString(), 'live');
  }
});

test('a release published before headers were checked still answers over HTTP/2, without what it may not send', async (t) => {
  const root = await tempDir(t);
  const source = join(root, 'out');
  await writeTree(source, { 'index.html': '<h1>Home</h1>', 'secret/a.txt': 'the secret' });
  const published = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: source, retain: 5 });
  // What an older version wrote: these passed its checks or predate them.
  const manifestFile = join(published.releaseDir, MANIFEST_NAME);
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest;
  manifest.headers = [
    {
      path: '/*',
      headers: [
        ['x-content-type-options', 'nosniff'],
        ['etag', '"forged"'],
        ['x-frame-options', 'DENY'],
        ['x-frame-options', 'SAMEORIGIN'],
        ['keep-alive', 'timeout=5'],
        ['proxy-connection', 'close'],
      ],
      line: 1,
    },
    { path: '/index.html', headers: [['x-content-type-options', 'nosniff'], ['content-type', 'text/html']], line: 8 },
    { path: '/secret/*', headers: [['basic-auth', 'olduser:oldpass']], line: 11 },
  ];
  await writeFile(manifestFile, JSON.stringify(manifest));
  const s = await startOn(t, root, '');
  for (const [protocol, fetch] of protocols(s)) {
    const res = await fetch('/index.html');
    assert.equal(res.status, 200, protocol);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', protocol);
    assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', protocol);
    assert.notEqual(res.headers.etag, '"forged"', protocol);
    assert.equal(res.headers['keep-alive'], undefined, protocol);
    const locked = await fetch('/secret/a.txt');
    assert.equal(locked.status, 401, protocol);
    assert.equal(locked.headers['basic-auth'], undefined, protocol);
    assert.doesNotMatch(JSON.stringify(locked.headers), /oldpass/);
    const open = await fetch('/secret/a.txt', basic('olduser', 'oldpass'));
    assert.equal(open.status, 200, protocol);
    assert.equal(open.body.toString(), 'the secret');
    assert.equal(open.headers['basic-auth'], undefined, protocol);
  }
});

const SECRET_TEXT = 'TOP-SECRET-CONTENT '.repeat(200);

test('a _headers Basic-Auth rule asks for a password and never sends, stores or logs it', async (t) => {
  const scrypt = scryptPasswordHash('bob-pass', 10);
  const s = await startTestServer(t, {
    server: 'access_log = true',
    files: {
      site: {
        'index.html': '<h1>Public</h1>',
        '404.html': '<h1>Missing</h1>',
        'private/index.html': `<h1>${SECRET_TEXT}</h1>`,
        'private/doc.txt': SECRET_TEXT,
        'private/404.html': SECRET_TEXT,
        'locked-404/404.html': SECRET_TEXT,
        _headers: [
          '/private/*',
          `  Basic-Auth: alice:wonder-land bob:${scrypt}`,
          '  X-Robots-Tag: noindex',
          '/locked-404/404.html',
          '  Basic-Auth: carol:c-pass',
        ].join('\n'),
        _redirects: ['/alias /private/doc.txt 200', '/p/* /private/:splat 200', '/forced/* /private/doc.txt 200!'].join('\n'),
      },
    },
  });
  const releases = join(s.config.dataDir, 'sites', 'site', 'releases');
  const current = await readFile(join(s.config.dataDir, 'sites', 'site', 'current', MANIFEST_NAME), 'utf8');
  assert.doesNotMatch(current, /wonder-land/);
  assert.match(current, /hmac-sha256\$/);
  assert.ok(releases);

  for (const [protocol, fetch] of protocols(s)) {
    const refused: Array<[string, Record<string, string>, string?]> = [
      ['/private/doc.txt', {}],
      ['/private/doc.txt', basic('alice', 'wrong')],
      ['/private/doc.txt', basic('mallory', 'wonder-land')],
      ['/private/doc.txt', basic('bob', scrypt)],
      ['/private/doc.txt', { authorization: 'Bearer wonder-land' }],
      ['/private/doc.txt', {}, 'HEAD'],
      ['/private/doc.txt', { range: 'bytes=0-10' }],
      ['/private/doc.txt', { 'if-none-match': '*' }],
      ['/private/doc.txt', { 'accept-encoding': 'br, gzip' }],
      ['/private/', {}],
      ['/private', {}],
      ['/private/missing', {}],
      ['/alias', {}],
      ['/p/doc.txt', {}],
      ['/forced/x', {}],
      ['/locked-404/nothing', {}],
    ];
    for (const [path, headers, method] of refused) {
      const res = await fetch(path, headers, method);
      const what = `${protocol} ${method ?? 'GET'} ${path} ${JSON.stringify(headers)}`;
      assert.equal(res.status, 401, what);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="site", charset="UTF-8"', what);
      assert.equal(res.headers['cache-control'], 'no-store', what);
      assert.doesNotMatch(res.body.toString(), /TOP-SECRET/, what);
      assert.equal(res.headers['basic-auth'], undefined, what);
      assert.equal(res.headers.etag, undefined, what);
    }

    const alice = await fetch('/private/doc.txt', basic('alice', 'wonder-land'));
    assert.equal(alice.status, 200, protocol);
    assert.equal(alice.body.toString(), SECRET_TEXT);
    assert.equal(alice.headers['cache-control'], 'private, no-cache', protocol);
    assert.equal(alice.headers['x-robots-tag'], 'noindex', protocol);
    assert.equal(alice.headers['basic-auth'], undefined, protocol);
    assert.doesNotMatch(JSON.stringify(alice.headers), /wonder-land/);

    const bob = await fetch('/private/doc.txt', basic('bob', 'bob-pass'));
    assert.equal(bob.status, 200, protocol);
    const bobAgain = await fetch('/private/', basic('bob', 'bob-pass'));
    assert.equal(bobAgain.status, 200, protocol);
    assert.match(bobAgain.body.toString(), /TOP-SECRET/);

    const rewrite = await fetch('/alias', basic('alice', 'wonder-land'));
    assert.equal(rewrite.status, 200, protocol);
    assert.equal(rewrite.body.toString(), SECRET_TEXT);

    const missing = await fetch('/private/missing', basic('alice', 'wonder-land'));
    assert.equal(missing.status, 404, protocol);

    const publicPage = await fetch('/');
    assert.equal(publicPage.status, 200, protocol);
    assert.equal(publicPage.body.toString(), '<h1>Public</h1>');
    const publicMissing = await fetch('/nothing');
    assert.equal(publicMissing.status, 404, protocol);
    assert.equal(publicMissing.body.toString(), '<h1>Missing</h1>');
  }
  const logged = JSON.stringify(s.logs);
  assert.match(logged, /\/private\/doc\.txt/, 'the access log ran');
  assert.doesNotMatch(logged, /wonder-land|bob-pass|d29uZGVy/);
});

test('a site-wide password from the environment protects every page but /_berth/', async (t) => {
  const root = await tempDir(t);
  const source = join(root, 'out');
  await writeTree(source, { 'index.html': '<h1>Home</h1>', 'a/b.html': 'deep', _redirects: '/old /a/b 301' });
  await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: source, retain: 5 });
  const hash = scryptPasswordHash('hashed-pass', 10);
  await writeFile(join(root, 'hash.txt'), `${hash}\n`);
  const s = await startOn(
    t,
    root,
    '[sites.basic_auth]\nusers = [{ name = "alice", password = "${SITE_ALICE}" }, { name = "bob", password_file = "hash.txt" }]',
    { SITE_ALICE: 'from-env' },
  );
  for (const [protocol, fetch] of protocols(s)) {
    for (const path of ['/', '/a/b', '/old', '/missing', '/.well-known/acme-challenge/x']) {
      const res = await fetch(path);
      assert.equal(res.status, 401, `${protocol} ${path}`);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="site", charset="UTF-8"');
      assert.equal(res.headers['cache-control'], 'no-store');
    }
    assert.equal((await fetch('/', basic('alice', 'wrong'))).status, 401, protocol);
    const alice = await fetch('/', basic('alice', 'from-env'));
    assert.equal(alice.status, 200, protocol);
    assert.equal(alice.body.toString(), '<h1>Home</h1>');
    assert.equal(alice.headers['cache-control'], 'private, no-cache');
    assert.equal((await fetch('/a/b', basic('bob', 'hashed-pass'))).status, 200, protocol);
    assert.equal((await fetch('/old', basic('bob', 'hashed-pass'))).status, 301, protocol);
    const health = await fetch('/_berth/health');
    assert.equal(health.status, 200, protocol);
  }
});

/** A site in a git repository whose every page needs a password, deployed with `berth deploy`. */
async function protectedSite(t: TestContext, files: Record<string, string>): Promise<{ root: string; repo: Awaited<ReturnType<typeof createRepo>>; deploy: () => ReturnType<typeof spawnSync> }> {
  const root = await tempDir(t, 'berth-auth-deploy-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const published = Object.fromEntries(Object.entries({ _headers: '/*\n  Basic-Auth: member:m-pass', ...files }).map(([name, text]) => [`public/${name}`, text]));
  const repo = await createRepo(join(root, 'git'), published);
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    ['data_dir = "data"', '[acme]', 'directory = "off"', '[deploy]', `build_uid_base = ${uniqueBuildUidBase()}`, '[[sites]]', 'name = "site"', 'domains = ["localhost"]', `repo = ${JSON.stringify(repo.bare)}`, '[sites.build]', 'publish = "public"'].join('\n'),
  );
  const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
  const deploy = () => spawnSync(process.execPath, [cli, 'deploy', '--config', config], { cwd: root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { root, repo, deploy };
}

test('a site whose every page needs a password deploys: the check before going live asks / as a visitor who logged in', async (t) => {
  const { root, repo, deploy } = await protectedSite(t, { 'index.html': 'members only' });
  const deployed = deploy();
  assert.equal(deployed.status, 0, String(deployed.stderr));
  assert.match(String(deployed.stdout), /is live/);
  const s = await startOn(t, root, `repo = ${JSON.stringify(repo.bare)}`);
  for (const [protocol, fetch] of protocols(s)) {
    assert.equal((await fetch('/')).status, 401, protocol);
    const member = await fetch('/', basic('member', 'm-pass'));
    assert.equal(member.status, 200, protocol);
    assert.equal(member.body.toString(), 'members only');
  }
});

test('a password-protected release with no index.html fails the check before going live, and the live release stays', async (t) => {
  const { root, repo, deploy } = await protectedSite(t, { 'index.html': 'members only' });
  const first = deploy();
  assert.equal(first.status, 0, String(first.stderr));
  const current = join(root, 'data', 'sites', 'site', 'current');
  const live = await readlink(current);
  const releases = await readdir(join(root, 'data', 'sites', 'site', 'releases'));

  await rm(join(repo.work, 'public', 'index.html'));
  await repo.commit({ 'public/about.html': 'about the members' }, 'no index page');
  const second = deploy();
  assert.notEqual(second.status, 0);
  const output = `${String(second.stdout)}${String(second.stderr)}`;
  assert.match(output, /E_SMOKE_FAILED/);
  assert.match(output, /answers 404 for \//);
  assert.equal(await readlink(current), live, 'the live release is unchanged');
  assert.deepEqual(await readdir(join(root, 'data', 'sites', 'site', 'releases')), releases, 'the failed release was removed');

  const s = await startOn(t, root, `repo = ${JSON.stringify(repo.bare)}`);
  for (const [protocol, fetch] of protocols(s)) {
    assert.equal((await fetch('/')).status, 401, protocol);
    const member = await fetch('/', basic('member', 'm-pass'));
    assert.equal(member.body.toString(), 'members only', protocol);
  }
});
