import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { BerthError, type ErrorCode } from '../../src/errors.ts';
import { LINE_CUT_MARKER, MAX_LINE_BYTES, runBuild, type OutputStream, type RunBuildOptions } from '../../src/deploy/build-runner.ts';
import { freshUid, livingPidsOf } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

interface Captured {
  lines: Array<[OutputStream, string]>;
  options: RunBuildOptions;
}

async function build(t: TestContext, command: string, extra: Partial<RunBuildOptions> = {}): Promise<Captured> {
  const lines: Array<[OutputStream, string]> = [];
  const options: RunBuildOptions = {
    command,
    cwd: await tempDir(t, 'berth-run-'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeoutMs: 30_000,
    log: (stream, line) => lines.push([stream, line]),
    ...extra,
  };
  return { lines, options };
}

async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BerthError, `expected a BerthError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error.message;
  }
  assert.fail(`expected ${code}`);
}

/**
 * Whether a process has gone, asked with `kill(pid, 0)`. A killed orphan
 * stays a zombie (and answers) until init reaps it, which some inits do
 * only every second or so; hence the wait, bounded only against a hang.
 */
async function isGone(pid: number): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw error;
    }
    await sleep(25);
  }
  return false;
}

function pidFrom(lines: ReadonlyArray<[OutputStream, string]>): number {
  const line = lines.find(([, text]) => /^pid \d+$/.test(text));
  assert.ok(line !== undefined, `the build printed its background pid: ${JSON.stringify(lines)}`);
  return Number(line[1].slice(4));
}

/**
 * A build that times out and ignores SIGTERM: it settles only once the grace
 * period before SIGKILL is over. Started beside another build, it is the
 * later event that shows the other did not wait out that grace period.
 */
async function stubbornBuild(t: TestContext): Promise<void> {
  const { options } = await build(t, 'trap "" TERM; sleep 1000 & wait', { timeoutMs: 200 });
  await failure(runBuild(options), 'E_BUILD_TIMEOUT');
}

describe('runBuild()', () => {
  it('streams stdout and stderr lines in order and resolves with the duration', async (t) => {
    const { lines, options } = await build(
      t,
      "echo one; sleep 0.05; echo two >&2; sleep 0.05; printf 'thr'; sleep 0.1; printf 'ee\\r\\n'; sleep 0.05; echo 'a\\r50%\\r100%' >&2; printf 'no newline at the end'",
    );
    const result = await runBuild(options);
    assert.ok(result.durationMs >= 250, `durationMs ${result.durationMs} covers the build's own sleeps`);
    assert.deepEqual(lines, [
      ['stdout', 'one'],
      ['stderr', 'two'],
      ['stdout', 'three'],
      ['stderr', '100%'],
      ['stdout', 'no newline at the end'],
    ]);
  });

  it('runs in the given directory with exactly the given environment', async (t) => {
    const { lines, options } = await build(t, 'pwd; echo "$ONLY_THIS"; echo "${HOME:-no home}"');
    options.env = { PATH: options.env.PATH as string, ONLY_THIS: 'yes' };
    await runBuild(options);
    assert.deepEqual(
      lines.map(([, text]) => text),
      [options.cwd, 'yes', 'no home'],
    );
  });

  it('cuts a very long line at 8 KiB with a marker and goes on with the next line', async (t) => {
    const { lines, options } = await build(t, "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after");
    await runBuild(options);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.[1], 'x'.repeat(MAX_LINE_BYTES) + LINE_CUT_MARKER);
    assert.deepEqual(lines[1], ['stdout', 'after']);
  });

  it('never cuts a line inside a multi-byte character', async (t) => {
    // 3-byte characters: 8192 is not a multiple of 3, so a naive cut would split one.
    const { lines, options } = await build(t, "for i in $(seq 1 3000); do printf '€'; done; echo");
    await runBuild(options);
    const text = lines[0]?.[1] ?? '';
    assert.ok(text.endsWith(LINE_CUT_MARKER));
    assert.match(text.slice(0, -LINE_CUT_MARKER.length), /^€+$/);
  });

  it('fails with E_BUILD_FAILED, the exit code and the last 20 lines', async (t) => {
    const { options } = await build(t, 'for i in $(seq 1 30); do echo "line $i"; done; echo oops >&2; exit 3');
    const message = await failure(runBuild(options), 'E_BUILD_FAILED');
    assert.match(message, /exited with code 3/);
    assert.match(message, /\n {2}oops$/);
    assert.match(message, /\n {2}line 12\n/);
    assert.doesNotMatch(message, /line 11\n/);
    assert.equal(message.split('\n').length, 1 + 20);
  });

  it('reports a build killed by a signal', async (t) => {
    const { options } = await build(t, 'kill -KILL $$');
    assert.match(await failure(runBuild(options), 'E_BUILD_FAILED'), /killed by SIGKILL/);
  });

  it('reports a build that cannot start', async (t) => {
    const { options } = await build(t, 'true');
    options.cwd = '/nonexistent/berth-work';
    assert.match(await failure(runBuild(options), 'E_BUILD_FAILED'), /cannot start the build command in \/nonexistent\/berth-work/);
  });

  it('stops the whole process group on timeout, grandchildren included', async (t) => {
    const { lines, options } = await build(t, 'sleep 1000 & echo "pid $!"; wait', { timeoutMs: 500 });
    const order: string[] = [];
    const stubborn = stubbornBuild(t).then(() => order.push('ignoring SIGTERM'));
    const message = await failure(runBuild(options), 'E_BUILD_TIMEOUT');
    order.push('this build');
    await stubborn;
    assert.deepEqual(order, ['this build', 'ignoring SIGTERM'], 'SIGTERM was enough: it ended before a build that waits out the grace period');
    assert.match(message, /still running after 500ms/);
    assert.ok(await isGone(pidFrom(lines)), 'the background sleep is gone');
  });

  it('sends SIGKILL to processes that ignore SIGTERM', async (t) => {
    // An ignored signal stays ignored across exec, so both the shell and the sleep ignore TERM.
    // The shell notes SIGTERM and goes on ticking: ticks after the note show the grace period it was given.
    const { lines, options } = await build(t, 'trap "" TERM; sleep 1000 & echo "pid $!"; trap "echo got TERM" TERM; while :; do sleep 0.1; echo tick; done', { timeoutMs: 300 });
    await failure(runBuild(options), 'E_BUILD_TIMEOUT');
    const output = lines.map(([, text]) => text);
    assert.ok(output.includes('got TERM'), 'SIGTERM came first');
    assert.ok(output.slice(output.indexOf('got TERM')).includes('tick'), 'the build ran on after SIGTERM: a grace period before SIGKILL');
    // The sleep ignores SIGTERM, so only SIGKILL can have ended it.
    assert.ok(await isGone(pidFrom(lines)), 'the sleep that ignores SIGTERM is gone');
  });

  it('leaves no background process behind after a successful build', async (t) => {
    // The sleep keeps stdout open; the build must not wait for it, nor let it live.
    const { lines, options } = await build(t, 'sleep 1000 & echo "pid $!"; echo done');
    const order: string[] = [];
    const stubborn = stubbornBuild(t).then(() => order.push('ignoring SIGTERM'));
    await runBuild(options);
    order.push('this build');
    await stubborn;
    assert.deepEqual(order, ['this build', 'ignoring SIGTERM'], 'it waited neither for the sleep nor for a grace period');
    assert.deepEqual(lines.at(-1), ['stdout', 'done']);
    assert.ok(await isGone(pidFrom(lines)));
  });

  it('stops a build that writes more than the output limit, and logs nothing after it', async (t) => {
    const limit = 256 * 1024;
    // The shell and what it runs ignore the SIGTERM the limit sends, so the build goes on past
    // the limit and then ends by itself with a last line. runBuild settles only once the shell
    // has exited and its output pipes were read to the end, so that line has had its chance.
    const { lines, options } = await build(t, 'trap "" TERM; yes | head -c 400000; echo; echo "after the limit"', { outputLimitBytes: limit });
    const message = await failure(runBuild(options), 'E_BUILD_OUTPUT_LIMIT');
    assert.match(message, /more than 262144 bytes of output/);
    const logged = lines.length;
    assert.ok(logged > 0 && logged * 2 <= limit, `${logged} lines of "y" fit in the limit`);
    assert.ok(lines.every(([, text]) => text === 'y'), 'only lines from before the limit were logged');
    assert.ok(!lines.some(([, text]) => text === 'after the limit'));
  });

  it('says the limit in MiB when it is a whole number of them', async (t) => {
    const { options } = await build(t, "head -c 3000000 /dev/zero | tr '\\0' '\\n'", { outputLimitBytes: 2 * 1024 * 1024 });
    assert.match(await failure(runBuild(options), 'E_BUILD_OUTPUT_LIMIT'), /more than 2 MiB of output/);
  });

  it('counts output still in the pipe when the build has already exited', async (t) => {
    const { options } = await build(t, "head -c 600000 /dev/zero | tr '\\0' '\\n' > big; cat big; exit 0", { outputLimitBytes: 500_000 });
    await failure(runBuild(options), 'E_BUILD_OUTPUT_LIMIT');
  });

  it('is cancelled through its AbortSignal', async (t) => {
    const controller = new AbortController();
    const { lines, options } = await build(t, 'sleep 1000 & echo "pid $!"; wait; echo never', { signal: controller.signal });
    setTimeout(() => controller.abort('a newer push superseded it'), 300);
    const message = await failure(runBuild(options), 'E_BUILD_CANCELLED');
    assert.equal(message, 'the build was cancelled: a newer push superseded it');
    assert.ok(!lines.some(([, text]) => text === 'never'));
    assert.ok(await isGone(pidFrom(lines)));
  });

  it('does not start when the signal is already aborted', async (t) => {
    const { lines, options } = await build(t, 'echo started', { signal: AbortSignal.abort() });
    await failure(runBuild(options), 'E_BUILD_CANCELLED');
    assert.deepEqual(lines, []);
  });
});

