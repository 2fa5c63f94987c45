import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lockDataDir } from '../../src/state/data-dir-lock.ts';
import { isBerthError } from '../../src/errors.ts';
import { tempDir } from '../helpers/temp.ts';

const LOCK_MODULE = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'state', 'data-dir-lock.ts')).href;

function isLockedError(dataDir: string, pid: number) {
  return (error: unknown): boolean => {
    assert.ok(isBerthError(error));
    assert.equal(error.code, 'E_DATA_DIR_LOCKED');
    assert.equal(error.message, `Another berth serve (pid ${pid}) is using ${dataDir}; stop it first, or give this one its own data_dir`);
    return true;
  };
}

test('lockDataDir writes our pid to serve.lock and a second lock is refused until release', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const lock = await lockDataDir(dataDir);
  assert.equal((await readFile(join(dataDir, 'serve.lock'), 'utf8')).trim(), String(process.pid));
  await assert.rejects(lockDataDir(dataDir), isLockedError(dataDir, process.pid));
  await lock.release();
  await lock.release();
  assert.deepEqual(await readdir(dataDir), []);
  const again = await lockDataDir(dataDir);
  await again.release();
});

test('a lock left by a process that is gone is taken over', async (t) => {
  const dataDir = await tempDir(t);
  // A pid far above any default pid_max is never alive.
  await writeFile(join(dataDir, 'serve.lock'), '2147483646\n');
  const lock = await lockDataDir(dataDir);
  assert.equal((await readFile(join(dataDir, 'serve.lock'), 'utf8')).trim(), String(process.pid));
  await lock.release();
});

test('a lock with our own pid that this process never took (a restarted container) is taken over', async (t) => {
  const dataDir = await tempDir(t);
  await writeFile(join(dataDir, 'serve.lock'), `${process.pid}\n`);
  const lock = await lockDataDir(dataDir);
  await assert.rejects(lockDataDir(dataDir), isLockedError(dataDir, process.pid));
  await lock.release();
});

test('a lock held by another process refuses us until that process is killed', async (t) => {
  const dataDir = await tempDir(t);
  const script = `
    import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
    await lockDataDir(${JSON.stringify(dataDir)});
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const [firstLine] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(firstLine.toString().trim(), 'locked');
  const childPid = child.pid as number;

  await assert.rejects(lockDataDir(dataDir), isLockedError(dataDir, childPid));

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  const lock = await lockDataDir(dataDir);
  assert.equal((await readFile(join(dataDir, 'serve.lock'), 'utf8')).trim(), String(process.pid));
  await lock.release();
  assert.deepEqual(await readdir(dataDir), []);
});
