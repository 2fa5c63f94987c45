import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest, ManifestFile, RedirectRule } from '../../src/releases/manifest.ts';
import { filesForRoot } from '../../src/releases/smoke-files.ts';
import { respond } from '../../src/static/respond.ts';
import { fileLocator } from '../../src/releases/file-locator.ts';
import { loadServedRelease } from '../../src/static/served-release.ts';

function file(n: number): ManifestFile {
  return { size: n, hash: n.toString(16).padStart(64, '0'), type: 'text/html; charset=utf-8', cache: 'revalidate', encodings: {}, mtimeMs: 0 };
}

function manifest(paths: string[], redirects: Array<Partial<RedirectRule> & Pick<RedirectRule, 'from' | 'to' | 'status'>> = []): Manifest {
  return {
    version: 2,
    id: '20261204T000000Z-00000000',
    site: 'site',
    createdAt: '2026-12-04T00:00:00.000Z',
    files: Object.fromEntries(paths.map((path, i) => [path, file(i + 1)])),
    redirects: redirects.map((rule, i) => ({ force: false, line: i + 1, ...rule })),
    headers: [],
  };
}

const many = Array.from({ length: 5000 }, (_, i) => `/posts/${i}/index.html`);

/** The answer to `GET /`, as the check asks it. */
async function rootAnswer(m: Manifest): Promise<number> {
  const release = await loadServedRelease(m, fileLocator(m, '/nonexistent/releases/x'));
  return respond(release, { method: 'GET', url: '/', headers: {} }, { skipAuth: true }).status;
}

describe('filesForRoot()', () => {
  it('takes the index page and the root 404 page out of thousands of files', () => {
    assert.deepEqual(Object.keys(filesForRoot(manifest(['/index.html', '/404.html', ...many]))).sort(), ['/404.html', '/index.html']);
    assert.deepEqual(Object.keys(filesForRoot(manifest(many))), []);
  });

  it('takes the file a rule for / names, as a file, a directory index or a page', () => {
    assert.deepEqual(Object.keys(filesForRoot(manifest(['/app/index.html', ...many], [{ from: '/', to: '/app/', status: 200 }]))), ['/app/index.html']);
    assert.deepEqual(Object.keys(filesForRoot(manifest(['/en.html', ...many], [{ from: '/*', to: '/en', status: 200 }]))), ['/en.html']);
    assert.deepEqual(Object.keys(filesForRoot(manifest(['/home', ...many], [{ from: '/', to: '/home?x=1', status: 200, force: true }]))), ['/home']);
    assert.deepEqual(Object.keys(filesForRoot(manifest(many, [{ from: '/', to: 'https://example.com/', status: 301 }]))), []);
  });

  it('gives / the same answer as the whole release would', async () => {
    const cases: Manifest[] = [
      manifest(['/index.html', ...many]),
      manifest(many),
      manifest(['/404.html', ...many]),
      manifest(['/app/index.html', ...many], [{ from: '/', to: '/app/', status: 200 }]),
      manifest(['/index.html', ...many], [{ from: '/', to: '/missing', status: 200, force: true }]),
      manifest(['/index.html', '/404.html', ...many], [{ from: '/', to: '/missing', status: 404, force: true }]),
      manifest(many, [{ from: '/', to: '/elsewhere', status: 302 }]),
      manifest(many, [{ from: '/', to: '/gone', status: 410 }]),
    ];
    for (const [i, m] of cases.entries()) {
      assert.equal(await rootAnswer({ ...m, files: filesForRoot(m) }), await rootAnswer(m), `case ${i}`);
    }
  });
});
