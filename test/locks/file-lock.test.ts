import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createFileLocker } from '../../src/acme/file-locker.ts';
import { BerthError, isBerthError, type ErrorCode } from '../../src/errors.ts';
import { acquireFileLock } from '../../src/locks/file-lock.ts';
import { withSiteLock } from '../../src/releases/site-lock.ts';
import { lockDataDir } from '../../src/state/data-dir-lock.ts';
import { tempDir } from '../helpers/temp.ts';

const DATA_DIR_LOCK = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'state', 'data-dir-lock.ts')).href;

/** A user of the one file lock: takes it at `file` (waiting briefly if it waits at all), gives it back. */
interface LockUser {
  name: string;
  /** The lock file this user takes inside `dir`. */
  file(dir: string): string;
  take(dir: string): Promise<() => Promise<void>>;
  busy: ErrorCode;
}

const USERS: LockUser[] = [
  {
    name: 'a site',
    file: (dir) => join(dir, '.lock'),
    async take(dir) {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let taken!: () => void;
      const isTaken = new Promise<void>((resolve) => (taken = resolve));
      const done = withSiteLock(join(dir, '.lock'), async () => {
        taken();
        await held;
      }, 200);
      await Promise.race([isTaken, done]);
      return async () => {
        release();
        await done;
      };
    },
    busy: 'E_SITE_LOCKED',
  },
  {
    name: 'the data dir',
    file: (dir) => join(dir, 'serve.lock'),
    async take(dir) {
      const lock = await lockDataDir(dir);
      return () => lock.release();
    },
    busy: 'E_DATA_DIR_LOCKED',
  },
  {
    name: 'a certificate',
    file: (dir) => join(dir, 'example.com.lock'),
    take: (dir) => createFileLocker(dir, { waitMs: 200, pollMs: 20 }).lock('example.com'),
    busy: 'E_CERT_LOCKED',
  },
];

function isCode(code: ErrorCode, file?: string) {
  return (error: unknown): boolean => {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (file !== undefined) assert.ok(error.message.includes(file), `the message names ${file}: ${error.message}`);
    return true;
  };
}

async function age(file: string, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  await utimes(file, then, then);
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  return child.pid as number;
}

async function ownerPid(file: string): Promise<number> {
  return (JSON.parse(await readFile(file, 'utf8')) as { pid: number }).pid;
}

