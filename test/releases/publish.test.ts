import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { link, lstat, mkdir, readdir, readFile, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { publishRelease, SOURCE_KEYS_NAME } from '../../src/releases/publish.ts';
import { readManifest } from '../../src/releases/read-manifest.ts';
import { activeReleaseId, listReleases, releaseIds } from '../../src/releases/release-list.ts';
import { activateRelease, previousReleaseId } from '../../src/releases/activate.ts';
import { sitePaths } from '../../src/releases/site-paths.ts';
import { objectPath } from '../../src/releases/object-path.ts';
import { FILE_ROWS_NAME, MANIFEST_NAME, type ManifestHeader } from '../../src/releases/manifest.ts';
import { isBerthError } from '../../src/errors.ts';
import { assertNoSecretUnder, assertNotQuoted, secretFile } from '../helpers/secret-file.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const css = 'body { color: #333; margin: 0 auto; max-width: 40rem; font-family: system-ui, sans-serif; }\n'.repeat(20);
const html = `<!doctype html><title>Home</title>${'<p>Hello, world. This is a paragraph of text.</p>'.repeat(40)}`;

async function site(t: Parameters<typeof tempDir>[0], files: Record<string, string | Buffer>): Promise<{ dataDir: string; source: string }> {
  const root = await tempDir(t);
  const source = join(root, 'out');
  await writeTree(source, files);
  return { dataDir: join(root, 'data'), source };
}

test('publish writes a release with a manifest, sidecars and an active link', async (t) => {
  const { dataDir, source } = await site(t, {
    'index.html': html,
    '_astro/page.BX3kd9_a.css': css,
    'img/logo.png': Buffer.alloc(300, 7),
    'tiny.txt': 'hi',
  });
  const result = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.match(result.id, /^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
  assert.equal(result.files, 4);
  const paths = sitePaths(dataDir, 'blog');
  assert.equal(await readlink(paths.currentLink), join('releases', result.id));
  const manifest = await readManifest(result.releaseDir);
  assert.deepEqual(Object.keys(manifest.files).sort(), ['/_astro/page.BX3kd9_a.css', '/img/logo.png', '/index.html', '/tiny.txt']);

  const index = manifest.files['/index.html'];
  assert.ok(index);
  assert.equal(index.type, 'text/html; charset=utf-8');
  assert.equal(index.cache, 'revalidate');
  assert.equal(index.size, Buffer.byteLength(html));
  assert.ok(index.encodings.br !== undefined && index.encodings.br < index.size);
  assert.ok(index.encodings.gzip !== undefined && index.encodings.gzip < index.size);
  const objects = sitePaths(dataDir, 'blog').objectsDir;
  assert.equal((await readFile(objectPath(objects, index.hash))).toString(), html);
  const brBody = brotliDecompressSync(await readFile(objectPath(objects, index.hash, 'br')));
  assert.equal(brBody.toString(), html);
  assert.equal(gunzipSync(await readFile(objectPath(objects, index.hash, 'gzip'))).toString(), html);
  assert.deepEqual((await readdir(result.releaseDir)).sort(), ['.berth-files.jsonl', '.berth-manifest.json', '.berth-release.json', '.berth-source.json'], 'a release is its manifest and file list');

  assert.equal(manifest.files['/_astro/page.BX3kd9_a.css']?.cache, 'immutable');
  // Already-compressed and tiny files get no sidecars.
  assert.deepEqual(manifest.files['/img/logo.png']?.encodings, {});
  assert.deepEqual(manifest.files['/tiny.txt']?.encodings, {});
});

test('publish stores content once: an unchanged file is neither read nor stored again and keeps its ETag', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, 'style.css': css });
  // Older than the racy-write second: their change keys are trusted by the next publish.
  const past = new Date(Date.now() - 60_000);
  await utimes(join(source, 'style.css'), past, past);
  const first = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(first.stored, 2);
  await writeFile(join(source, 'index.html'), `${html}<p>changed</p>`);
  const second = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.notEqual(first.id, second.id);
  assert.ok(second.id > first.id, 'ids sort in publish order');
  assert.equal(second.unchanged, 1, 'style.css is taken from the previous release without being read');
  assert.equal(second.stored, 1, 'only the new index.html is stored');
  const m1 = await readManifest(first.releaseDir);
  const m2 = await readManifest(second.releaseDir);
  assert.deepEqual(m1.files['/style.css'], m2.files['/style.css']);
  assert.notEqual(m1.files['/index.html']?.hash, m2.files['/index.html']?.hash);
});

