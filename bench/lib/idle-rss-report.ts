/**
 * The idle memory benchmark's results and its BENCHMARKS.md section: RSS and
 * PSS of each process of an idle `berth serve` tree, by role, over rounds.
 */
import { machineTable, measuredBy, notesList, replaceMarkedSection } from './benchmarks-md.ts';
import type { Role } from './process-roles.ts';
import type { ProcessReading } from './tree-memory.ts';
import { spread, type Spread } from './rounds.ts';

/** One process of the tree as measured (tree-memory.ts); the report does not use its peak. */
export type MeasuredProcess = Omit<ProcessReading, 'hwmKiB'>;

/** The bare Node server's workers in one round: the floor of a Node process serving HTTP/1.1, TLS and HTTP/2. */
export interface BareReference {
  workerRssKiB: number[];
  workerPssKiB: number[];
}

export interface RssRound {
  round: number;
  bare?: BareReference;
  ok: boolean;
  error?: string;
  /** Whether the idle rule held before the settle time ran out, and when. */
  idle: boolean;
  idleAfterMs: number;
  processes: MeasuredProcess[];
}

export interface RssResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: { rounds: number; settleSeconds: number; requests: number; workers: string };
  machine: Record<string, string>;
  rounds: RssRound[];
}

/** The target for this issue: each serving worker at most this much RSS. */
export const WORKER_TARGET_KIB = 50 * 1024;

const ROLES: Role[] = ['supervisor', 'control plane', 'worker', 'other'];
const ROLE_TITLE: Record<Role, string> = { supervisor: 'supervisor', 'control plane': 'control plane', worker: 'serving worker (largest)', other: 'other (git, builds)' };

/** Per round: the largest process of a role (one figure per round, so a role with several processes reports its worst). */
function perRound(r: RssResults, role: Role, field: 'rssKiB' | 'pssKiB'): number[] {
  return r.rounds
    .filter((x) => x.ok)
    .map((x) => x.processes.filter((p) => p.role === role).map((p) => p[field]))
    .filter((v) => v.length > 0)
    .map((v) => Math.max(...v));
}

/** Per round: the sum over the whole tree. */
function treeSums(r: RssResults, field: 'rssKiB' | 'pssKiB'): number[] {
  return r.rounds.filter((x) => x.ok).map((x) => x.processes.reduce((a, p) => a + p[field], 0));
}

export interface RoleSummary {
  role: Role;
  /** Processes of the role in the first measured round. */
  count: number;
  rss: Spread;
  pss: Spread;
}

export function summarizeRoles(r: RssResults): RoleSummary[] {
  const first = r.rounds.find((x) => x.ok);
  const out: RoleSummary[] = [];
  for (const role of ROLES) {
    const rss = spread(perRound(r, role, 'rssKiB'));
    const pss = spread(perRound(r, role, 'pssKiB'));
    if (rss && pss) out.push({ role, count: first?.processes.filter((p) => p.role === role).length ?? 0, rss, pss });
  }
  return out;
}