describe('file lock: hostile lock files', () => {
  for (const user of USERS) {
    it(`${user.name}: a lock path that is a symbolic link is refused with E_LOCK_FILE, and neither the link nor its target is touched`, async (t) => {
      const dir = await tempDir(t);
      const victim = join(dir, 'victim');
      // Looks like a lock whose holder is gone, and is old: taken over if it were followed.
      const content = JSON.stringify({ pid: await deadPid(), host: hostname() });
      await writeFile(victim, content);
      await age(victim, 3_600_000);
      const before = await stat(victim);
      await symlink(victim, user.file(dir));
      await assert.rejects(user.take(dir), isCode('E_LOCK_FILE', user.file(dir)));
      assert.equal(await readlink(user.file(dir)), victim);
      assert.equal(await readFile(victim, 'utf8'), content);
      assert.equal((await stat(victim)).mtimeMs, before.mtimeMs);
    });

    it(`${user.name}: a dangling symbolic link at the lock path is refused, and nothing is created where it points`, async (t) => {
      const dir = await tempDir(t);
      const target = join(dir, 'elsewhere');
      await symlink(target, user.file(dir));
      await assert.rejects(user.take(dir), isCode('E_LOCK_FILE', user.file(dir)));
      await assert.rejects(lstat(target), { code: 'ENOENT' });
    });

    it(`${user.name}: a directory at the lock path is refused with E_LOCK_FILE and left as it was`, async (t) => {
      const dir = await tempDir(t);
      await mkdir(user.file(dir));
      await writeFile(join(user.file(dir), 'keep'), 'kept');
      await age(user.file(dir), 3_600_000);
      await assert.rejects(user.take(dir), isCode('E_LOCK_FILE', user.file(dir)));
      assert.equal(await readFile(join(user.file(dir), 'keep'), 'utf8'), 'kept');
    });

    it(`${user.name}: a named pipe at the lock path is refused without blocking on it`, async (t) => {
      const dir = await tempDir(t);
      execFileSync('mkfifo', [user.file(dir)]);
      await assert.rejects(user.take(dir), isCode('E_LOCK_FILE', user.file(dir)));
      assert.ok((await lstat(user.file(dir))).isFIFO());
    });

    it(`${user.name}: a garbage lock file is waited for while young and taken over once old`, async (t) => {
      const dir = await tempDir(t);
      await writeFile(user.file(dir), '\u0000garbage{"pid": 1');
      await assert.rejects(user.take(dir), isCode(user.busy));
      await age(user.file(dir), 60_000);
      const release = await user.take(dir);
      assert.equal(await ownerPid(user.file(dir)), process.pid);
      await release();
    });

    it(`${user.name}: a huge lock file (64 MiB) is not Berth's: waited for while young, taken over once old`, async (t) => {
      const dir = await tempDir(t);
      await writeFile(user.file(dir), `{"pid":${process.ppid},"host":${JSON.stringify(hostname())},"pad":"`);
      await truncate(user.file(dir), 64 * 1024 * 1024);
      await assert.rejects(user.take(dir), isCode(user.busy));
      await age(user.file(dir), 60_000);
      const release = await user.take(dir);
      assert.equal(await ownerPid(user.file(dir)), process.pid);
      await release();
      assert.deepEqual(await readdir(dir), [], 'no claim or temporary file is left beside the lock');
    });
  }

  it('a holder whose lock path was replaced by a link does not follow it on release', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'x.lock');
    const lock = await acquireFileLock(file, { waitMs: 0, busy: () => new BerthError('E_SITE_LOCKED', 'busy') });
    const victim = join(dir, 'victim');
    // A copy of the lock itself: a release that followed the link would find its own id there and remove it.
    const content = await readFile(file, 'utf8');
    await writeFile(victim, content);
    const before = await stat(victim);
    execFileSync('ln', ['-sfn', victim, file]);
    await lock.release();
    assert.equal(await readlink(file), victim, 'the link is not removed');
    assert.equal((await stat(victim)).mtimeMs, before.mtimeMs);
    assert.equal(await readFile(victim, 'utf8'), content);
  });
});

/** Waits for "go" on stdin, tries the data dir lock once, says "won" or "refused <message>", holds until stdin ends. */
const RACER_SCRIPT = `
import { lockDataDir } from ${JSON.stringify(DATA_DIR_LOCK)};
const [dir] = process.argv.slice(2);
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
let lock;
try {
  lock = await lockDataDir(dir);
  process.stdout.write('won\\n');
} catch (error) {
  process.stdout.write('refused ' + error.code + ' ' + error.message + '\\n');
}
process.stdin.resume();
await new Promise((resolve) => process.stdin.on('end', resolve));
await lock?.release();
`;

interface Racer {
  pid: number;
  go(): void;
  line(): Promise<string>;
  end(): Promise<void>;
}

