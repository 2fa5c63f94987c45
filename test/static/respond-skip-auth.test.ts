import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { publishRelease } from '../../src/releases/publish.ts';
import { fileLocator } from '../../src/releases/file-locator.ts';
import { readManifest } from '../../src/releases/read-manifest.ts';
import { parseAuthUsers } from '../../src/static/basic-auth.ts';
import { respond, type StaticRequest } from '../../src/static/respond.ts';
import { readFile } from 'node:fs/promises';
import type { Reply } from '../../src/static/reply.ts';
import { loadServedRelease, locateRow, type ServedRelease } from '../../src/static/served-release.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

/** A release behind a site-wide password and a `_headers` one, with a forced rewrite and a 404 page. */
async function protectedRelease(t: TestContext): Promise<ServedRelease> {
  const root = await tempDir(t);
  const source = join(root, 'out');
  await writeTree(source, {
    'index.html': 'home',
    'inner/page.html': 'inner page',
    '404.html': 'not here',
    _headers: '/inner/*\n  Basic-Auth: inner:i-pass',
    _redirects: '/shortcut /inner/page.html 200!',
  });
  const published = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: source, retain: 2 });
  const siteUsers = parseAuthUsers('site:s-pass');
  assert.ok(typeof siteUsers !== 'string');
  const manifest = await readManifest(published.releaseDir);
  return loadServedRelease(manifest, fileLocator(manifest, published.releaseDir), { siteUsers });
}

const get = (url: string, authorization?: string): StaticRequest => ({ method: 'GET', url, headers: authorization === undefined ? {} : { authorization } });
/** The bytes a reply sends: its own body, or those of the file it names. */
async function bodyOf(reply: Reply): Promise<string | undefined> {
  if (reply.file === undefined) return reply.body?.toString();
  return (await readFile(locateRow(reply.file.release, reply.file.index, reply.file.content.encoding))).toString();
}
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('skipAuth answers as a visitor past every password would be answered, and only when the caller asks for it', async (t) => {
  const release = await protectedRelease(t);
  const cases: Array<[string, number, string]> = [
    ['/', 200, 'home'],
    ['/inner/page', 200, 'inner page'],
    ['/shortcut', 200, 'inner page'],
    ['/missing', 404, 'not here'],
  ];
  for (const [url, status, body] of cases) {
    const skipped = respond(release, get(url), { skipAuth: true });
    assert.equal(skipped.status, status, url);
    assert.equal(await bodyOf(skipped), body, url);
    // The same request without the option meets the site's password first, whatever it sends.
    assert.equal(respond(release, get(url)).status, 401, url);
    assert.equal(respond(release, get(url, 'Basic bm9ib2R5OndlbGNvbWU=')).status, 401, url);
    assert.equal(respond(release, get(url), { skipAuth: false }).status, 401, url);
  }
  // Past the site's password, the _headers one still guards its paths unless skipped.
  assert.equal(respond(release, get('/inner/page', basic('site', 's-pass'))).status, 401);
  assert.equal(respond(release, get('/', basic('site', 's-pass'))).status, 200);
});