test('a damaged change-key record of the live release only costs the reuse: the files are read again and the release is whole', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, 'style.css': css, 'a.txt': 'a' });
  const past = new Date(Date.now() - 60_000);
  for (const name of ['index.html', 'style.css', 'a.txt']) await utimes(join(source, name), past, past);
  const first = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const record = join(first.releaseDir, SOURCE_KEYS_NAME);
  const { keys } = JSON.parse(await readFile(record, 'utf8')) as { keys: Array<[string, string]> };
  assert.deepEqual(keys.map(([, urlPath]) => urlPath), ['/a.txt', '/index.html', '/style.css'], 'kept in path order');
  const damaged = [
    { takenAtMs: 0, keys: [5, ['x'], [1, 2], { a: 1 }, null, keys[2]] },
    { takenAtMs: 0, keys: [keys[2], keys[1], keys[0]] },
    { keys: 'not a list' },
    [],
  ];
  let live = first;
  for (const record of damaged) {
    await writeFile(join(live.releaseDir, SOURCE_KEYS_NAME), JSON.stringify(record));
    live = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
    assert.ok(live.unchanged < 3, `${JSON.stringify(record)}: some files are read again`);
    assert.deepEqual(await readManifest(live.releaseDir).then((manifest) => manifest.files), await readManifest(first.releaseDir).then((manifest) => manifest.files));
  }
  const whole = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(whole.unchanged, 3, 'the record the last publish wrote is whole again');
});

test('a publish after another in the same process starts from the files that one left, and from disk once the live release is not what it left', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, 'style.css': css, 'a.txt': 'a' });
  const past = new Date(Date.now() - 60_000);
  for (const name of ['index.html', 'style.css', 'a.txt']) await utimes(join(source, name), past, past);
  const paths = sitePaths(dataDir, 'blog');
  const first = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const second = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(second.unchanged, 3);
  // The list on disk no longer parses, but its manifest (and so its recorded SHA-256) is the one written.
  const rowsOf = (dir: string): string => join(dir, FILE_ROWS_NAME);
  const rows = await readFile(rowsOf(second.releaseDir));
  await writeFile(rowsOf(second.releaseDir), Buffer.alloc(rows.length, 0x20));
  const third = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(third.unchanged, 3, 'the files come from memory, the damaged list is not read');
  assert.deepEqual((await readManifest(third.releaseDir)).files, (await readManifest(first.releaseDir)).files);

  // Rolled back: the live release is not the one this process left, and its list is read (here: refused, so every file is read).
  await writeFile(rowsOf(first.releaseDir), Buffer.alloc(rows.length, 0x20));
  await activateRelease(paths, first.id);
  const fourth = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(fourth.unchanged, 0, 'the rolled-back release is read from disk');

  // A list rewritten whole, with a manifest that records it: read from disk, and only what it names is taken.
  const header = JSON.parse(await readFile(join(fourth.releaseDir, MANIFEST_NAME), 'utf8')) as ManifestHeader;
  const firstRow = Buffer.from(`${(await readFile(rowsOf(fourth.releaseDir), 'utf8')).split('\n')[0] ?? ''}\n`);
  header.fileRows = { count: 1, bytes: firstRow.length, sha256: createHash('sha256').update(firstRow).digest('hex') };
  await writeFile(rowsOf(fourth.releaseDir), firstRow);
  await writeFile(join(fourth.releaseDir, MANIFEST_NAME), JSON.stringify(header));
  const fifth = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(fifth.unchanged, 1, 'only /a.txt, the one file the rewritten list names');
  assert.deepEqual((await readManifest(fifth.releaseDir)).files, (await readManifest(third.releaseDir)).files);
});

test('a file written within the last second is read again, not trusted by its change key (racy writes)', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, 'style.css': css });
  await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  // Same size, same second: a key taken from stat alone could not tell.
  await writeFile(join(source, 'style.css'), css.replace('a', 'b'));
  const second = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(second.unchanged, 0);
  const manifest = await readManifest(second.releaseDir);
  assert.equal(manifest.files['/style.css']?.hash, createHash('sha256').update(css.replace('a', 'b')).digest('hex'));
});

