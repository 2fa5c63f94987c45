import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { isIdle, type IdleSample } from '../../bench/lib/idle.ts';
import { renderRssSection, summarizeRoles, summarizeTree, type MeasuredProcess, type RssResults } from '../../bench/lib/idle-rss-report.ts';
import { parseSmapsRollup, parseStatusRss } from '../../bench/lib/proc-memory.ts';
import { classify, listeningInodes, processFacts } from '../../bench/lib/process-roles.ts';
import { processMemory } from '../../bench/lib/proc-memory.ts';

const MIB = 1024;

test('parseStatusRss reads VmRSS in KiB and nothing from a kernel thread\'s status', () => {
  assert.equal(parseStatusRss('Name:\tnode\nVmPeak:\t 1200000 kB\nVmHWM:\t   90000 kB\nVmRSS:\t   81234 kB\nThreads:\t11\n'), 81234);
  assert.equal(parseStatusRss('Name:\tkworker/0:1\nThreads:\t1\n'), undefined);
});

test('parseSmapsRollup reads Rss, Pss and its split, and refuses a file without them', () => {
  const text = [
    '55d0c0a00000-7ffd5a1f2000 ---p 00000000 00:00 0                          [rollup]',
    'Rss:               81234 kB',
    'Pss:               52011 kB',
    'Pss_Dirty:         40000 kB',
    'Pss_Anon:          39000 kB',
    'Pss_File:          13000 kB',
    'Pss_Shmem:            11 kB',
    'Shared_Clean:      30000 kB',
  ].join('\n');
  assert.deepEqual(parseSmapsRollup(text), { rssKiB: 81234, pssKiB: 52011, pssAnonKiB: 39000, pssFileKiB: 13000, pssShmemKiB: 11 });
  assert.equal(parseSmapsRollup('Rss: 100 kB\n'), undefined);
});

test('listeningInodes keeps only LISTEN sockets on the given ports, IPv4 and IPv6 alike', () => {
  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    // 127.0.0.1:18090 LISTEN, inode 1001
    '   0: 0100007F:46AA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
    // 127.0.0.1:18090 ESTABLISHED (a client connection), inode 1002
    '   1: 0100007F:46AA 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1',
    // 127.0.0.1:22 LISTEN, another port, inode 1003
    '   2: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual([...listeningInodes(tcp, [18090, 18453])], ['1001']);
  const tcp6 = [
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 00000000000000000000000000000000:4815 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0',
  ].join('\n');
  assert.deepEqual([...listeningInodes(tcp6, [18453])], ['2001']);
});

test('classify: the root is the supervisor, listeners and cluster children are workers, another Node process is the control plane', () => {
  const roles = classify(10, [
    { pid: 10, listens: true, clusterWorker: false, node: true },
    { pid: 11, listens: false, clusterWorker: false, node: true },
    { pid: 12, listens: true, clusterWorker: false, node: true },
    { pid: 13, listens: false, clusterWorker: true, node: true },
    { pid: 14, listens: false, clusterWorker: false, node: false },
  ]);
  assert.deepEqual(Object.fromEntries(roles), { 10: 'supervisor', 11: 'control plane', 12: 'worker', 13: 'worker', 14: 'other' });
});

const sample = (atMs: number, rssKiB: number, cpuTicks: number): IdleSample => ({ atMs, rssKiB, cpuTicks });
const RULE = { windowMs: 3000, maxRssChangeKiB: 256, maxCpuShare: 0.02 };

test('isIdle holds when RSS and CPU stayed still over the whole window', () => {
  const s = [0, 500, 1000, 1500, 2000, 2500, 3000, 3500].map((t) => sample(t, 100_000 + (t % 1000 === 0 ? 100 : 0), 50));
  assert.equal(isIdle(s, RULE), true);
});

test('isIdle does not hold before the samples span the window', () => {
  assert.equal(isIdle([sample(0, 100, 1), sample(2000, 100, 1)], RULE), false);
  assert.equal(isIdle([], RULE), false);
});

test('isIdle does not hold while RSS moves more than allowed within the window', () => {
  const s = [sample(0, 100_000, 0), sample(1500, 100_400, 0), sample(3000, 100_000, 0)];
  assert.equal(isIdle(s, RULE), false);
});

