import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { cpuSecondsBetween, parseStatTimes, reapedChildTicks, totalTicks, treeTicks } from '../../bench/lib/cpu-time.ts';

/** A /proc/<pid>/stat line with the given command name and times (fields 14 to 17). */
function statLine(comm: string, utime: number, stime: number, cutime: number, cstime: number): string {
  const fields = ['S', '1', '100', '100', '0', '-1', '4194560', '1200', '0', '0', '0', utime, stime, cutime, cstime, '20', '0', '1', '0', '5000'];
  return `4242 (${comm}) ${fields.join(' ')}\n`;
}

test('parseStatTimes reads utime, stime, cutime and cstime after the command name', () => {
  assert.deepEqual(parseStatTimes(statLine('nginx', 150, 40, 7, 3)), { utime: 150, stime: 40, cutime: 7, cstime: 3 });
});

test('parseStatTimes counts fields from the last parenthesis, so a name with spaces and parentheses cannot shift them', () => {
  assert.deepEqual(parseStatTimes(statLine('evil) 9 9 9 (name', 11, 22, 33, 44)), { utime: 11, stime: 22, cutime: 33, cstime: 44 });
});

test('parseStatTimes refuses a truncated or garbled line instead of returning NaN', () => {
  assert.equal(parseStatTimes('4242 (node) S 1 100'), undefined);
  assert.equal(parseStatTimes('no parenthesis here'), undefined);
  assert.equal(parseStatTimes(statLine('node', -5, 1, 1, 1)), undefined);
});

test('totalTicks adds a process\'s own time and that of the children it reaped', () => {
  assert.equal(totalTicks({ utime: 1, stime: 2, cutime: 30, cstime: 400 }), 433);
});

test('cpuSecondsBetween counts a new process from zero and an exited one through its reaping parent', () => {
  // Master 1 and worker 2 before; after, worker 2 has exited (its 50 ticks now in master's cutime) and worker 3 started.
  const before = new Map([
    [1, 100],
    [2, 50],
  ]);
  const after = new Map([
    [1, 100 + 10 + 50 + 20],
    [3, 40],
  ]);
  // 10 ticks of the master, 20 more of worker 2 before it exited, 40 of worker 3: 70 ticks.
  assert.equal(cpuSecondsBetween(before, after), 0.7);
});

test('cpuSecondsBetween is never negative when a process left the tree unreaped', () => {
  assert.equal(cpuSecondsBetween(new Map([[1, 500]]), new Map([[2, 100]])), 0);
});

test('treeTicks includes the root process, and reapedChildTicks grows by a child\'s CPU time once it is reaped', async () => {
  const mine = treeTicks(process.pid);
  assert.ok(mine.has(process.pid));
  const before = reapedChildTicks();
  // A child that spins until it has used 300 ms of CPU by its own count (not
  // of wall time, which a busy machine stretches), then exits and is reaped.
  const spin = 'while (process.cpuUsage().user + process.cpuUsage().system < 300_000);';
  const child = spawn(process.execPath, ['-e', spin], { stdio: 'ignore' });
  await once(child, 'close');
  // 300 ms is 30 ticks; the kernel's tick accounting may round a few away.
  assert.ok(reapedChildTicks() - before >= 20, `cutime+cstime grew by ${reapedChildTicks() - before} ticks`);
});
