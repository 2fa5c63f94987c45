import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lockDataDir } from '../../src/state/data-dir-lock.ts';
import { isBerthError } from '../../src/errors.ts';
import { eventually } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';

const LOCK_MODULE = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'state', 'data-dir-lock.ts')).href;

/** The pid a lock file names. */
async function lockOwnerPid(dataDir: string): Promise<number> {
  return (JSON.parse(await readFile(join(dataDir, 'serve.lock'), 'utf8')) as { pid: number }).pid;
}

/** The state letter of /proc/<pid>/stat (Z for a zombie), or undefined once the process is gone. */
async function processState(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

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
  assert.equal(await lockOwnerPid(dataDir), process.pid);
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
  assert.equal(await lockOwnerPid(dataDir), process.pid);
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
  assert.equal(await lockOwnerPid(dataDir), process.pid);
  await lock.release();
  assert.deepEqual(await readdir(dataDir), []);
});

test('a lock held by a zombie (dead, not yet collected by its parent) is taken over', async (t) => {
  const dataDir = await tempDir(t);
  const script = `
    import { lockDataDir } from ${JSON.stringify(LOCK_MODULE)};
    await lockDataDir(${JSON.stringify(dataDir)});
    process.stdout.write(process.pid + '\\n');
    process.kill(process.pid, 'SIGKILL');
  `;
  // The shell starts the locker in the background and then becomes sleep,
  // which never waits for children: the locker, once dead, stays a zombie.
  const parent = spawn('sh', ['-c', '"$0" --input-type=module --eval "$1" & exec sleep 600', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const zombie = Number(line.toString().trim());
  assert.ok(await eventually(async () => (await processState(zombie)) === 'Z', 30_000), 'the locker became a zombie');
  assert.equal(await lockOwnerPid(dataDir), zombie);

  const lock = await lockDataDir(dataDir);
  assert.equal(await lockOwnerPid(dataDir), process.pid);
  // Still a zombie: it was judged dead, not reaped away.
  assert.equal(await processState(zombie), 'Z');
  await lock.release();
});

test('a lock whose pid now belongs to another process, started later, is taken over', async (t) => {
  const dataDir = await tempDir(t);
  // A live process (this test's parent) that is not the one that wrote the lock: its start time differs.
  const stat = await readFile(`/proc/${process.ppid}/stat`, 'utf8');
  const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  await writeFile(join(dataDir, 'serve.lock'), `${process.ppid} ${start + 1}\n`);
  const lock = await lockDataDir(dataDir);
  assert.equal(await lockOwnerPid(dataDir), process.pid);
  await lock.release();
  // The same pid with its real start time is a live owner.
  await writeFile(join(dataDir, 'serve.lock'), `${process.ppid} ${start}\n`);
  await assert.rejects(lockDataDir(dataDir), isLockedError(dataDir, process.ppid));
});

test('another user (the service user, while the supervisor runs as root) can tell which berth serve holds the data dir', async (t) => {
  const root = await tempDir(t);
  const dataDir = join(root, 'data');
  const lock = await lockDataDir(dataDir);
  await chmod(root, 0o755);
  await chmod(dataDir, 0o755);
  const script = `
    import { runningServerPid } from ${JSON.stringify(LOCK_MODULE)};
    process.stdout.write(String(await runningServerPid(${JSON.stringify(dataDir)})));
  `;
  // nobody: neither the lock's owner (root) nor in its group.
  const child = spawn(process.execPath, ['--input-type=module', '--eval', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0, err);
  assert.equal(out, String(process.pid));
  await lock.release();
});
