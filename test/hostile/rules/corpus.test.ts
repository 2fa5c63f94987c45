/**
 * Every hostile `_headers` and `_redirects` file in this folder goes through
 * the parser, publish and the responder. The first line of each file says
 * what must happen: `# expect: accepted`, or `# expect: refused line N` /
 * `lines N M …` (exactly those lines are named in the error).
 */
import assert from 'node:assert/strict';
import { request as httpRequest, createServer as createHttpServer, type OutgoingHttpHeaders } from 'node:http';
import { connect as http2Connect, createServer as createHttp2Server } from 'node:http2';
import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, test, type TestContext } from 'node:test';
import { BerthError } from '../../../src/errors.ts';
import { checkHeaderTables, parseHeaders } from '../../../src/releases/headers-file.ts';
import { MANIFEST_NAME } from '../../../src/releases/manifest.ts';
import { publishRelease } from '../../../src/releases/publish.ts';
import { parseRedirects } from '../../../src/releases/redirects-file.ts';
import { fileLocator } from '../../../src/releases/file-locator.ts';
import { readManifest } from '../../../src/releases/read-manifest.ts';
import { respond, type StaticRequest } from '../../../src/static/respond.ts';
import type { Reply } from '../../../src/static/reply.ts';
import { loadServedRelease, routeFor, type ServedRelease } from '../../../src/static/served-release.ts';
import { onCleanup } from '../../helpers/cleanup.ts';
import { eventually, get, getH2, startTestServer } from '../../helpers/server.ts';
import { tempDir, writeTree } from '../../helpers/temp.ts';

const HERE = import.meta.dirname;
/** Strings some corpus files hold that must never appear in a message, a response header or a manifest. */
const SECRETS = ['hunter2', 'plain-text-password', 'another-password', 'carol-password', 'secret-password'];

interface CorpusFile {
  name: string;
  kind: '_headers' | '_redirects';
  text: string;
  /** Lines the error must name; undefined when the file must be accepted. */
  refused: number[] | undefined;
}

async function corpus(): Promise<CorpusFile[]> {
  const names = (await readdir(HERE)).filter((name) => name.endsWith('.headers') || name.endsWith('.redirects')).sort();
  return Promise.all(
    names.map(async (name): Promise<CorpusFile> => {
      const text = await readFile(join(HERE, name), 'utf8');
      const expect = /^# expect: (accepted|refused lines? ([\d ]+))\n/.exec(text);
      assert.ok(expect !== null, `${name} does not start with an expect line`);
      return {
        name,
        kind: name.endsWith('.headers') ? '_headers' : '_redirects',
        text,
        refused: expect[2] === undefined ? undefined : expect[2].trim().split(' ').map(Number),
      };
    }),
  );
}

/** The files every hostile rule file is published with. */
const SITE: Record<string, string> = {
  'index.html': '<h1>Home</h1>',
  'page.html': '<h1>Page</h1>',
  '404.html': '<h1>Missing</h1>',
  'private/x.txt': 'private bytes',
  'assets/app.js': `console.log(${JSON.stringify('x'.repeat(4000))});`,
  'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/x/index.html': 'deep',
  '.env': 'SECRET=1',
};

const PATHS = [
  '/',
  '/index.html',
  '/page',
  '/page.html',
  '/page/',
  '/private/x.txt',
  '/assets/app.js',
  '/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/x',
  '/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/x/y/z/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q',
  '/loop-a',
  '/self',
  '/manifest',
  '/env',
  '/git',
  '/in/x.txt',
  '/missing',
];

const VARIANTS: Array<Record<string, string>> = [
  {},
  { authorization: `Basic ${Buffer.from('alice:plain-text-password').toString('base64')}` },
  { 'accept-encoding': 'br, gzip' },
  { range: 'bytes=0-1' },
  { 'if-none-match': '*' },
];

