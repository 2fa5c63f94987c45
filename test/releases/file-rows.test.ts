/**
 * A version 2 release keeps its files out of the manifest, one JSON row a
 * line in `.berth-files.jsonl`, read back in small chunks. Whatever is in
 * that file (cut short, a huge line, a wrong field, a path twice, a link or
 * a FIFO in its place, gone) is refused as `E_MANIFEST_INVALID` naming the
 * release and the line, never trusted and never waited on.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBerthError } from '../../src/errors.ts';
import { FILE_ROWS_NAME, MANIFEST_NAME, type ManifestFile, type ManifestHeader } from '../../src/releases/manifest.ts';
import { publishRelease, SOURCE_KEYS_NAME } from '../../src/releases/publish.ts';
import { openManifest, readManifest } from '../../src/releases/read-manifest.ts';
import { fileRow, writeFileRows } from '../../src/releases/write-file-rows.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const HASH = 'a'.repeat(64);

async function published(t: Parameters<typeof tempDir>[0], files: Record<string, string> = { 'index.html': '<p>home</p>', 'about.html': 'about' }): Promise<{ releaseDir: string; id: string }> {
  const root = await tempDir(t);
  await writeTree(join(root, 'out'), files);
  const result = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: join(root, 'out'), retain: 5 });
  return { releaseDir: result.releaseDir, id: result.id };
}

/** Puts `bytes` in place of the rows file and makes the manifest describe them exactly, so only the rows' own checks can refuse them. */
async function replaceRows(releaseDir: string, bytes: Buffer, count: number): Promise<void> {
  await writeFile(join(releaseDir, FILE_ROWS_NAME), bytes);
  const header = JSON.parse(await readFile(join(releaseDir, MANIFEST_NAME), 'utf8')) as ManifestHeader;
  header.fileRows = { count, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFile(join(releaseDir, MANIFEST_NAME), JSON.stringify(header));
}

const row = (fields: unknown[]): string => `${JSON.stringify(fields)}\n`;
const good = (path: string): unknown[] => [path, 5, HASH, 'text/html; charset=utf-8', 'revalidate', null, null, 1_700_000_000_000];

async function refused(releaseDir: string, id: string, pattern: RegExp): Promise<void> {
  for (const read of [readManifest, async (dir: string) => (await openManifest(dir)).rows.forEach(() => undefined)]) {
    await assert.rejects(read(releaseDir), (error: unknown) => {
      assert.ok(isBerthError(error) && error.code === 'E_MANIFEST_INVALID', String(error));
      assert.ok(error.message.includes(id), error.message);
      assert.match(error.message, pattern);
      return true;
    });
  }
}

describe('the file list of a release', () => {
  it('is written beside the manifest, sorted, one row a line, and read back as the same files, any path included', async (t) => {
    const files = { 'index.html': 'home', 'b/tab\there.txt': 'tab', 'b/new\nline.txt': 'newline', 'b/"quote".txt': 'quote', 'a.css': 'x {}' };
    const { releaseDir } = await published(t, files);
    const header = JSON.parse(await readFile(join(releaseDir, MANIFEST_NAME), 'utf8')) as Record<string, unknown>;
    assert.equal(header.files, undefined, 'the files are not in the manifest');
    assert.equal(header.version, 2);
    const lines = (await readFile(join(releaseDir, FILE_ROWS_NAME), 'utf8')).split('\n');
    assert.equal(lines.pop(), '', 'every row ends in a newline');
    const paths = lines.map((line) => (JSON.parse(line) as [string])[0]);
    assert.deepEqual(paths, [...paths].sort());
    assert.deepEqual(new Set(paths), new Set(Object.keys(files).map((path) => `/${path}`)));
    const manifest = await readManifest(releaseDir);
    assert.equal(manifest.files['/b/new\nline.txt']?.size, 'newline'.length);
    assert.equal(manifest.files['/b/tab\there.txt']?.hash, createHash('sha256').update('tab').digest('hex'));
    assert.equal(manifest.files['/a.css']?.type, 'text/css; charset=utf-8');
    const streamed: Array<[string, ManifestFile]> = [];
    const opened = await openManifest(releaseDir);
    assert.equal(opened.rows.count, 5);
    await opened.rows.forEach((path, file) => streamed.push([path, file]));
    assert.deepEqual(Object.fromEntries(streamed), manifest.files);
  });

  it('is paired with a change-key record that is valid JSON whatever the paths hold, in path order', async (t) => {
    const root = await tempDir(t);
    const files = { 'index.html': 'home', 'b/tab\there.txt': 'tab', 'b/new\nline.txt': 'newline', 'b/"quote" \\.txt': 'quote', 'c/\u00e9\u{1f600}.txt': 'emoji' };
    await writeTree(join(root, 'out'), files);
    const past = new Date(Date.now() - 60_000);
    for (const name of Object.keys(files)) await utimes(join(root, 'out', name), past, past);
    const result = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: join(root, 'out'), retain: 5 });
    const record = JSON.parse(await readFile(join(result.releaseDir, SOURCE_KEYS_NAME), 'utf8')) as { takenAtMs: number; keys: Array<[string, string]> };
    assert.ok(Number.isSafeInteger(record.takenAtMs));
    assert.deepEqual(record.keys.map(([, path]) => path), Object.keys(files).map((name) => `/${name}`).sort());
    for (const [key] of record.keys) assert.match(key, /^stat:\d+:\d+:\d+:\d+:\d+$/);
    const again = await publishRelease({ dataDir: join(root, 'data'), site: 'site', sourceDir: join(root, 'out'), retain: 5 });
    assert.equal(again.unchanged, 5, 'every file is taken by its key');
  });

  it('reads a row in any valid JSON form (spaces, escapes, exponents, a fraction) as JSON reads it, and Berth writes each row as JSON.stringify would', async (t) => {
    const { releaseDir } = await published(t);
    const lines = [
      '["/a",5,"' + HASH + '","text/html; charset=utf-8","revalidate",null,null,1700000000000]',
      '[ "/b" , 5 , "' + HASH + '" , "text/css" , "immutable" , 7 , 9 , -12 ]',
      '["\\/c\\u00e9",5e0,"' + HASH + '","text/pl\\u0061in","revalidate",null,3,1.5]',
      '["/d\\"q\\"",0,"' + HASH + '","image/png","revalidate",null,null,1e3]',
      '["/\u00e9t\u00e9/\u65e5\u672c.html",12,"' + HASH + '","text/html","revalidate",4,null,0]',
    ];
    await replaceRows(releaseDir, Buffer.from(lines.map((line) => `${line}\n`).join('')), lines.length);
    const read: Array<[string, ManifestFile]> = [];
    await (await openManifest(releaseDir)).rows.forEach((path, file) => read.push([path, file]));
    const expected = lines.map((line): [string, ManifestFile] => {
      const [path, size, hash, type, cache, br, gzip, mtimeMs] = JSON.parse(line) as [string, number, string, string, 'immutable' | 'revalidate', number | null, number | null, number];
      return [path, { size, hash, type, cache, encodings: { ...(br === null ? {} : { br }), ...(gzip === null ? {} : { gzip }) }, mtimeMs }];
    });
    assert.deepEqual(read, expected);
    for (const [path, file] of [...expected, ['/tab\there "x" \\ \ud83d\ude00', { ...(expected[0] as [string, ManifestFile])[1], mtimeMs: -0 }] as [string, ManifestFile]]) {
      const { size, hash, type, cache, encodings, mtimeMs } = file;
      assert.equal(fileRow(path, file), JSON.stringify([path, size, hash, type, cache, encodings.br ?? null, encodings.gzip ?? null, mtimeMs]));
    }
  });

  it('refuses a row that is one small edit away from a valid one, with the message JSON would have given', async (t) => {
    const { releaseDir, id } = await published(t);
    const valid = `["/a",5,"${HASH}","text/html","revalidate",null,null,1700000000000]`;
    const cases: Array<[string, RegExp]> = [
      [valid.replace('5,', '05,'), /line 1 is not JSON/],
      [valid.replace(',5,', ',9999999999999999,'), /line 1 has a size that is not a whole number of bytes/],
      [valid.replace(HASH, `A${HASH.slice(1)}`), /line 1 has a hash that is not 64 hex digits/],
      [valid.replace('null,null', 'nul,null'), /line 1 is not JSON/],
      [valid.replace('"revalidate"', '"revalidatE"'), /line 1 has a cache policy/],
      [valid.replace(']', ',]'), /line 1 is not JSON/],
      [valid.replace('1700000000000]', '-]'), /line 1 is not JSON/],
      [valid.replace('"/a"', '"/a\u0001"'), /line 1 is not JSON/],
      [valid.replace('null,null', 'null,-1'), /line 1 has a compressed size/],
    ];
    for (const [line, pattern] of cases) {
      assert.notEqual(line, valid);
      await replaceRows(releaseDir, Buffer.from(`${line}\n`), 1);
      await refused(releaseDir, id, pattern);
    }
  });

  it('is written the same from entries already in path order as from a record, and a path given twice is refused', async (t) => {
    const dir = await tempDir(t);
    const file = (n: number): ManifestFile => ({ size: n, hash: HASH, type: 'text/plain', cache: 'revalidate', encodings: n > 1 ? { gzip: n - 1 } : {}, mtimeMs: n });
    const record = { '/b': file(2), '/a': file(1), '/c/\u00e9': file(3) };
    const entries: Array<[string, ManifestFile]> = [['/a', file(1)], ['/b', file(2)], ['/c/\u00e9', file(3)]];
    const fromRecord = await writeFileRows(join(dir, 'record'), record);
    const fromEntries = await writeFileRows(join(dir, 'entries'), entries);
    assert.deepEqual(fromEntries, fromRecord);
    assert.deepEqual(await readFile(join(dir, 'entries')), await readFile(join(dir, 'record')));
    const shuffled = await writeFileRows(join(dir, 'shuffled'), [entries[2], entries[0], entries[1]] as Array<[string, ManifestFile]>);
    assert.deepEqual(shuffled, fromRecord, 'entries out of order are sorted first');
    await assert.rejects(writeFileRows(join(dir, 'twice'), [entries[0], entries[0]] as Array<[string, ManifestFile]>), /given "\/a" twice/);
  });

  it('is refused when cut short in the middle of a line', async (t) => {
    const { releaseDir, id } = await published(t);
    const whole = await readFile(join(releaseDir, FILE_ROWS_NAME));
    await replaceRows(releaseDir, whole.subarray(0, whole.length - 10), 2);
    await refused(releaseDir, id, /ends in the middle of line 2 \(truncated\)/);
  });

  it('is refused when cut short at a line end, or when it no longer matches what the manifest recorded', async (t) => {
    const { releaseDir, id } = await published(t);
    const whole = await readFile(join(releaseDir, FILE_ROWS_NAME));
    const firstLine = whole.subarray(0, whole.indexOf(0x0a) + 1);
    await replaceRows(releaseDir, firstLine, 2);
    await refused(releaseDir, id, /has 1 rows where its manifest says 2/);
    // Cut without the manifest knowing: its size is not the one recorded.
    await replaceRows(releaseDir, whole, 2);
    await writeFile(join(releaseDir, FILE_ROWS_NAME), firstLine);
    await refused(releaseDir, id, /is \d+ bytes where its manifest says \d+/);
    // Same size, other bytes.
    const altered = Buffer.from(whole);
    altered[altered.indexOf('revalidate') + 1] = 'x'.charCodeAt(0);
    await writeFile(join(releaseDir, FILE_ROWS_NAME), altered);
    await refused(releaseDir, id, /cache policy|SHA-256 differs/);
  });

  it('is refused at a line of 1 MiB without holding it whole', async (t) => {
    const { releaseDir, id } = await published(t);
    await replaceRows(releaseDir, Buffer.from(row(good('/a')) + row(good(`/${'x'.repeat(1024 * 1024)}`))), 2);
    await refused(releaseDir, id, /line over 65536 bytes at line 2/);
  });

  it('is refused at a row whose path is not a string, whose size is negative, or whose fields are wrong', async (t) => {
    const { releaseDir, id } = await published(t);
    const cases: Array<[unknown[][], RegExp]> = [
      [[good('/a'), [42, ...good('/b').slice(1)]], /line 2 has a path that is not a string/],
      [[['/a', -1, ...good('/a').slice(2)]], /line 1 has a size that is not a whole number of bytes: "-1"/],
      [[['/a', 1.5, ...good('/a').slice(2)]], /line 1 has a size/],
      [[['/a', 5, 'not-a-hash', ...good('/a').slice(3)]], /line 1 has a hash that is not 64 hex digits/],
      [[[...good('/a').slice(0, 5), -3, null, 0]], /line 1 has a compressed size/],
      [[[...good('/a').slice(0, 4), 'forever', null, null, 0]], /line 1 has a cache policy/],
      [[good('/a').slice(0, 7)], /line 1 is not an array of 8 fields/],
      [[['a/relative', ...good('/a').slice(1)]], /line 1 has a path that is not a string starting with \//],
    ];
    for (const [rows, pattern] of cases) {
      await replaceRows(releaseDir, Buffer.from(rows.map(row).join('')), rows.length);
      await refused(releaseDir, id, pattern);
    }
    await replaceRows(releaseDir, Buffer.from(`${row(good('/a'))}{"not": "a row"\n`), 2);
    await refused(releaseDir, id, /line 2 is not JSON/);
  });

  it('is refused when a path is given twice (or the rows are out of order)', async (t) => {
    const { releaseDir, id } = await published(t);
    await replaceRows(releaseDir, Buffer.from(row(good('/a')) + row(good('/b')) + row(good('/b'))), 3);
    await refused(releaseDir, id, /line 3 names "\/b" after "\/b": a path twice/);
    await replaceRows(releaseDir, Buffer.from(row(good('/b')) + row(good('/a'))), 2);
    await refused(releaseDir, id, /line 2 names "\/a" after "\/b"/);
  });

  it('is refused when missing, a symbolic link, or a FIFO, without waiting on the FIFO', async (t) => {
    const { releaseDir, id } = await published(t);
    const rowsFile = join(releaseDir, FILE_ROWS_NAME);
    const whole = await readFile(rowsFile);
    await rm(rowsFile);
    await refused(releaseDir, id, /is missing/);
    const elsewhere = join(releaseDir, '..', 'elsewhere.jsonl');
    await writeFile(elsewhere, whole);
    await symlink(elsewhere, rowsFile);
    await refused(releaseDir, id, /is a symbolic link/);
    await rm(rowsFile);
    execFileSync('mkfifo', ['-m', '600', rowsFile]);
    await refused(releaseDir, id, /is not a regular file/);
  });

  it('is refused when the manifest claims more rows than its file could hold', async (t) => {
    const { releaseDir } = await published(t);
    const header = JSON.parse(await readFile(join(releaseDir, MANIFEST_NAME), 'utf8')) as ManifestHeader;
    header.fileRows.count = 1e12;
    await writeFile(join(releaseDir, MANIFEST_NAME), JSON.stringify(header));
    await assert.rejects(readManifest(releaseDir), (error: unknown) => isBerthError(error) && error.code === 'E_MANIFEST_INVALID' && error.message.includes(releaseDir));
  });
});