test('publish never copies dotfiles or the rules files, but keeps .well-known', async (t) => {
  const { dataDir, source } = await site(t, {
    'index.html': html,
    '.env': 'SECRET=1',
    '.git/config': '[core]',
    'sub/.htaccess': 'deny',
    '.well-known/security.txt': 'Contact: mailto:a@example.com',
    _redirects: '/a /b 301',
    _headers: '/*\n  X-Test: 1',
  });
  const result = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const manifest = await readManifest(result.releaseDir);
  assert.deepEqual(Object.keys(manifest.files).sort(), ['/.well-known/security.txt', '/index.html']);
  assert.equal(manifest.redirects.length, 1);
  assert.equal(manifest.headers.length, 1);
  const entries = await readdir(result.releaseDir);
  assert.ok(!entries.includes('.env') && !entries.includes('.git') && !entries.includes('_redirects'));
});

test('publish refuses a symlink that leaves the directory and publishes nothing', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  await symlink('/etc/passwd', join(source, 'passwd.txt'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SYMLINK');
    assert.match(error.message, /passwd\.txt/);
    assert.match(error.message, /outside the published folder/);
    return true;
  });
  assert.deepEqual(await releaseIds(sitePaths(dataDir, 'blog')), []);
});

test('publish refuses a symlinked directory, even one inside the tree', async (t) => {
  const { dataDir, source } = await site(t, { 'docs/index.html': html });
  await symlink('..', join(source, 'docs', 'loop'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), { code: 'E_PUBLISH_SYMLINK' });
});

test('publish copies a symlink to a file inside the tree as content', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  await symlink('index.html', join(source, 'home.html'));
  const result = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const home = result.manifest.files['/home.html'];
  assert.equal(home?.hash, result.manifest.files['/index.html']?.hash, 'the link is published as the content it names');
  const copied = await lstat(objectPath(sitePaths(dataDir, 'blog').objectsDir, home?.hash ?? ''));
  assert.ok(copied.isFile() && !copied.isSymbolicLink());
  assert.equal(await readFile(objectPath(sitePaths(dataDir, 'blog').objectsDir, home?.hash ?? ''), 'utf8'), html);
});

test('a publish that fails half-way leaves the live release and the listing unchanged', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, 'a/one.css': css, 'z/three.css': css });
  const live = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  await writeFile(join(source, 'index.html'), 'new');
  // A FIFO sorts after a/ and before z/: files before it are copied, then the publish fails.
  execFileSync('mkfifo', [join(source, 'm-fifo')]);
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), { code: 'E_PUBLISH_SOURCE' });
  const paths = sitePaths(dataDir, 'blog');
  assert.equal(await activeReleaseId(paths), live.id);
  assert.deepEqual(await releaseIds(paths), [live.id]);
  assert.deepEqual((await readdir(paths.releasesDir)).sort(), [live.id], 'no temporary directory is left behind');
});

test('an invalid _redirects fails the publish with the line, and the live release stays', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  const live = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  await writeFile(join(source, '_redirects'), '/ok /fine 301\n/bad /target 299\n');
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_REDIRECTS_INVALID');
    assert.match(error.message, /line 2/);
    return true;
  });
  assert.equal(await activeReleaseId(sitePaths(dataDir, 'blog')), live.id);
});

test('publish of a missing directory says so', async (t) => {
  const root = await tempDir(t);
  await assert.rejects(publishRelease({ dataDir: join(root, 'data'), site: 'blog', sourceDir: join(root, 'nope'), retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SOURCE');
    assert.match(error.message, /not a readable directory/);
    return true;
  });
});

test('retention keeps the newest releases and never the active one away', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    await writeFile(join(source, 'index.html'), `${html}${i}`);
    ids.push((await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 3 })).id);
  }
  const paths = sitePaths(dataDir, 'blog');
  assert.deepEqual(await releaseIds(paths), ids.slice(2));
  // Roll back to the oldest kept one, then publish: the active one survives pruning.
  await activateRelease(paths, ids[2] as string);
  await writeFile(join(source, 'index.html'), `${html}new`);
  const newest = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 1, activate: false });
  const kept = await releaseIds(paths);
  assert.ok(kept.includes(ids[2] as string), 'the active release is kept');
  assert.ok(kept.includes(newest.id));
  assert.equal(await activeReleaseId(paths), ids[2]);
});