function startRacer(t: TestContext, script: string, dir: string): Racer {
  const child = spawn(process.execPath, [script, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    pid: child.pid as number,
    go: () => child.stdin.write('go\n'),
    async line() {
      const next = await lines.next();
      assert.ok(next.done !== true, 'the racer exited without a line');
      return next.value;
    },
    async end() {
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}

describe('file lock: racing takeovers', () => {
  it('processes that find the same stale lock at once: exactly one takes it, each other is refused naming that one', async (t) => {
    const root = await tempDir(t);
    const script = join(root, 'race.mjs');
    await writeFile(script, RACER_SCRIPT);
    const hung = spawn('sleep', ['600'], { stdio: 'ignore' });
    t.after(() => hung.kill('SIGKILL'));
    for (let round = 0; round < 6; round++) {
      const dir = join(root, `data-${round}`);
      await mkdir(dir);
      const racers = Array.from({ length: 4 }, () => startRacer(t, script, dir));
      for (const racer of racers) assert.equal(await racer.line(), 'ready');
      const lock = join(dir, 'serve.lock');
      // Odd rounds: a holder that is gone (the lock format of earlier versions). Even: a live holder that stopped refreshing.
      if (round % 2 === 1) await writeFile(lock, `${await deadPid()}\n`);
      else {
        await writeFile(lock, JSON.stringify({ pid: hung.pid, host: hostname(), id: '0123456789abcdef' }));
        await age(lock, 3_600_000);
      }
      // All at once: each has read its stdin handler in and is waiting.
      for (const racer of racers) racer.go();
      const outcomes = await Promise.all(racers.map(async (racer) => ({ racer, said: await racer.line() })));
      const winners = outcomes.filter((outcome) => outcome.said === 'won');
      assert.equal(winners.length, 1, `round ${round}: ${JSON.stringify(outcomes.map((outcome) => outcome.said))}`);
      const winner = winners[0]?.racer.pid;
      assert.equal(await ownerPid(lock), winner);
      for (const { said } of outcomes.filter((outcome) => outcome.said !== 'won')) {
        assert.ok(said.startsWith(`refused E_DATA_DIR_LOCKED Another berth serve (pid ${winner})`), `round ${round}: ${said}`);
      }
      await Promise.all(racers.map((racer) => racer.end()));
      assert.deepEqual(await readdir(dir), [], 'released, with no claim or temporary file left');
    }
  });
});

describe('file lock: one process', () => {
  it('acquisitions racing inside one process for a stale lock hold it one at a time', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'x.lock');
    const busy = (): BerthError => new BerthError('E_SITE_LOCKED', 'busy');
    for (let round = 0; round < 20; round++) {
      await writeFile(file, JSON.stringify({ pid: await deadPid(), host: hostname(), id: `${round}`.padStart(16, '0') }));
      let inside = 0;
      let most = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        const lock = await acquireFileLock(file, { waitMs: 60_000, pollMs: 1, busy });
        inside++;
        most = Math.max(most, inside);
        await new Promise((resolve) => setImmediate(resolve));
        inside--;
        await lock.release();
      }));
      assert.equal(most, 1, `round ${round}: ${most} acquisitions held the lock at once`);
    }
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('file lock: modes', () => {
  it('the data dir lock is readable by all under the CLI umask of 077, and a site lock stays private', async (t) => {
    const dir = await tempDir(t);
    const before = process.umask(0o077);
    try {
      const dataDirLock = await lockDataDir(dir);
      t.after(() => dataDirLock.release());
      // A command re-run as the service user reads it to tell which berth serve holds the data dir.
      assert.equal((await stat(join(dir, 'serve.lock'))).mode & 0o777, 0o644);
      const busy = (): BerthError => new BerthError('E_SITE_LOCKED', 'busy');
      const siteLock = await acquireFileLock(join(dir, 'site.lock'), { waitMs: 0, busy });
      t.after(() => siteLock.release());
      assert.equal((await stat(join(dir, 'site.lock'))).mode & 0o777, 0o600);
    } finally {
      process.umask(before);
    }
  });
});

describe('file lock: waiting', () => {
  it('tells onWait once, with the holder, when it has to wait; not when the lock is free', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'x.lock');
    const busy = (): BerthError => new BerthError('E_SITE_LOCKED', 'busy');
    const told: Array<number | undefined> = [];
    const first = await acquireFileLock(file, { waitMs: 0, busy, onWait: (holder) => told.push(holder.pid) });
    assert.equal(told.length, 0);
    const second = acquireFileLock(file, { waitMs: 10_000, pollMs: 10, busy, onWait: (holder) => told.push(holder.pid) });
    // The second has found the lock held once it says so; a loaded machine may take a while to get there.
    for (let waited = 0; told.length === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
    await first.release();
    await (await second).release();
    assert.deepEqual(told, [process.pid]);
  });
});
