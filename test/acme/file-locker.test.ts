import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { createFileLocker, type FileLockerOptions } from '../../src/acme/file-locker.ts';
import { isBerthError } from '../../src/errors.ts';
import { tempDir } from '../helpers/temp.ts';

const LOCKER_MODULE = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'acme', 'file-locker.ts')).href;

/** Takes a lock, says "locked", holds it until stdin closes, releases, says "released". */
const HOLDER_SCRIPT = `
import { createFileLocker } from ${JSON.stringify(LOCKER_MODULE)};
const [dir, name, options] = process.argv.slice(2);
const release = await createFileLocker(dir, JSON.parse(options)).lock(name);
process.stdout.write('locked\\n');
process.stdin.resume();
await new Promise((resolve) => process.stdin.on('end', resolve));
await release();
process.stdout.write('released\\n');
`;

interface Holder {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** Resolves with the next line the child prints. */
  nextLine(): Promise<string>;
}

/** A real second process holding the lock `name` in `dir`. */
async function spawnHolder(t: TestContext, scriptDir: string, dir: string, name: string, options: FileLockerOptions = {}): Promise<Holder> {
  const script = join(scriptDir, 'hold-lock.mjs');
  await writeFile(script, HOLDER_SCRIPT);
  const child = spawn(process.execPath, [script, dir, name, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async (): Promise<string> => {
    const next = await lines.next();
    assert.ok(next.done !== true, `the holder exited without a line; stderr: ${stderr}`);
    return next.value;
  };
  assert.equal(await nextLine(), 'locked');
  return { child, pid: child.pid as number, nextLine };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid as number;
}

/** A process that stays alive until the test ends. */
function livePid(t: TestContext): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child.pid as number;
}

async function age(file: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(file, then, then);
}

function isLockedError(file: string) {
  return (error: unknown): boolean => {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    assert.equal(error.code, 'E_CERT_LOCKED');
    assert.ok(error.message.includes(file), `the message names ${file}: ${error.message}`);
    return true;
  };
}

async function owner(file: string): Promise<{ pid: number; host: string }> {
  return JSON.parse(await readFile(file, 'utf8')) as { pid: number; host: string };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('file locker', () => {
  it('writes our pid and host to an exclusive lock file and removes it on release', async (t) => {
    const dir = join(await tempDir(t), 'locks');
    const release = await createFileLocker(dir).lock('example.com');
    const file = join(dir, 'example.com.lock');
    const content = JSON.parse(await readFile(file, 'utf8')) as { pid: number; host: string; created: string };
    assert.equal(content.pid, process.pid);
    assert.equal(content.host, hostname());
    assert.ok(!Number.isNaN(Date.parse(content.created)));
    await release();
    assert.equal(await exists(file), false);
    // Released twice: nothing to remove, no error.
    await release();
  });

  it('creates the lock directory 0700 and lock files 0600', async (t) => {
    const dir = join(await tempDir(t), 'data', 'acme', 'locks');
    const release = await createFileLocker(dir).lock('example.com');
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'example.com.lock'))).mode & 0o777, 0o600);
    await release();
  });

  it('keeps different names apart', async (t) => {
    const dir = await tempDir(t);
    const locker = createFileLocker(dir, { waitMs: 1_000 });
    const first = await locker.lock('a.example.com');
    const second = await locker.lock('b.example.com');
    assert.ok(await exists(join(dir, 'a.example.com.lock')));
    assert.ok(await exists(join(dir, 'b.example.com.lock')));
    await first();
    await second();
  });

  it('makes another process wait until the holder releases', async (t) => {
    const root = await tempDir(t);
    const dir = join(root, 'locks');
    const holder = await spawnHolder(t, root, dir, 'example.com');
    const file = join(dir, 'example.com.lock');
    assert.equal((await owner(file)).pid, holder.pid);

    let acquiredAt: number | undefined;
    const waiting = createFileLocker(dir, { pollMs: 20 })
      .lock('example.com')
      .then((release) => {
        acquiredAt = Date.now();
        return release;
      });
    // A second waiter, started after ours with the same polling, gives up: by then ours has looked and been refused too.
    await assert.rejects(createFileLocker(dir, { waitMs: 200, pollMs: 20 }).lock('example.com'), isLockedError(file));
    assert.equal(acquiredAt, undefined, 'the lock was taken while another process held it');

    const exited = once(holder.child, 'exit');
    const closedAt = Date.now();
    holder.child.stdin.end();
    assert.equal(await holder.nextLine(), 'released');
    const release = await waiting;
    assert.ok(acquiredAt !== undefined && acquiredAt >= closedAt, 'the lock was taken only after the holder let go');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
    await exited;
  });

  it('gives up with E_CERT_LOCKED, naming the file, once waitMs has passed', async (t) => {
    const root = await tempDir(t);
    const dir = join(root, 'locks');
    const holder = await spawnHolder(t, root, dir, 'example.com');
    const file = join(dir, 'example.com.lock');
    const startedAt = Date.now();
    await assert.rejects(createFileLocker(dir, { waitMs: 300, pollMs: 20 }).lock('example.com'), isLockedError(file));
    assert.ok(Date.now() - startedAt >= 300, 'waited at least waitMs');
    // The holder's lock is untouched.
    assert.equal((await owner(file)).pid, holder.pid);
    const exited = once(holder.child, 'exit');
    holder.child.stdin.end();
    await exited;
  });

  it('takes over at once a lock left on this host by a process that is gone', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    await writeFile(file, JSON.stringify({ pid: await deadPid(), host: hostname() }));
    // No time to wait and a lock that is not stale by age: only the dead pid can explain a takeover.
    const release = await createFileLocker(dir, { waitMs: 0, staleMs: 3_600_000 }).lock('example.com');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
  });

  it('takes over a lock left by a process that crashed (SIGKILL) while holding it', async (t) => {
    const root = await tempDir(t);
    const holder = await spawnHolder(t, root, root, 'example.com');
    const exited = once(holder.child, 'exit');
    holder.child.kill('SIGKILL');
    await exited;
    const file = join(root, 'example.com.lock');
    assert.equal((await owner(file)).pid, holder.pid, 'the crashed holder left its lock behind');
    const release = await createFileLocker(root, { waitMs: 0, staleMs: 3_600_000 }).lock('example.com');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
  });

  it('waits for a live process on this host while its lock is fresh', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    const pid = livePid(t);
    await writeFile(file, JSON.stringify({ pid, host: hostname() }));
    await assert.rejects(createFileLocker(dir, { waitMs: 300, pollMs: 20, staleMs: 60_000 }).lock('example.com'), isLockedError(file));
    assert.equal((await owner(file)).pid, pid);
  });

  it('takes over a lock of a live process not touched for staleMs (a hung holder)', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    await writeFile(file, JSON.stringify({ pid: livePid(t), host: hostname() }));
    await age(file, 10_000);
    const release = await createFileLocker(dir, { waitMs: 0, staleMs: 2_000 }).lock('example.com');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
  });

  it('waits for a lock from another host while it is fresh, and takes it over once stale', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    await writeFile(file, JSON.stringify({ pid: await deadPid(), host: `not-${hostname()}` }));
    // Another host's pid means nothing here: a dead local pid with that number is no reason to take over.
    await assert.rejects(createFileLocker(dir, { waitMs: 200, pollMs: 20, staleMs: 60_000 }).lock('example.com'), isLockedError(file));
    await age(file, 120_000);
    const release = await createFileLocker(dir, { waitMs: 0, staleMs: 60_000 }).lock('example.com');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
  });

  it('waits for an unreadable lock file younger than 5 seconds (its holder may be writing it)', async (t) => {
    const dir = await tempDir(t);
    for (const content of ['', 'garbage{', '{"pid":']) {
      const file = join(dir, 'example.com.lock');
      await writeFile(file, content);
      await assert.rejects(createFileLocker(dir, { waitMs: 200, pollMs: 20, staleMs: 60_000 }).lock('example.com'), isLockedError(file), JSON.stringify(content));
      assert.equal(await readFile(file, 'utf8'), content);
    }
  });

  it('takes over an unreadable lock file older than 5 seconds', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    await writeFile(file, 'garbage{');
    await age(file, 10_000);
    const release = await createFileLocker(dir, { waitMs: 0, staleMs: 60_000 }).lock('example.com');
    assert.equal((await owner(file)).pid, process.pid);
    await release();
  });

  it('waits for a lock without a pid from this host until it is stale', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    await writeFile(file, JSON.stringify({ host: hostname() }));
    await assert.rejects(createFileLocker(dir, { waitMs: 200, pollMs: 20, staleMs: 60_000 }).lock('example.com'), isLockedError(file));
    await age(file, 120_000);
    const release = await createFileLocker(dir, { waitMs: 0, staleMs: 60_000 }).lock('example.com');
    await release();
  });

  it('keeps its lock fresh: the holder touches the file every refreshMs', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'example.com.lock');
    const release = await createFileLocker(dir, { refreshMs: 50 }).lock('example.com');
    await age(file, 3_600_000);
    const aged = (await stat(file)).mtimeMs;
    let mtime = aged;
    const deadline = Date.now() + 60_000; // a guard against a hang only
    while (mtime <= aged && Date.now() < deadline) {
      await sleep(25);
      mtime = (await stat(file)).mtimeMs;
    }
    assert.ok(mtime > aged + 3_000_000, `the mtime advanced from ${new Date(aged).toISOString()} to ${new Date(mtime).toISOString()}`);
    await release();
  });

  it('a refreshed lock held by a live process is not taken over, even with a short staleMs', async (t) => {
    const root = await tempDir(t);
    const holder = await spawnHolder(t, root, root, 'example.com', { refreshMs: 50 });
    const file = join(root, 'example.com.lock');
    // Far longer than staleMs, and a live holder on this host: only the refreshes keep the lock.
    await assert.rejects(createFileLocker(root, { waitMs: 2_500, pollMs: 20, staleMs: 1_000 }).lock('example.com'), isLockedError(file));
    assert.equal((await owner(file)).pid, holder.pid);
    holder.child.stdin.end();
    assert.equal(await holder.nextLine(), 'released');
    assert.equal(await exists(file), false);
  });

  it('a holder whose lock was taken over does not delete the new holder\'s lock when it releases', async (t) => {
    const root = await tempDir(t);
    const file = join(root, 'example.com.lock');
    // This process takes the lock, then hangs: no refresh for longer than staleMs.
    const releaseHung = await createFileLocker(root, { refreshMs: 3_600_000 }).lock('example.com');
    await age(file, 60_000);
    // Another process takes the stale lock over, as it should.
    const holder = await spawnHolder(t, root, root, 'example.com', { staleMs: 10_000, pollMs: 20 });
    assert.equal((await owner(file)).pid, holder.pid);
    // The hung process wakes up and releases what it thinks is its lock.
    await releaseHung();
    assert.ok(await exists(file), 'the new holder\'s lock file was deleted by the old holder');
    assert.equal((await owner(file)).pid, holder.pid);
  });
});