describe('runBuild() with killUid', () => {
  // Three ways out of the process group: setsid, a daemon's double fork, and a burst of children.
  const escape =
    'setsid sleep 1000 >/dev/null 2>&1 & echo "pid $!"; ' +
    "setsid sh -c 'sh -c \"sleep 1000 &\"; for i in $(seq 30); do sleep 1000 & done; wait' >/dev/null 2>&1 & ";

  it('kills every process of the uid after a successful build, those that left the group included', async (t) => {
    const uid = freshUid(t);
    const { lines, options } = await build(t, `${escape} echo done`, { uid, gid: uid, killUid: uid });
    await runBuild(options);
    assert.deepEqual(lines.at(-1), ['stdout', 'done']);
    assert.deepEqual(livingPidsOf(uid), [], 'no process runs as the build uid once runBuild has returned');
    assert.ok(await isGone(pidFrom(lines)));
  });

  it('kills them after a failed build and after a cancelled one', async (t) => {
    const uid = freshUid(t);
    const failed = await build(t, `${escape} exit 3`, { uid, gid: uid, killUid: uid });
    await failure(runBuild(failed.options), 'E_BUILD_FAILED');
    assert.deepEqual(livingPidsOf(uid), []);

    const controller = new AbortController();
    const cancelled = await build(t, `${escape} echo started; sleep 1000`, { uid, gid: uid, killUid: uid, signal: controller.signal });
    cancelled.options.log = (stream, line) => {
      cancelled.lines.push([stream, line]);
      if (line === 'started') controller.abort('superseded');
    };
    await failure(runBuild(cancelled.options), 'E_BUILD_CANCELLED');
    assert.deepEqual(livingPidsOf(uid), []);
  });

  it('kills what an earlier build of the uid left running before the build starts', async (t) => {
    const uid = freshUid(t);
    const stale = spawn('sleep', ['1000'], { uid, gid: uid, detached: true, stdio: 'ignore' });
    stale.unref();
    const { lines, options } = await build(t, `if kill -0 ${stale.pid} 2>/dev/null; then echo alive; else echo gone; fi`, { uid, gid: uid, killUid: uid });
    await runBuild(options);
    assert.deepEqual(lines, [['stdout', 'gone']]);
  });

  it("refuses to kill by root's uid or Berth's own", async (t) => {
    const { options } = await build(t, 'true', { killUid: process.getuid?.() ?? 0 });
    await assert.rejects(runBuild(options), /killUid \d+ is root's or Berth's own uid/);
  });
});

