import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import { openCommitTree, type CommitTree } from '../../src/deploy/commit-tree.ts';
import { gitTreeSource, type GitTreeSource } from '../../src/deploy/git-tree-source.ts';
import type { ResolvedBuild, ResolvedSite } from '../../src/config/resolved-config.ts';
import { resolveBuildSettings, resolvePublishDir, type BuildSettings } from '../../src/deploy/build-settings.ts';
import { commitFiles } from '../../src/deploy/repo-files.ts';
import { isBerthError } from '../../src/errors.ts';
import { contentTypeFor } from '../../src/releases/content-type.ts';
import { fileLocator } from '../../src/releases/file-locator.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { openManifest } from '../../src/releases/read-manifest.ts';
import { fileAt, loadServedRelease, locateRow } from '../../src/static/served-release.ts';
import { walkSource } from '../../src/releases/walk-source.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

/** Runs git in `cwd` as a test author, with none of the caller's git environment. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Ada Lovelace', '-c', 'user.email=ada@example.com', '-c', 'protocol.file.allow=always', ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C', GIT_COMMITTER_DATE: '2026-11-27T08:55:00Z' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
}

interface Repo {
  dir: string;
  gitDir: string;
  /** Writes files (and whatever `extra` does), commits everything, returns the commit. */
  commit(files: Record<string, string | Buffer>, extra?: (dir: string) => Promise<void>): Promise<string>;
}

async function repo(t: TestContext): Promise<Repo> {
  const dir = join(await tempDir(t), 'repo');
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '--quiet', '--initial-branch=main');
  return {
    dir,
    gitDir: join(dir, '.git'),
    async commit(files, extra) {
      await writeTree(dir, files);
      await extra?.(dir);
      git(dir, 'add', '--all');
      git(dir, 'commit', '--quiet', '--allow-empty', '-m', 'change');
      return git(dir, 'rev-parse', 'HEAD').trim();
    },
  };
}

async function open(t: TestContext, r: Repo, commit: string): Promise<CommitTree> {
  const tree = await openCommitTree(r.gitDir, commit);
  onCleanup(t, () => tree.close());
  return tree;
}

async function source(t: TestContext, r: Repo, commit: string, publish = '.'): Promise<GitTreeSource> {
  return gitTreeSource(await open(t, r, commit), { publish, mtimeMs: 1_000 });
}

/** The bytes `open` gives for an entry, whole or streamed. */
async function bytesOf(src: GitTreeSource, relPath: string, wholeMaxBytes = 1024 * 1024): Promise<{ bytes: Buffer; streamed: boolean; chunks: number }> {
  const entry = (await src.entries()).find((candidate) => candidate.relPath === relPath);
  assert.ok(entry !== undefined, `no entry ${relPath}`);
  const body = await src.open(entry, wholeMaxBytes);
  try {
    if (body.whole !== undefined) return { bytes: body.whole, streamed: false, chunks: 1 };
    const parts: Buffer[] = [];
    await body.stream?.(async (chunk) => {
      parts.push(chunk);
    });
    return { bytes: Buffer.concat(parts), streamed: true, chunks: parts.length };
  } finally {
    await body.close();
  }
}

function blobId(dir: string, commit: string, path: string): string {
  return git(dir, 'rev-parse', `${commit}:${path}`).trim();
}

/** The code a promise rejects with (a BerthError), or 'ok'. */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'ok';
  } catch (error) {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    return error.code;
  }
}