/** Takes the lock, appends "start PID" and, before letting go, "end PID" to a shared log, releases. */
const CONTENDER_SCRIPT = `
import { appendFileSync } from 'node:fs';
import { createFileLocker } from ${JSON.stringify(LOCKER_MODULE)};
const [dir, name, log] = process.argv.slice(2);
const locker = createFileLocker(dir, { pollMs: 1 });
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const release = await locker.lock(name);
appendFileSync(log, 'start ' + process.pid + '\\n');
await new Promise((resolve) => setTimeout(resolve, 150));
appendFileSync(log, 'end ' + process.pid + '\\n');
await release();
`;

describe('FileLocker takeover', () => {
  it('lets one process at a time take over a stale lock, even when several find it stale at once', async (t) => {
    const root = await tempDir(t);
    const script = join(root, 'contend.mjs');
    await writeFile(script, CONTENDER_SCRIPT);
    for (let round = 0; round < 8; round++) {
      const log = join(root, `held-${round}.jsonl`);
      await writeFile(log, '');
      const children = Array.from({ length: 4 }, () => spawn(process.execPath, [script, root, 'example.com', log], { stdio: ['pipe', 'pipe', 'inherit'] }));
      await Promise.all(children.map((child) => once(child.stdout, 'data')));
      // A lock left by a process that is gone; then all of them go at once.
      await writeFile(join(root, 'example.com.lock'), JSON.stringify({ pid: await deadPid(), host: hostname(), id: 'gone' }));
      for (const child of children) child.stdin.end('go\n');
      await Promise.all(children.map((child) => once(child, 'exit')));
      // Appends to one file are ordered: each holder writes "start" once it holds the lock and "end" before it lets go,
      // so one at a time means start/end pairs of the same process, never another's line in between.
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      assert.equal(lines.length, 8, 'every process got the lock in turn');
      for (let i = 0; i < lines.length; i += 2) {
        const pid = lines[i]?.replace(/^start /, '');
        assert.equal(`${lines[i]} / ${lines[i + 1]}`, `start ${pid} / end ${pid}`, `round ${round}: two processes held the lock at once: ${lines.join(', ')}`);
      }
    }
  });
});