test('rollback finds the release before the active one', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  const first = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  await writeFile(join(source, 'index.html'), 'second');
  const second = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const paths = sitePaths(dataDir, 'blog');
  assert.equal(await previousReleaseId(paths), first.id);
  await activateRelease(paths, first.id);
  await assert.rejects(previousReleaseId(paths), { code: 'E_RELEASE_NONE' });
  await assert.rejects(activateRelease(paths, '20990101T000000Z-00000000'), { code: 'E_RELEASE_NOT_FOUND' });
  const listing = await listReleases(paths);
  assert.deepEqual(listing.map((entry) => [entry.summary.id, entry.active]), [[second.id, false], [first.id, true]]);
});

test('publishes racing for one site both land, one after the other', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  const other = join(source, '..', 'other');
  await mkdir(other);
  await writeFile(join(other, 'index.html'), 'other');
  const [a, b] = await Promise.all([
    publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }),
    publishRelease({ dataDir, site: 'blog', sourceDir: other, retain: 10 }),
  ]);
  assert.notEqual(a.id, b.id);
  assert.equal((await releaseIds(sitePaths(dataDir, 'blog'))).length, 2);
});

test('a lock left with this process id by an earlier process is taken over', async (t) => {
  const { withSiteLock } = await import('../../src/releases/site-lock.ts');
  const root = await tempDir(t);
  const lock = join(root, '.lock');
  await writeFile(lock, String(process.pid));
  // No time to wait at all: it runs only if the lock is judged stale on the first look.
  assert.equal(await withSiteLock(lock, async () => 'ran', 0), 'ran', 'taken over at once, as stale');
  // While held, the same file with our pid is a real lock.
  await withSiteLock(lock, async () => {
    await assert.rejects(withSiteLock(lock, async () => 'second', 200), { code: 'E_SITE_LOCKED' });
  });
});

test('a _headers that links to a root-only key fails the publish without quoting it, and nothing is published', async (t) => {
  const secret = await secretFile(t);
  const { dataDir, source } = await site(t, { 'index.html': html });
  await symlink(secret.file, join(source, '_headers'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SYMLINK');
    assert.match(error.message, /^_headers in the published folder is a symbolic link/);
    assertNotQuoted(error.message, secret);
    return true;
  });
  assert.deepEqual(await releaseIds(sitePaths(dataDir, 'blog')), []);
  await assertNoSecretUnder(dataDir, secret);
});

test('a _redirects behind a symlinked directory of the output is refused too', async (t) => {
  const secret = await secretFile(t, '_redirects');
  const { dataDir, source } = await site(t, { 'index.html': html });
  // The output folder itself is reached through a link to the private directory.
  const linked = join(source, '..', 'linked-out');
  await symlink(secret.dir, linked);
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: linked, within: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SYMLINK');
    assertNotQuoted(error.message, secret);
    return true;
  });
  await assertNoSecretUnder(dataDir, secret);
});

test('a _redirects that is a FIFO fails at once instead of waiting for a writer', { timeout: 20_000 }, async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  execFileSync('mkfifo', [join(source, '_redirects')]);
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_REDIRECTS_INVALID');
    assert.match(error.message, /^_redirects in the published folder is a FIFO, not a regular file/);
    return true;
  });
});

test('a _redirects that links to /dev/zero fails without reading it', { timeout: 20_000 }, async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  await symlink('/dev/zero', join(source, '_redirects'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), { code: 'E_PUBLISH_SYMLINK' });
});

test('a _headers larger than the rules limit is refused by its size, before it is read', async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html, _headers: `/*\n  X-A: ${'a'.repeat(1024 * 1024)}\n` });
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_HEADERS_INVALID');
    assert.match(error.message, /^_headers in the published folder is \d+ bytes; the limit is 1 MiB$/);
    return true;
  });
});