test('isIdle does not hold while the tree uses more CPU than allowed', () => {
  // 10 ticks = 0.1 s over 3 s is 3.3 % of a core.
  assert.equal(isIdle([sample(0, 1, 0), sample(3000, 1, 10)], RULE), false);
  assert.equal(isIdle([sample(0, 1, 0), sample(3000, 1, 6)], RULE), true);
});

const proc = (pid: number, role: MeasuredProcess['role'], rssMiB: number, pssMiB: number): MeasuredProcess => ({ pid, role, comm: 'node', rssKiB: rssMiB * MIB, pssKiB: pssMiB * MIB });

function rssResults(rounds: MeasuredProcess[][]): RssResults {
  return {
    startedAt: '2026-12-03T23:00:00.000Z',
    finishedAt: '2026-12-03T23:02:00.000Z',
    command: 'npm run bench:rss',
    settings: { rounds: rounds.length, settleSeconds: 60, requests: 200, workers: '"auto"' },
    machine: { cores: '2 (nproc)' },
    rounds: rounds.map((processes, i) => ({ round: i + 1, ok: true, idle: true, idleAfterMs: 4000, processes })),
  };
}

test('a role with several processes reports its largest, as the median over the rounds', () => {
  const r = rssResults([
    [proc(1, 'supervisor', 40, 20), proc(2, 'control plane', 90, 60), proc(3, 'worker', 48, 30), proc(4, 'worker', 52, 31)],
    [proc(1, 'supervisor', 41, 21), proc(2, 'control plane', 80, 55), proc(3, 'worker', 45, 29), proc(4, 'worker', 44, 28)],
    [proc(1, 'supervisor', 39, 19), proc(2, 'control plane', 85, 58), proc(3, 'worker', 60, 35), proc(4, 'worker', 47, 30)],
  ]);
  const worker = summarizeRoles(r).find((s) => s.role === 'worker');
  // Largest worker per round: 52, 45, 60 MiB -> median 52.
  assert.deepEqual(worker?.rss, { median: 52 * MIB, min: 45 * MIB, max: 60 * MIB, count: 3 });
  assert.equal(worker?.count, 2);
  // Whole tree per round: 230, 210, 231 MiB of RSS -> median 230.
  assert.equal(summarizeTree(r)?.rss.median, 230 * MIB);
  assert.equal(summarizeTree(r)?.pss.median, 141 * MIB);
});

test('the section says whether the per-worker target is met by RSS and by PSS', () => {
  const r = rssResults([[proc(1, 'supervisor', 40, 20), proc(3, 'worker', 70, 45)]]);
  const md = renderRssSection(r, 'bench/results/idle-rss-x.json');
  assert.match(md, /By RSS \(what `ps` shows\): not met \(70\.0 MiB\);/);
  assert.match(md, /by PSS \(its own share\): met \(45\.0 MiB\)\./);
  assert.match(md, /\| serving worker \(largest\) \| 1 \| 70\.0 MiB \| 45\.0 MiB \|/);
  assert.match(md, /\| whole tree \(sum\) \| 2 \| 110\.0 MiB \| 65\.0 MiB \|/);
  assert.match(md, /No separate control plane process: on this commit it runs inside the supervisor/);
});

test('the bare Node server is the reference row: its largest worker per round, as the median, and the worker compared with it', () => {
  const r = rssResults([
    [proc(1, 'supervisor', 40, 20), proc(3, 'worker', 80, 30)],
    [proc(1, 'supervisor', 40, 20), proc(3, 'worker', 78, 29)],
    [proc(1, 'supervisor', 40, 20), proc(3, 'worker', 82, 31)],
  ]);
  const bare = [[60, 58], [62, 61], [59, 63]];
  r.rounds.forEach((round, i) => {
    round.bare = { workerRssKiB: (bare[i] as number[]).map((v) => v * MIB), workerPssKiB: [20 * MIB, (21 + i) * MIB] };
  });
  const md = renderRssSection(r, 'x.json');
  // Largest bare worker per round: 60, 62, 63 MiB -> median 62; PSS 21, 22, 23 -> 22.
  assert.match(md, /\| bare Node worker \(largest\) \| 62\.0 MiB \(60\.0–63\.0\) \| 22\.0 MiB \(21\.0–23\.0\) \|/);
  assert.match(md, /Against the bare Node worker: 1\.29× its RSS, 18\.0 MiB more\./);
  const without = renderRssSection(rssResults([[proc(3, 'worker', 80, 30)]]), 'x.json');
  assert.doesNotMatch(without, /bare Node worker/);
});