describe('gitTreeSource()', () => {
  it('lists exactly the public files of the commit, each keyed by its blob id, with the commit time', async (t) => {
    const r = await repo(t);
    const commit = await r.commit({
      'index.html': '<h1>home</h1>',
      'css/site.css': 'body{}',
      '.env': 'SECRET=1',
      '.github/workflows/ci.yml': 'on: push',
      '.well-known/security.txt': 'Contact: x',
      '_redirects': '/old /new 301',
      '_headers': '/*\n  X-A: b',
      'docs/_redirects': 'published as a file',
      'run.sh': '#!/bin/sh',
    });
    git(r.dir, 'update-index', '--chmod=+x', 'run.sh');
    const src = await source(t, r, commit);
    const entries = await src.entries();
    assert.deepEqual(
      entries.map((entry) => entry.relPath),
      ['.well-known/security.txt', 'css/site.css', 'docs/_redirects', 'index.html', 'run.sh'],
    );
    for (const entry of entries) {
      assert.equal(entry.changeKey, `git:${blobId(r.dir, commit, entry.relPath)}`);
      assert.equal(entry.mtimeMs, 1_000);
    }
    assert.equal((await bytesOf(src, 'css/site.css')).bytes.toString(), 'body{}');
    assert.equal((await src.readRules('_redirects', { maxBytes: 1024, code: 'E_REDIRECTS_INVALID' }))?.toString(), '/old /new 301');
    assert.equal((await src.readRules('_headers', { maxBytes: 1024, code: 'E_HEADERS_INVALID' }))?.toString(), '/*\n  X-A: b');
    assert.equal(src.opened, 1);
  });

  it('gives a second commit that changed 10 of 1,000 files new change keys for exactly those 10', async (t) => {
    const r = await repo(t);
    const files: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) files[`pages/p${i}.html`] = `<p>page ${i}</p>`;
    const first = await r.commit(files);
    const changed: Record<string, string> = {};
    for (let i = 0; i < 1000; i += 100) changed[`pages/p${i}.html`] = `<p>page ${i}, edited</p>`;
    const second = await r.commit(changed);
    const before = new Map((await (await source(t, r, first)).entries()).map((entry) => [entry.relPath, entry.changeKey]));
    const after = await (await source(t, r, second)).entries();
    assert.equal(after.length, 1000);
    const differing = after.filter((entry) => before.get(entry.relPath) !== entry.changeKey).map((entry) => entry.relPath);
    assert.deepEqual(differing.sort(), Object.keys(changed).sort());
  });

  it('makes a publish of a second commit that changed 10 of 1,000 files open only those 10', async (t) => {
    const r = await repo(t);
    const files: Record<string, string> = { 'index.html': '<h1>home</h1>' };
    for (let i = 0; i < 999; i++) files[`pages/p${i}.html`] = `<p>page ${i}</p>`;
    const first = await r.commit(files);
    const dataDir = join(await tempDir(t), 'data');
    const one = await source(t, r, first);
    const published = await publishRelease({ dataDir, site: 'blog', source: one, commit: first, retain: 5 });
    assert.equal(one.opened, 1000);
    const changed: Record<string, string> = {};
    for (let i = 0; i < 10; i++) changed[`pages/p${i * 99}.html`] = `<p>page ${i * 99}, edited</p>`;
    const second = await r.commit(changed);
    const two = await source(t, r, second);
    const again = await publishRelease({ dataDir, site: 'blog', source: two, commit: second, retain: 5 });
    assert.equal(two.opened, 10);
    assert.equal(again.unchanged, 990);
    assert.notEqual(again.id, published.id);
    assert.equal(again.manifest.files['/pages/p99.html']?.hash, createHash('sha256').update('<p>page 99, edited</p>').digest('hex'));
    assert.equal(again.manifest.files['/pages/p98.html']?.hash, createHash('sha256').update('<p>page 98</p>').digest('hex'));
    assert.equal(again.manifest.files['/index.html']?.mtimeMs, 1_000, 'the commit time');
  });

  it('takes a file moved, copied or given another type from the previous release by its blob, and the new release serves every file its own bytes and type', async (t) => {
    const r = await repo(t);
    const text = 'plain words, repeated so that compressing them pays off. '.repeat(40);
    const files: Record<string, string> = { 'index.html': '<h1>home</h1>', 'notes.bin': text, 'page.html': text.toUpperCase() };
    for (let i = 0; i < 50; i++) files[`pages/p${i}.html`] = `<p>page ${i}</p>`;
    const first = await r.commit(files);
    const dataDir = join(await tempDir(t), 'data');
    await publishRelease({ dataDir, site: 'blog', source: await source(t, r, first), commit: first, retain: 5 });
    const second = await r.commit({}, async (dir) => {
      await rename(join(dir, 'pages/p1.html'), join(dir, 'pages-moved-p1.html'));
      await writeFile(join(dir, 'copy-of-p2.html'), '<p>page 2</p>');
      await rename(join(dir, 'notes.bin'), join(dir, 'notes.txt'));
      await rename(join(dir, 'page.html'), join(dir, 'page.bin'));
    });
    const two = await source(t, r, second);
    const again = await publishRelease({ dataDir, site: 'blog', source: two, commit: second, retain: 5 });
    assert.equal(two.opened, 1, 'only notes.txt is read: its content was published under a type that is not compressed');
    assert.equal(again.unchanged, 53);
    const files2 = again.manifest.files;
    assert.deepEqual(files2['/pages-moved-p1.html'], { ...files2['/pages/p3.html'], size: 13, hash: createHash('sha256').update('<p>page 1</p>').digest('hex') });
    assert.equal(files2['/notes.txt']?.type, 'text/plain; charset=utf-8');
    assert.ok((files2['/notes.txt']?.encodings.gzip ?? Infinity) < text.length, 'notes.txt gets the variants a text file has');
    assert.deepEqual(files2['/page.bin']?.encodings, {}, 'page.bin keeps no variants under a type that is not compressed');
    assert.equal(files2['/page.bin']?.type, 'application/octet-stream');

    const releaseDir = join(dataDir, 'sites', 'blog', 'releases', again.id);
    const served = await loadServedRelease(await openManifest(releaseDir), fileLocator({ version: 2 }, releaseDir));
    assert.equal(served.files.count, 54);
    const tree = await open(t, r, second);
    for (let row = 0; row < served.files.count; row++) {
      const urlPath = served.files.rows.pathAt(row);
      const node = tree.lookup(urlPath.slice(1));
      assert.ok(node !== undefined, urlPath);
      const own = await tree.readBlob(node);
      assert.deepEqual(await readFile(locateRow(served, row, undefined)), own, `${urlPath} serves its own bytes`);
      assert.equal(fileAt(served, row).type, contentTypeFor(urlPath), `${urlPath} has its own type`);
      for (const [encoding, unpack] of [['br', brotliDecompressSync], ['gzip', gunzipSync]] as const) {
        if (fileAt(served, row).encodings[encoding] === undefined) continue;
        assert.deepEqual(unpack(await readFile(locateRow(served, row, encoding))), own, `${urlPath} as ${encoding} is its own bytes`);
      }
    }
  });

  it('reads a path with a newline, quotes and a tab, and publishes names that differ only in case as two files', async (t) => {
    const r = await repo(t);
    const odd = 'a\nb "c" \'d\'\te.html';
    const commit = await r.commit({ [odd]: 'odd', 'Readme.txt': 'upper', 'readme.txt': 'lower', 'index.html': 'x' });
    const src = await source(t, r, commit);
    assert.deepEqual((await src.entries()).map((entry) => entry.relPath), ['Readme.txt', odd, 'index.html', 'readme.txt'].sort());
    assert.equal((await bytesOf(src, odd)).bytes.toString(), 'odd');
    assert.equal((await bytesOf(src, 'Readme.txt')).bytes.toString(), 'upper');
    assert.equal((await bytesOf(src, 'readme.txt')).bytes.toString(), 'lower');
  });

  it('refuses a public name that is not UTF-8, and ignores one in a private directory', async (t) => {
    const r = await repo(t);
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x68, 0x74, 0x6d, 0x6c]); // "café.html" in Latin-1
    const hidden = await r.commit({ 'index.html': 'x' }, async (dir) => {
      await mkdir(join(dir, '.drafts'));
      await writeFile(Buffer.concat([Buffer.from(`${join(dir, '.drafts')}/`), latin1]), 'draft');
    });
    assert.deepEqual((await (await source(t, r, hidden)).entries()).map((entry) => entry.relPath), ['index.html']);
    const visible = await r.commit({}, async (dir) => {
      await writeFile(Buffer.concat([Buffer.from(`${dir}/`), latin1]), 'public');
    });
    await assert.rejects(source(t, r, visible), (error: unknown) => isBerthError(error) && error.code === 'E_PUBLISH_SOURCE' && /not valid UTF-8/.test(error.message));
  });

  it('streams a 20 MiB blob in chunks when it is over the whole-file limit, byte for byte', async (t) => {
    const r = await repo(t);
    const big = Buffer.alloc(20 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
    const commit = await r.commit({ 'big.bin': big, 'index.html': 'x' });
    const src = await source(t, r, commit);
    const streamed = await bytesOf(src, 'big.bin', 1024 * 1024);
    assert.equal(streamed.streamed, true);
    assert.ok(streamed.chunks > 1, 'read in more than one chunk');
    assert.equal(createHash('sha256').update(streamed.bytes).digest('hex'), createHash('sha256').update(big).digest('hex'));
    const whole = await bytesOf(src, 'big.bin', 32 * 1024 * 1024);
    assert.equal(whole.streamed, false);
    assert.ok(whole.bytes.equals(big));
  });

  it('reads many blobs at once through one reader, each answer with its own bytes', async (t) => {
    const r = await repo(t);
    const files: Record<string, string> = {};
    for (let i = 0; i < 300; i++) files[`f${i}.txt`] = `file ${i} `.repeat(i * 50);
    const commit = await r.commit(files);
    const src = await source(t, r, commit);
    const entries = await src.entries();
    const bodies = await Promise.all(entries.map((entry) => src.open(entry, 1024 * 1024)));
    for (const [index, entry] of entries.entries()) assert.equal(bodies[index]?.whole?.toString(), files[entry.relPath]);
    assert.equal(src.opened, 300);
  });

  it('refuses a link whose target is longer than any link can be, without reading it', async (t) => {
    const r = await repo(t);
    await r.commit({ 'index.html': 'x' });
    // No filesystem can hold such a link; git can, written straight into the index.
    const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: r.dir, input: 'a/'.repeat(4000), encoding: 'utf8' }).trim();
    git(r.dir, 'update-index', '--add', '--cacheinfo', `120000,${blob},long.html`);
    git(r.dir, 'commit', '--quiet', '-m', 'long link');
    const commit = git(r.dir, 'rev-parse', 'HEAD').trim();
    assert.equal(await outcome(source(t, r, commit)), 'E_PUBLISH_SYMLINK');
  });

  it('fails with the caller\'s code, whole or streamed, when a listed blob is gone from the clone', async (t) => {
    const r = await repo(t);
    const commit = await r.commit({ 'index.html': 'x', 'small.txt': 'small', 'big.bin': Buffer.alloc(3 * 1024 * 1024, 7) });
    const tree = await openCommitTree(r.gitDir, commit, { code: 'E_GIT_CHECKOUT' });
    onCleanup(t, () => tree.close());
    const src = await gitTreeSource(tree, { publish: '.', mtimeMs: 0 });
    for (const path of ['small.txt', 'big.bin']) {
      const oid = blobId(r.dir, commit, path);
      await rm(join(r.gitDir, 'objects', oid.slice(0, 2), oid.slice(2)));
    }
    const entries = await src.entries();
    const small = entries.find((entry) => entry.relPath === 'small.txt');
    const big = entries.find((entry) => entry.relPath === 'big.bin');
    assert.ok(small !== undefined && big !== undefined);
    assert.equal(await outcome(src.open(small, 1024)), 'E_GIT_CHECKOUT');
    const body = await src.open(big, 1024);
    assert.equal(await outcome((body.stream as NonNullable<typeof body.stream>)(async () => undefined)), 'E_GIT_CHECKOUT');
  });

  it('stops listing a tree bomb (a few trees that unfold into many paths) at the entry limit', async (t) => {
    const r = await repo(t);
    await r.commit({ 'index.html': 'x' });
    // Each level names the one below ten times: 4 levels, 5 objects, 10,000 files.
    let oid = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: r.dir, input: 'leaf', encoding: 'utf8' }).trim();
    let mode = '100644';
    for (let level = 0; level < 4; level++) {
      const listing = Array.from({ length: 10 }, (_, i) => `${mode} ${mode === '040000' ? 'tree' : 'blob'} ${oid}\tn${i}\n`).join('');
      oid = execFileSync('git', ['mktree'], { cwd: r.dir, input: listing, encoding: 'utf8' }).trim();
      mode = '040000';
    }
    git(r.dir, 'read-tree', '--prefix=bomb/', oid);
    git(r.dir, 'commit', '--quiet', '-m', 'bomb');
    const commit = git(r.dir, 'rev-parse', 'HEAD').trim();
    const bounded = openCommitTree(r.gitDir, commit, { maxEntries: 5_000 });
    await assert.rejects(bounded, (error: unknown) => isBerthError(error) && error.code === 'E_PUBLISH_SOURCE' && /more than 5000 files and directories/.test(error.message));
    const whole = await openCommitTree(r.gitDir, commit, { maxEntries: 20_000 });
    onCleanup(t, () => whole.close());
    assert.equal([...whole.nodes()].filter((node) => node.kind === 'file').length, 10_001);
  });

  it('refuses a commit whose tree holds names git never checks out: ., .., empty, a slash, a name twice', async (t) => {
    const r = await repo(t);
    await r.commit({ 'index.html': 'x' });
    const blob = execFileSync('git', ['hash-object', '-w', '--stdin'], { cwd: r.dir, input: 'leaf', encoding: 'utf8' }).trim();
    // Tree objects as a hostile server could send them (git mktree and fsck refuse these).
    const treeOf = (names: string[]): string => {
      const sorted = [...names].sort();
      const body = Buffer.concat(sorted.map((name) => Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.from(blob, 'hex')])));
      return execFileSync('git', ['hash-object', '-t', 'tree', '-w', '--literally', '--stdin'], { cwd: r.dir, input: body, encoding: 'utf8' }).trim();
    };
    const commitOf = (tree: string): string => git(r.dir, 'commit-tree', tree, '-m', 'hostile').trim();
    for (const names of [['index.html', '..'], ['index.html', '.'], ['index.html', ''], ['index.html', 'a/b'], ['index.html', 'index.html']]) {
      const commit = commitOf(treeOf(names));
      // An empty name git refuses to list itself.
      const said = names.includes('') ? /empty filename/ : /a path git would not check out/;
      await assert.rejects(openCommitTree(r.gitDir, commit), (error: unknown) => isBerthError(error) && error.code === 'E_PUBLISH_SOURCE' && said.test(error.message), JSON.stringify(names));
    }
    const fine = commitOf(treeOf(['index.html', 'a.b']));
    const tree = await openCommitTree(r.gitDir, fine);
    onCleanup(t, () => tree.close());
    assert.deepEqual([...tree.nodes()].map((node) => node.path), ['a.b', 'index.html']);
  });

  it('skips a submodule (gitlink), as a checkout without submodules leaves it empty', async (t) => {
    const r = await repo(t);
    const inner = await repo(t);
    const innerCommit = await inner.commit({ 'lib.js': 'x' });
    await r.commit({ 'index.html': 'x' });
    git(r.dir, 'update-index', '--add', '--cacheinfo', `160000,${innerCommit},vendor/lib`);
    git(r.dir, 'commit', '--quiet', '-m', 'submodule');
    const commit = git(r.dir, 'rev-parse', 'HEAD').trim();
    assert.deepEqual((await (await source(t, r, commit)).entries()).map((entry) => entry.relPath), ['index.html']);
  });

  it('refuses an oversized rules file, one that is a link and one that is a directory, before reading it', async (t) => {
    const r = await repo(t);
    const big = await r.commit({ 'index.html': 'x', '_redirects': `${'/a /b 301\n'.repeat(2000)}` });
    const src = await source(t, r, big);
    assert.equal(await outcome(src.readRules('_redirects', { maxBytes: 1024, code: 'E_REDIRECTS_INVALID' })), 'E_REDIRECTS_INVALID');
    assert.equal(src.opened, 0);
    const linked = await r.commit({ 'rules.txt': '/a /b 301' }, async (dir) => {
      await rm(join(dir, '_redirects'));
      await symlink('rules.txt', join(dir, '_redirects'));
    });
    assert.equal(await outcome((await source(t, r, linked)).readRules('_redirects', { maxBytes: 1024, code: 'E_REDIRECTS_INVALID' })), 'E_PUBLISH_SYMLINK');
    const dir = await r.commit({ '_headers/x': 'y' });
    assert.equal(await outcome((await source(t, r, dir)).readRules('_headers', { maxBytes: 1024, code: 'E_HEADERS_INVALID' })), 'E_HEADERS_INVALID');
  });
});