test('a directory swapped for a link to a private one after the walk is not published', async (t) => {
  const secret = await secretFile(t, 'page.html');
  const files: Record<string, string> = { 'index.html': html, 'z/dir/page.html': 'public page' };
  // More files sort before z/ than publish opens at once, so the swap below lands before z/dir/page.html is opened.
  for (let i = 0; i < 40; i++) files[`a/${String(i).padStart(2, '0')}.html`] = `page ${i}`;
  const { dataDir, source } = await site(t, files);
  let swapped = false;
  const publishing = publishRelease({
    dataDir,
    site: 'blog',
    sourceDir: source,
    retain: 10,
    onProgress: () => {
      if (swapped) return;
      swapped = true;
      // What a build process left running would do: the walk saw a directory, the copy meets a link.
      renameSync(join(source, 'z', 'dir'), join(source, 'z', 'old'));
      symlinkSync(secret.dir, join(source, 'z', 'dir'));
    },
  });
  await assert.rejects(publishing, (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SYMLINK');
    assert.match(error.message, /^z\/dir\/page\.html was replaced while Berth read the folder/);
    assertNotQuoted(error.message, secret);
    return true;
  });
  assert.ok(swapped, 'the tree was changed during the publish');
  assert.deepEqual(await releaseIds(sitePaths(dataDir, 'blog')), []);
  await assertNoSecretUnder(dataDir, secret);
});

test("a hard link to a file the build's user does not own is refused", async (t) => {
  const secret = await secretFile(t);
  const { dataDir, source } = await site(t, { 'index.html': html });
  // Root can make the link; a build user could where fs.protected_hardlinks is 0.
  await link(secret.file, join(source, 'key.txt'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10, buildUid: 65534 }), (error: unknown) => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_PUBLISH_SOURCE');
    assert.match(error.message, /^key\.txt has 2 hard links and belongs to uid 0, not to the build's user/);
    assertNotQuoted(error.message, secret);
    return true;
  });
  await assertNoSecretUnder(dataDir, secret);
  // The same output without that link publishes, hard links owned by the build's user included.
  await rm(join(source, 'key.txt'));
  await link(join(source, 'index.html'), join(source, 'copy.html'));
  const result = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10, buildUid: process.getuid?.() ?? 0 });
  assert.equal(result.files, 2);
});

test('a large file is copied and hashed from the handle that was checked, and one replaced after the walk is refused', async (t) => {
  const big = Buffer.alloc(33 * 1024 * 1024, 'x');
  const { dataDir, source } = await site(t, { 'index.html': html, 'video.bin': big });
  const first = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  const manifest = await readManifest(first.releaseDir);
  assert.equal(manifest.files['/video.bin']?.size, big.length);
  assert.equal(manifest.files['/video.bin']?.hash, createHash('sha256').update(big).digest('hex'));
  const objects = sitePaths(dataDir, 'blog').objectsDir;
  assert.ok((await readFile(objectPath(objects, manifest.files['/video.bin']?.hash ?? ''))).equals(big));
  await writeFile(join(source, 'index.html'), 'changed');
  const second = await publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 });
  assert.equal(second.stored, 1, 'the unchanged large file is not stored again');

  // More files sort before video.bin than publish opens at once: it is replaced before it is opened.
  // It is rewritten first, so that its change key differs and the publish must read it.
  await writeFile(join(source, 'index.html'), 'changed again');
  await writeFile(join(source, 'video.bin'), Buffer.alloc(big.length, 'y'));
  await writeTree(source, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`a/${String(i).padStart(2, '0')}.html`, `page ${i}`])));
  let replaced = false;
  await assert.rejects(
    publishRelease({
      dataDir,
      site: 'blog',
      sourceDir: source,
      retain: 10,
      onProgress: () => {
        if (replaced) return;
        replaced = true;
        writeFileSync(join(source, 'video.new'), 'other bytes');
        renameSync(join(source, 'video.new'), join(source, 'video.bin'));
      },
    }),
    { code: 'E_PUBLISH_SYMLINK', message: /^video\.bin was replaced while Berth read the folder/ },
  );
});

test('a symlink to a FIFO inside the tree is refused as one, without opening the FIFO', { timeout: 20_000 }, async (t) => {
  const { dataDir, source } = await site(t, { 'index.html': html });
  execFileSync('mkfifo', [join(source, '.pipe')]);
  await symlink('.pipe', join(source, 'page.html'));
  await assert.rejects(publishRelease({ dataDir, site: 'blog', sourceDir: source, retain: 10 }), {
    code: 'E_PUBLISH_SYMLINK',
    message: /^Cannot publish page\.html: it is a symlink to a FIFO, socket or device, not to a regular file/,
  });
});