test('a failed round and one that never went idle are named in the notes and left out of the figures', () => {
  const r = rssResults([[proc(1, 'supervisor', 40, 20), proc(3, 'worker', 45, 30)], [proc(1, 'supervisor', 400, 200)], [proc(1, 'supervisor', 42, 22)]]);
  const [, second, third] = r.rounds;
  assert.ok(second && third);
  second.ok = false;
  second.error = 'berth did not open port 18090';
  third.idle = false;
  const md = renderRssSection(r, 'x.json');
  assert.match(md, /^- round 2 failed: berth did not open port 18090$/m);
  assert.match(md, /^- round 3 did not settle within 60 s; measured then$/m);
  assert.equal(summarizeRoles(r).find((s) => s.role === 'supervisor')?.rss.max, 42 * MIB);
});

/** A Node child running `code`; resolves with the first line it prints. */
async function child(code: string): Promise<{ proc: ChildProcess; line: string }> {
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  proc.stdout?.setEncoding('utf8');
  const [line] = (await once(proc.stdout as NodeJS.ReadableStream, 'data')) as [string];
  return { proc, line: line.trim() };
}

test('processFacts and classify name a real listening child a worker and a real idle Node child the control plane', async (t) => {
  const listener = await child("const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port));");
  const idle = await child("console.log('up'); setInterval(() => {}, 1000);");
  t.after(() => {
    listener.proc.kill('SIGKILL');
    idle.proc.kill('SIGKILL');
  });
  const port = Number(listener.line);
  assert.ok(port > 0);
  const facts = processFacts(process.pid, [port]);
  const of = (pid: number | undefined) => facts.find((f) => f.pid === pid);
  assert.deepEqual(of(listener.proc.pid), { pid: listener.proc.pid, listens: true, clusterWorker: false, node: true });
  assert.deepEqual(of(idle.proc.pid), { pid: idle.proc.pid, listens: false, clusterWorker: false, node: true });
  const roles = classify(process.pid, facts);
  assert.equal(roles.get(process.pid), 'supervisor');
  assert.equal(roles.get(listener.proc.pid as number), 'worker');
  assert.equal(roles.get(idle.proc.pid as number), 'control plane');
});

test('processMemory reads a live process\'s RSS and a PSS no larger than it', () => {
  const m = processMemory(process.pid);
  assert.ok(m);
  assert.ok(m.rssKiB > 0);
  assert.ok(m.pssKiB > 0 && m.pssKiB <= m.rssKiB, `PSS ${m.pssKiB} KiB, RSS ${m.rssKiB} KiB`);
  assert.equal(processMemory(2 ** 22 + 12345), undefined);
});

test('the section lists every process of the first measured round with its RSS, PSS and PSS split', () => {
  const withSplit = (p: MeasuredProcess, anon: number, file: number): MeasuredProcess => ({ ...p, pssAnonKiB: anon * MIB, pssFileKiB: file * MIB });
  const r = rssResults([[withSplit(proc(3, 'worker', 48, 30), 20, 10), withSplit(proc(1, 'supervisor', 40, 20), 15, 5), withSplit(proc(4, 'worker', 52, 31), 21, 10)]]);
  const md = renderRssSection(r, 'x.json');
  const part = md.slice(md.indexOf('Each process in round 1'));
  const rows = part.split('\n').filter((l) => /^\| (supervisor|serving worker|control plane) \|/.test(l));
  assert.deepEqual(rows, [
    '| supervisor | 40.0 MiB | 20.0 MiB | 15.0 MiB / 5.0 MiB |',
    '| serving worker | 48.0 MiB | 30.0 MiB | 20.0 MiB / 10.0 MiB |',
    '| serving worker | 52.0 MiB | 31.0 MiB | 21.0 MiB / 10.0 MiB |',
  ]);
});