/** Every reply a release prepares for each of its files (under its own path and its aliases), and every one it gives for the probe requests. */
function everyReply(release: ServedRelease): Reply[] {
  const replies = new Set<Reply>();
  const aliases = Array.from({ length: release.files.count }, (_, row) => release.files.rows.pathAt(row)).flatMap((path) => [path, path.replace(/index\.html$/, ''), path.replace(/\.html$/, '')]);
  for (const path of aliases) {
    const route = routeFor(release, path);
    if (route?.kind !== 'file') continue;
    const prepared = route.prepared;
    for (const variant of [prepared.identity, prepared.br, prepared.gzip]) {
      if (variant === undefined) continue;
      replies.add(variant.get).add(variant.head).add(variant.notModified);
    }
    replies.add({ status: 206, headers: ['content-length', '1', 'content-range', `bytes 0-0/${prepared.size}`, ...prepared.rangeHeaders], body: undefined, file: undefined, start: 0, end: -1 });
  }
  for (const url of PATHS) {
    for (const headers of VARIANTS) {
      for (const method of ['GET', 'HEAD']) replies.add(respond(release, { method, url, headers } satisfies StaticRequest));
    }
  }
  return [...replies];
}

/** Flat headers as an HTTP/2 header object, repeats as arrays, the way src/server/stream-handler.ts sends them. */
function h2Object(reply: Reply): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': reply.status };
  for (let i = 0; i < reply.headers.length; i += 2) {
    const name = reply.headers[i] as string;
    const value = reply.headers[i + 1] as string;
    const existing = headers[name];
    headers[name] = existing === undefined ? value : ([] as string[]).concat(existing as string | string[], value);
  }
  return headers;
}

/**
 * Sends each reply's status and headers on a real HTTP/2 stream and a real
 * HTTP/1.1 response, as Node validates them for the wire; returns what the
 * client received, or throws what the server side threw.
 */
async function sendAll(t: TestContext, replies: readonly Reply[]): Promise<void> {
  const thrown: unknown[] = [];
  const h2 = createHttp2Server();
  h2.on('stream', (stream, headers) => {
    const reply = replies[Number(headers['x-reply'])] as Reply;
    try {
      stream.respond(h2Object(reply), { endStream: true });
    } catch (error) {
      thrown.push(error);
      stream.close();
    }
  });
  const h1 = createHttpServer((req, res) => {
    const reply = replies[Number(req.headers['x-reply'])] as Reply;
    try {
      res.writeHead(reply.status, [...reply.headers]);
      res.end();
    } catch (error) {
      thrown.push(error);
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => h1.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => h2.close(() => resolve())));
  onCleanup(t, () => new Promise<void>((resolve) => h1.close(() => resolve())));
  const session = http2Connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
  onCleanup(t, () => session.close());
  for (const [i, reply] of replies.entries()) {
    const status = await new Promise<number>((resolve, reject) => {
      // HEAD: the replies declare their length, and no body is sent here.
      const stream = session.request({ ':method': 'HEAD', 'x-reply': String(i) });
      let got = 0;
      stream.on('response', (headers) => {
        got = Number(headers[':status']);
      });
      stream.on('close', () => resolve(got));
      stream.on('error', reject);
      stream.resume();
      stream.end();
    });
    assert.deepEqual(thrown, [], `HTTP/2 refused the headers of reply ${i}: ${JSON.stringify(reply.headers)}`);
    assert.equal(status, reply.status);
    const h1Status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: (h1.address() as AddressInfo).port, method: 'HEAD', headers: { 'x-reply': String(i) }, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(thrown, [], `HTTP/1.1 refused the headers of reply ${i}: ${JSON.stringify(reply.headers)}`);
    assert.equal(h1Status, reply.status);
  }
}

function parse(file: CorpusFile): unknown {
  return file.kind === '_headers' ? parseHeaders(file.text) : parseRedirects(file.text);
}

const files = await corpus();

describe('hostile rule files: parsing', () => {
  it('has files of both kinds, refused and accepted', () => {
    assert.ok(files.some((file) => file.kind === '_headers' && file.refused === undefined));
    assert.ok(files.some((file) => file.kind === '_redirects' && file.refused === undefined));
    assert.ok(files.filter((file) => file.refused !== undefined).length >= 10);
  });

  for (const file of files.filter((f) => f.refused !== undefined)) {
    it(`refuses ${file.name}, naming exactly lines ${file.refused?.join(', ')} and quoting no secret`, () => {
      const code = file.kind === '_headers' ? 'E_HEADERS_INVALID' : 'E_REDIRECTS_INVALID';
      let caught: unknown;
      try {
        parse(file);
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof BerthError, `${file.name} was accepted`);
      assert.equal(caught.code, code);
      const named = [...caught.message.matchAll(/^\S+ line (\d+): /gm)].map((found) => Number(found[1]));
      assert.deepEqual(named, file.refused, caught.message);
      for (const line of caught.message.split('\n')) assert.ok(line.length < 400, `a message line is ${line.length} characters: ${line.slice(0, 100)}`);
      for (const secret of SECRETS) assert.ok(!caught.message.includes(secret), `the message quotes ${secret}`);
    });
  }
});

describe('hostile rule files: every reply a release can give is sendable', () => {
  for (const file of files.filter((f) => f.refused === undefined)) {
    it(`sends every reply of a release with ${file.name} over real HTTP/2 and HTTP/1.1`, async (t) => {
      const root = await tempDir(t);
      const source = join(root, 'out');
      await writeTree(source, { ...SITE, [file.kind]: file.text });
      const published = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: source, retain: 2 });
      const manifestText = await readFile(join(published.releaseDir, MANIFEST_NAME), 'utf8');
      for (const secret of SECRETS) assert.ok(!manifestText.includes(secret), `the manifest holds ${secret}`);
      const manifest = await readManifest(published.releaseDir);
      const release = await loadServedRelease(manifest, fileLocator(manifest, published.releaseDir));
      const replies = everyReply(release);
      for (const reply of replies) {
        assert.ok(!reply.headers.some((part) => part.toLowerCase() === 'basic-auth'), 'a reply carries Basic-Auth');
        assert.ok(!SECRETS.some((secret) => reply.headers.some((part) => part.includes(secret))), 'a reply header holds a secret');
        assert.ok(!reply.body?.toString().includes('SECRET=1'), '.env was served');
        assert.notEqual(reply.file === undefined ? undefined : release.files.rows.pathAt(reply.file.index), '/.env', '.env was served');
      }
      await sendAll(t, replies);
    });
  }
});