/**
 * Each case committed, then published both ways: from the commit's tree and
 * (as before) by walking a checkout of it. Both must agree: the same files,
 * or the same refusal.
 */
describe('gitTreeSource() links and publish directories, compared with publishing a checkout', () => {
  const cases: Array<{ name: string; publish?: string; build: (dir: string) => Promise<void>; expect: string | string[] }> = [
    {
      name: 'a link to a file inside the publish directory is published as a copy of it',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x', 'docs/a.html': 'A' });
        await symlink('docs/a.html', join(dir, 'alias.html'));
        await symlink('../docs/./a.html', join(dir, 'docs/self.html'));
      },
      expect: ['alias.html', 'docs/a.html', 'docs/self.html', 'index.html'],
    },
    {
      name: 'a link through a linked directory to a file inside',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x', 'real/a.html': 'A' });
        await symlink('real', join(dir, '.via'));
        await symlink('.via/a.html', join(dir, 'b.html'));
      },
      expect: ['b.html', 'index.html', 'real/a.html'],
    },
    {
      name: 'a link leaving the publish directory',
      publish: 'site',
      build: async (dir) => {
        await writeTree(dir, { 'site/index.html': 'x', 'private.txt': 'p' });
        await symlink('../private.txt', join(dir, 'site/leak.txt'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a link leaving the repository',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('../../../../../../etc/passwd', join(dir, 'passwd.txt'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'an absolute link',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('/etc/hostname', join(dir, 'host.txt'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a link to a directory',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x', 'docs/a.html': 'A' });
        await symlink('docs', join(dir, 'manual'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a dangling link',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('gone.html', join(dir, 'a.html'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a loop of links',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('b.html', join(dir, 'a.html'));
        await symlink('a.html', join(dir, 'b.html'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a link through a file, as if it were a directory',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('index.html/x', join(dir, 'a.html'));
      },
      expect: 'E_PUBLISH_SYMLINK',
    },
    {
      name: 'a link in a private directory is not looked at',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await mkdir(join(dir, '.private'));
        await symlink('/etc/shadow', join(dir, '.private/shadow'));
      },
      expect: ['index.html'],
    },
    {
      name: 'a publish directory that is a link to a directory inside the repository',
      publish: 'public',
      build: async (dir) => {
        await writeTree(dir, { 'out/index.html': 'x' });
        await symlink('out', join(dir, 'public'));
      },
      expect: ['index.html'],
    },
    {
      name: 'a publish directory that is a link out of the repository',
      publish: 'public',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('/etc', join(dir, 'public'));
      },
      expect: 'E_BUILD_CONFIG',
    },
    {
      name: 'a publish directory that is a file',
      publish: 'public',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x', public: 'a file' });
      },
      expect: 'E_PUBLISH_SOURCE',
    },
    {
      name: 'a missing publish directory',
      publish: 'public',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
      },
      expect: 'E_PUBLISH_SOURCE',
    },
  ];

  for (const testCase of cases) {
    it(testCase.name, async (t) => {
      const r = await repo(t);
      const commit = await r.commit({}, testCase.build);
      const publish = testCase.publish ?? '.';
      const fromGit = await listOrCode(async () => (await source(t, r, commit, publish)).entries());
      const fromCheckout = await listOrCode(async () => {
        const checkout = join(await tempDir(t), 'checkout');
        git(r.dir, 'worktree', 'add', '--quiet', '--detach', checkout, commit);
        const walked = await walkSource(await resolvePublishDir(checkout, publish), { within: checkout });
        return walked.files;
      });
      assert.deepEqual(fromGit, testCase.expect);
      assert.deepEqual(fromCheckout, testCase.expect, 'publishing a checkout gives the same');
    });
  }

  it('publishes the target\'s bytes for a link, read from the commit', async (t) => {
    const r = await repo(t);
    const commit = await r.commit({}, async (dir) => {
      await writeTree(dir, { 'docs/a.html': 'the target' });
      await symlink('docs/a.html', join(dir, 'alias.html'));
    });
    const src = await source(t, r, commit);
    assert.equal((await bytesOf(src, 'alias.html')).bytes.toString(), 'the target');
    const entries = await src.entries();
    assert.equal(entries.find((entry) => entry.relPath === 'alias.html')?.changeKey, `git:${blobId(r.dir, commit, 'docs/a.html')}`);
    assert.equal(await readFile(join(r.dir, 'alias.html'), 'utf8'), 'the target');
  });
});