export function summarizeTree(r: RssResults): { rss: Spread; pss: Spread } | undefined {
  const rss = spread(treeSums(r, 'rssKiB'));
  const pss = spread(treeSums(r, 'pssKiB'));
  return rss && pss ? { rss, pss } : undefined;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;
const cell = (s: Spread) => (s.count > 1 ? `${mib(s.median)} (${(s.min / 1024).toFixed(1)}–${(s.max / 1024).toFixed(1)})` : mib(s.median));

export function renderRssSection(r: RssResults, resultsFile: string, committed = true): string {
  const roles = summarizeRoles(r);
  const tree = summarizeTree(r);
  const ok = r.rounds.filter((x) => x.ok).length;
  const out: string[] = ['## Idle memory', '', ...measuredBy(r.command, r.startedAt, resultsFile, committed), ''];
  out.push(
    'How it measures:',
    '',
    `- \`berth serve\` with one small site (the serving benchmark's three files, published with \`berth publish\`),`,
    `  \`workers = ${r.settings.workers}\`, HTTP and HTTPS on 127.0.0.1, started afresh in each of ${r.settings.rounds} rounds (${ok} measured).`,
    `- After ${r.settings.requests} requests over new connections (half over HTTPS), so every worker has served`,
    '  some, it waits until the tree is idle: over 3 s its summed RSS moved by at most 256 KiB and it',
    `  used at most 2 % of a core (at most ${r.settings.settleSeconds} s; a round that never settled says so below).`,
    '- Then, per process: VmRSS from /proc/<pid>/status, and PSS from /proc/<pid>/smaps_rollup. RSS',
    '  counts every page a process maps, so pages shared between processes (the Node binary, the',
    '  libraries) count once per process; PSS divides each shared page among the processes mapping',
    '  it, so the PSS of the tree adds up to the memory it really holds.',
    '- Before the rounds, one unmeasured start of each server fills Node\'s compile caches, so each round',
    '  measures a start after a restart, as a server runs (the first start ever also loads TypeScript\'s stripper).',
    '- Roles are read from /proc: the process started is the supervisor; one holding a listening',
    '  socket on the ports, or started by node:cluster, is a serving worker; another Node process is',
    '  the control plane. With no such process, the control plane runs inside the supervisor.',
    '- A role with several processes reports its largest; each figure is the median over the rounds',
    '  with the lowest and highest in brackets.',
    '',
    ...machineTable(r.machine),
  );
  out.push('| process | count | RSS | PSS |', '|---|---:|---:|---:|');
  for (const s of roles) out.push(`| ${ROLE_TITLE[s.role]} | ${s.count} | ${cell(s.rss)} | ${cell(s.pss)} |`);
  if (tree) {
    const count = r.rounds.find((x) => x.ok)?.processes.length ?? 0;
    out.push(`| whole tree (sum) | ${count} | ${cell(tree.rss)} | ${cell(tree.pss)} |`);
  }
  out.push('');
  const first = r.rounds.find((x) => x.ok);
  if (first) {
    const kinds = (p: MeasuredProcess) => (p.pssAnonKiB !== undefined && p.pssFileKiB !== undefined ? `${mib(p.pssAnonKiB)} / ${mib(p.pssFileKiB)}` : '—');
    const order = (p: MeasuredProcess) => ROLES.indexOf(p.role);
    out.push(
      `Each process in round ${first.round} (PSS split into anonymous memory, the heap and stacks, and file-backed pages, the binary and libraries):`,
      '',
      '| process | RSS | PSS | PSS anonymous / file |',
      '|---|---:|---:|---:|',
      ...[...first.processes].sort((a, b) => order(a) - order(b)).map((p) => `| ${p.role === 'worker' ? 'serving worker' : p.role} | ${mib(p.rssKiB)} | ${mib(p.pssKiB)} | ${kinds(p)} |`),
      '',
    );
  }
  if (!roles.some((s) => s.role === 'control plane') && roles.some((s) => s.role === 'supervisor')) {
    out.push('No separate control plane process: on this commit it runs inside the supervisor (the first row).', '');
  }
  const bareRss = spread(r.rounds.filter((x) => x.ok && x.bare).map((x) => Math.max(...(x.bare as BareReference).workerRssKiB)));
  const barePss = spread(r.rounds.filter((x) => x.ok && x.bare).map((x) => Math.max(...(x.bare as BareReference).workerPssKiB)));
  if (bareRss && barePss) {
    out.push(
      'The reference: the bare Node server of the serving benchmark (`bench/bare-node-server.ts`, one process per core,',
      'the same site, ports and requests, with a warm compile cache as Berth\'s children have), started after Berth in',
      'each round. Its largest worker is the least memory a Node process serving HTTP/1.1, TLS and HTTP/2 holds here:',
      '',
      '| process | RSS | PSS |',
      '|---|---:|---:|',
      `| bare Node worker (largest) | ${cell(bareRss)} | ${cell(barePss)} |`,
      '',
    );
  }
  const worker = roles.find((s) => s.role === 'worker');
  if (worker) {
    const verdict = (v: number) => (v <= WORKER_TARGET_KIB ? 'met' : 'not met');
    out.push(
      `Target: at most ${mib(WORKER_TARGET_KIB)} per serving worker. By RSS (what \`ps\` shows): ${verdict(worker.rss.median)} (${mib(worker.rss.median)});`,
      `by PSS (its own share): ${verdict(worker.pss.median)} (${mib(worker.pss.median)}).`,
      ...(bareRss ? [`Against the bare Node worker: ${(worker.rss.median / bareRss.median).toFixed(2)}× its RSS, ${mib(worker.rss.median - bareRss.median)} more.`] : []),
      '',
    );
  } else {
    out.push('No serving worker process was found: the target per worker could not be checked.', '');
  }
  const notes = r.rounds.flatMap((x) => [
    ...(x.ok ? [] : [`round ${x.round} failed: ${(x.error ?? '').split('\n')[0]}`]),
    ...(x.ok && !x.idle ? [`round ${x.round} did not settle within ${r.settings.settleSeconds} s; measured then`] : []),
  ]);
  out.push(...notesList(notes));
  return out.join('\n');
}

const BEGIN = '<!-- BEGIN idle-rss: written by npm run bench:rss -->';
const END = '<!-- END idle-rss -->';

export function updateRssSection(file: string, section: string): void {
  replaceMarkedSection(file, BEGIN, END, section);
}
