import assert from 'node:assert/strict';
import os from 'node:os';
import { describe, it } from 'node:test';
import { identify } from '../../src/state/process-identity.ts';
import { runChild, type RunChildOptions } from '../../src/process/run-child.ts';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** A node process that ignores SIGTERM, prints its pid and runs until killed. */
const STUBBORN = `"${process.execPath}" -e 'process.on("SIGTERM", () => {}); console.log("pid", process.pid); setInterval(() => {}, 1000)'`;

function sh(script: string, options: Partial<RunChildOptions> = {}): RunChildOptions {
  return { command: 'sh', args: ['-c', script], env: ENV, timeoutMs: 600_000, ...options };
}

/** Streams stdout into lines and calls `onPid` with the pid a "pid N" line names. */
function watchPids(onPid: (pid: number) => void): RunChildOptions['onOutput'] {
  let text = '';
  return (stream, chunk) => {
    if (stream !== 'stdout') return;
    text += chunk.toString();
    for (const match of text.matchAll(/^pid (\d+)$/gm)) onPid(Number(match[1]));
    text = text.slice(text.lastIndexOf('\n') + 1);
  };
}

describe('runChild', () => {
  it('an aborted run ends, and a grandchild that ignores SIGTERM is SIGKILLed with the group before it resolves', async () => {
    const controller = new AbortController();
    let grandchild: number | undefined;
    const result = await runChild(sh(`${STUBBORN} & wait`, {
      signal: controller.signal,
      killGraceMs: 200,
      onOutput: watchPids((pid) => {
        grandchild = pid;
        controller.abort();
      }),
    }));
    assert.equal(result.stopped, 'aborted');
    assert.ok(grandchild !== undefined);
    assert.equal(identify(grandchild), undefined, 'the grandchild is gone when runChild resolves');
  });

  it('kills what a child left running in its group after it exited on its own', async () => {
    let grandchild: number | undefined;
    // The shell passes the grandchild's "pid N" line on (so its SIGTERM handler is in place), then exits.
    const script = `f=$(mktemp -u); mkfifo "$f"; ${STUBBORN} > "$f" & read line < "$f"; echo "$line"; rm "$f"; exit 3`;
    const result = await runChild(sh(script, {
      killGraceMs: 200,
      onOutput: watchPids((pid) => (grandchild = pid)),
    }));
    assert.equal(result.code, 3);
    assert.equal(result.stopped, undefined);
    assert.ok(grandchild !== undefined, 'the grandchild printed its pid before the shell exited');
    assert.equal(identify(grandchild), undefined, 'the grandchild is gone when runChild resolves');
  });

  it('a timeout reports as such and stops the child', async () => {
    const result = await runChild(sh('echo started; exec sleep 600', { timeoutMs: 300, killGraceMs: 5_000 }));
    assert.equal(result.stopped, 'timeout');
    assert.equal(result.signal, 'SIGTERM');
    assert.equal(result.stdout.toString(), 'started\n');
  });

  it('a child already aborted before it starts is stopped at once', async () => {
    const result = await runChild(sh('exec sleep 600', { signal: AbortSignal.abort('superseded') }));
    assert.equal(result.stopped, 'aborted');
  });

  it('output over the cap stops the child, and nothing past the cap is delivered', async () => {
    let delivered = 0;
    const result = await runChild({ command: 'yes', args: ['0123456789abcdef'], env: ENV, timeoutMs: 600_000, outputLimitBytes: 64 * 1024, onOutput: (_stream, chunk) => (delivered += chunk.length) });
    assert.equal(result.stopped, 'output');
    assert.equal(result.overLimit, true);
    assert.ok(delivered <= 64 * 1024, `${delivered} bytes delivered`);
  });

  it('collects output under the cap when no listener is given, each stream apart', async () => {
    const result = await runChild(sh('echo out; echo err >&2; exit 0', { outputLimitBytes: 1024 }));
    assert.deepEqual([result.code, result.stopped, result.overLimit, result.stdout.toString(), result.stderr.toString()], [0, undefined, false, 'out\n', 'err\n']);
  });

  it('a nice value is given to the child and inherited by what it starts; without one the child keeps its parent\'s', async () => {
    // Field 19 of /proc/PID/stat is the nice value; `sh -c` makes a process of its own for the second read.
    const script = 'sleep 0.2; cut -d" " -f19 /proc/$$/stat; sh -c \'cut -d" " -f19 /proc/$$/stat\'';
    const niced = await runChild(sh(script, { nice: 10 }));
    assert.deepEqual(niced.stdout.toString().trim().split('\n'), ['10', '10']);
    const plain = await runChild(sh(script));
    assert.deepEqual(plain.stdout.toString().trim().split('\n'), [String(os.getPriority()), String(os.getPriority())]);
  });

  it('a program that cannot be started is reported, not thrown', async () => {
    const result = await runChild({ command: '/nonexistent/program', args: [], env: ENV, timeoutMs: 1_000 });
    assert.equal(result.error?.code, 'ENOENT');
    assert.equal(result.code, null);
  });
});