async function listOrCode(list: () => Promise<Array<{ relPath: string }>>): Promise<string | string[]> {
  try {
    return (await list()).map((entry) => entry.relPath);
  } catch (error) {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    return error.code;
  }
}

/** A site with only the fields build settings read. */
function siteWith(build: Partial<ResolvedBuild> = {}): ResolvedSite {
  return {
    name: 'blog',
    build: { command: undefined, publish: undefined, environment: {}, timeoutMs: 600_000, maxProcesses: 1024, maxOutputBytes: 1_073_741_824, ...build },
  } as ResolvedSite;
}

/** The settings, or the error code, as a value to compare. */
async function settingsOrCode(work: () => Promise<BuildSettings>): Promise<unknown> {
  try {
    const settings = await work();
    return { ...settings };
  } catch (error) {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    return error.code;
  }
}

describe('resolveBuildSettings() from a commit, without a checkout', () => {
  const cases: Array<{ name: string; build: (dir: string) => Promise<void>; expect: (settings: unknown) => void }> = [
    { name: 'plain files', build: (dir) => writeTree(dir, { 'index.html': 'x' }), expect: (s) => assert.equal((s as BuildSettings).command, undefined) },
    {
      name: 'a berth.toml that names only a publish directory',
      build: (dir) => writeTree(dir, { 'berth.toml': '[build]\npublish = "site"\n', 'site/index.html': 'x' }),
      expect: (s) => assert.equal((s as BuildSettings).publish, 'site'),
    },
    {
      name: 'a netlify.toml with a command and a package.json with a lockfile',
      build: (dir) => writeTree(dir, { 'netlify.toml': '[build]\ncommand = "npm run build"\npublish = "dist"\n', 'package.json': '{}', 'package-lock.json': '{}' }),
      expect: (s) => assert.equal((s as BuildSettings).command, 'npm ci && npm run build'),
    },
    {
      name: 'an Astro project',
      build: (dir) => writeTree(dir, { 'package.json': JSON.stringify({ scripts: { build: 'astro build' }, dependencies: { astro: '^5' } }) }),
      expect: (s) => assert.equal((s as BuildSettings).source, 'preset astro (npm install)'),
    },
    {
      name: 'a Hugo site with a generic config and content and layouts directories',
      build: (dir) => writeTree(dir, { 'config.toml': 'title = "x"', 'content/a.md': 'a', 'layouts/b.html': 'b' }),
      expect: (s) => assert.equal((s as BuildSettings).source, 'preset hugo'),
    },
    {
      name: 'a berth.toml that is a link to a file elsewhere',
      build: async (dir) => {
        await writeTree(dir, { 'index.html': 'x' });
        await symlink('/etc/passwd', join(dir, 'berth.toml'));
      },
      expect: (s) => assert.equal(s, 'E_BUILD_CONFIG'),
    },
    {
      name: 'a package.json that is a directory',
      build: (dir) => writeTree(dir, { 'package.json/x': 'y', 'index.html': 'x' }),
      expect: (s) => assert.equal(s, 'E_BUILD_CONFIG'),
    },
    {
      name: 'a netlify.toml over 1 MiB',
      build: (dir) => writeTree(dir, { 'netlify.toml': `# ${'x'.repeat(1024 * 1024)}\n`, 'index.html': 'x' }),
      expect: (s) => assert.equal(s, 'E_BUILD_CONFIG'),
    },
    {
      name: 'an index.html that is a link (not a static site by itself)',
      build: async (dir) => {
        await writeTree(dir, { 'real.html': 'x' });
        await symlink('real.html', join(dir, 'index.html'));
      },
      expect: (s) => assert.equal(s, 'E_BUILD_CONFIG'),
    },
  ];
  for (const testCase of cases) {
    it(`decides as a checkout would: ${testCase.name}`, async (t) => {
      const r = await repo(t);
      const commit = await r.commit({}, testCase.build);
      // Only the root is listed, as a deploy lists it to decide.
      const tree = await openCommitTree(r.gitDir, commit, { code: 'E_BUILD_CONFIG', rootOnly: true });
      onCleanup(t, () => tree.close());
      const fromCommit = await settingsOrCode(() => resolveBuildSettings(siteWith(), commitFiles(tree)));
      const checkout = join(await tempDir(t), 'checkout');
      git(r.dir, 'worktree', 'add', '--quiet', '--detach', checkout, commit);
      const fromCheckout = await settingsOrCode(() => resolveBuildSettings(siteWith(), checkout));
      testCase.expect(fromCommit);
      assert.deepEqual(fromCommit, fromCheckout);
    });
  }
});
