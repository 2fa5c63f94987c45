/**
 * A release whose file list is damaged never goes live and never takes the
 * server down: the worker logs that it cannot load it and keeps serving the
 * release before it, and the next good release goes live as usual.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { activateRelease } from '../../src/releases/activate.ts';
import { FILE_ROWS_NAME } from '../../src/releases/manifest.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { sitePaths } from '../../src/releases/site-paths.ts';
import { eventually, get, startTestServer } from '../helpers/server.ts';
import { writeTree } from '../helpers/temp.ts';

const HASH = 'b'.repeat(64);
const row = (fields: unknown[]): string => `${JSON.stringify(fields)}\n`;
const fields = (path: string): unknown[] => [path, 3, HASH, 'text/html; charset=utf-8', 'revalidate', null, null, 0];

test('a release whose file list is cut short, oversized, malformed, doubled, missing, a link or a FIFO is logged and the previous one keeps serving', async (t) => {
  const s = await startTestServer(t, { files: { site: { 'index.html': 'good' } } });
  const paths = sitePaths(s.config.dataDir, 'site');
  const damages: Array<[string, (rowsFile: string) => Promise<void>]> = [
    ['cut in the middle of a line', async (file) => writeFile(file, (await readFile(file)).subarray(0, -5))],
    ['a line of 1 MiB', async (file) => writeFile(file, row(fields(`/${'x'.repeat(1024 * 1024)}`)))],
    ['a path that is not a string', async (file) => writeFile(file, row([7, ...fields('/a').slice(1)]))],
    ['a negative size', async (file) => writeFile(file, row(['/index.html', -1, ...fields('/a').slice(2)]))],
    ['a path twice', async (file) => writeFile(file, row(fields('/index.html')) + row(fields('/index.html')))],
    ['missing', async (file) => rm(file)],
    ['a symbolic link', async (file) => {
      await writeFile(`${file}.real`, await readFile(file));
      await rm(file);
      await symlink(`${file}.real`, file);
    }],
    ['a FIFO', async (file) => {
      await rm(file);
      execFileSync('mkfifo', ['-m', '600', file]);
    }],
  ];
  let n = 0;
  for (const [what, damage] of damages) {
    const dir = join(s.root, `bad-${n++}`);
    await writeTree(dir, { 'index.html': `bad ${what}` });
    const bad = await publishRelease({ dataDir: s.config.dataDir, site: 'site', sourceDir: dir, retain: 20, activate: false });
    await damage(join(bad.releaseDir, FILE_ROWS_NAME));
    await activateRelease(paths, bad.id);
    assert.ok(
      await eventually(async () => s.logs.some((line) => line.release === bad.id && line.msg === 'cannot load release; still serving the previous one')),
      what,
    );
    const reply = await get(s.httpPort, '/');
    assert.equal(reply.status, 200, what);
    assert.equal(reply.body.toString(), 'good', what);
  }
  const next = await s.publish('site', { 'index.html': 'next' });
  assert.ok(await eventually(async () => s.logs.some((line) => line.release === next && line.msg === 'release active')));
  assert.equal((await get(s.httpPort, '/')).body.toString(), 'next');
});
