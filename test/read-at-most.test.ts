import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readAtMost } from '../src/read-at-most.ts';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-read-at-most-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('readAtMost() returns a file shorter than the limit whole', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'short'), 'hello');
    const handle = await open(join(dir, 'short'), 'r');
    try {
      assert.equal((await readAtMost(handle, 64)).toString(), 'hello');
    } finally {
      await handle.close();
    }
  });
});

test('readAtMost() stops at the limit on a longer file', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'long'), 'x'.repeat(1000));
    const handle = await open(join(dir, 'long'), 'r');
    try {
      const bytes = await readAtMost(handle, 11);
      assert.equal(bytes.length, 11);
      assert.equal(bytes.toString(), 'x'.repeat(11));
    } finally {
      await handle.close();
    }
  });
});

test('readAtMost() reads a pipe that reports no size across several writes, up to the limit', async () => {
  await withDir(async (dir) => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', `printf abc > '${fifo}.tmp'; cat '${fifo}.tmp' '${fifo}.tmp' '${fifo}.tmp' > '${fifo}'`]);
    const exited = new Promise((resolve) => writer.on('exit', resolve));
    const handle = await open(fifo, 'r');
    try {
      assert.equal((await handle.stat()).size, 0);
      assert.equal((await readAtMost(handle, 7)).toString(), 'abcabca');
      assert.equal((await readAtMost(handle, 64)).toString(), 'bc');
    } finally {
      await handle.close();
    }
    assert.equal(await exited, 0);
  });
});