test('a server keeps answering over HTTP/2 and HTTP/1.1 while every accepted hostile rule file goes live in turn', async (t) => {
  const s = await startTestServer(t, { files: { site: SITE } });
  for (const file of files.filter((f) => f.refused === undefined)) {
    const id = await s.publish('site', { ...SITE, [file.kind]: file.text });
    const live = await eventually(async () => s.logs.some((line) => line.release === id && line.msg === 'release active'));
    assert.ok(live, `${file.name}: release ${id} did not go live`);
    for (const path of PATHS) {
      for (const headers of VARIANTS) {
        const h2 = await getH2(s.httpsPort, path, headers);
        assert.ok(h2.status >= 200 && h2.status < 500, `${file.name} HTTP/2 ${path} ${JSON.stringify(headers)}: ${h2.status}`);
        assert.equal(h2.headers['basic-auth'], undefined);
        assert.ok(!h2.body.toString().includes('SECRET=1'));
        const h1 = await get(s.httpPort, path, headers);
        assert.ok(h1.status >= 200 && h1.status < 500, `${file.name} HTTP/1.1 ${path}: ${h1.status}`);
      }
    }
  }
  assert.ok(!s.logs.some((line) => line.level === 50 || line.level === 60), JSON.stringify(s.logs.filter((line) => (line.level as number) >= 50)));
});

describe('hostile rule files made large', () => {
  it('tries none of ten thousand _redirects rules for a path none can match', async () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `/old-${i}/:slug /new-${i}/:slug 301`).join('\n');
    const { createPathPatternIndex } = await import('../../../src/static/path-pattern.ts');
    const rules = parseRedirects(text);
    const stats = { tried: 0, steps: 0 };
    assert.equal(createPathPatternIndex(rules.map((rule) => rule.from)).first('/unrelated/path', stats), null);
    assert.equal(stats.tried, 0);
  });

  it('refuses a _headers file whose merged headers for one path pass 16 KiB', () => {
    const text = Array.from({ length: 10 }, (_, i) => `/*\n  X-Big-${i}: ${'v'.repeat(4000)}`).join('\n');
    assert.throws(() => checkHeaderTables(parseHeaders(text), ['/index.html']), (error: unknown) => error instanceof BerthError && error.code === 'E_HEADERS_INVALID');
  });

  it('refuses a rule file over 1 MiB before reading its rules', () => {
    const text = `/*\n  X-A: 1\n${'#'.repeat(1024 * 1024)}`;
    assert.throws(() => parseHeaders(text), /the limit is 1 MiB/);
    assert.throws(() => parseRedirects(text), /the limit is 1 MiB/);
  });
});