describe('runBuild() as a later step of one build', () => {
  it('reports the bytes a command wrote, and gives the next step only what is left of the output allowance', async (t) => {
    const first = await build(t, 'printf 0123456789; printf abcde >&2', { outputLimitBytes: 40 });
    assert.equal((await runBuild(first.options)).outputBytes, 15);
    // 30 bytes fit in 40 on their own, not after the 15 the step before wrote.
    const alone = await build(t, 'printf %30s x', { outputLimitBytes: 40 });
    assert.equal((await runBuild(alone.options)).outputBytes, 30);
    const after = await build(t, 'printf %30s x', { outputLimitBytes: 40, spent: { ms: 0, outputBytes: 15 } });
    assert.match(await failure(runBuild(after.options), 'E_BUILD_OUTPUT_LIMIT'), /more than 40 bytes of output/);
  });

  it('stops a step at the build\'s timeout less what earlier steps took, naming the whole timeout', { timeout: 120_000 }, async (t) => {
    const after = await build(t, 'sleep 900', { timeoutMs: 600_000, spent: { ms: 599_900, outputBytes: 0 } });
    assert.match(await failure(runBuild(after.options), 'E_BUILD_TIMEOUT'), /still running after 10m/);
  });

  it('does not start a step when earlier steps used the whole timeout or output allowance', async (t) => {
    for (const spent of [{ ms: 30_000, outputBytes: 0 }, { ms: 0, outputBytes: 40 }]) {
      const step = await build(t, 'echo started > started.txt', { timeoutMs: 30_000, outputLimitBytes: 40, spent });
      await failure(runBuild(step.options), spent.ms > 0 ? 'E_BUILD_TIMEOUT' : 'E_BUILD_OUTPUT_LIMIT');
      assert.equal(existsSync(join(step.options.cwd, 'started.txt')), false, JSON.stringify(spent));
    }
  });

  it('names the step in the message of a failure', async (t) => {
    const step = await build(t, 'exit 4', { name: 'the install step (npm ci)' });
    assert.match(await failure(runBuild(step.options), 'E_BUILD_FAILED'), /^the install step \(npm ci\) exited with code 4/);
  });
});
