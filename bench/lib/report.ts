/**
 * Turns a results object into markdown and rewrites the "Static serving"
 * section of BENCHMARKS.md with it, so the document carries exactly the
 * numbers that were measured.
 */
import { measuredBy, replaceMarkedSection } from './benchmarks-md.ts';
import type { PublishLoadResult } from './publish-load.ts';
import { median, spread, type Spread } from './rounds.ts';
import type { ServerName } from './servers.ts';

export type Proto = 'http' | 'https' | 'h2';
export type FileKey = 'css' | 'html' | 'image';

/** One wrk or h2load measurement of one file. */
export interface Cell {
  rps: number;
  requests: number;
  p50Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  non2xx: number;
  errors: number;
}

/** One server's turn in one round: started afresh, checked, measured, stopped. */
export interface ServerRound {
  /** 1-based. */
  round: number;
  /** 1-based place in that round's order. */
  position: number;
  ok: boolean;
  error?: string;
  /** KiB; the whole process tree (nginx: master + workers). */
  idleRssKiB?: number;
  /** KiB; the process tree after each protocol's runs. */
  rssAfterKiB?: Partial<Record<Proto, number>>;
  /** KiB; the main process's own peak (VmHWM). */
  peakRssKiB?: number;
  /** Processes in the tree when idle (nginx: master + workers). */
  processes?: number;
  pid?: number;
  cmdline?: string;
  headers?: Record<string, string | string[] | undefined>;
  cells: Partial<Record<Proto, Partial<Record<FileKey, Cell>>>>;
}

export interface ServerResult {
  label: string;
  /** Every round it ran in worked. */
  ok: boolean;
  rounds: ServerRound[];
}

export type PublishOutcome = PublishLoadResult | { error: string };

export interface Results {
  startedAt: string;
  finishedAt: string;
  /** What reproduces this run: the settings that differ from the defaults, then `npm run bench`. */
  command: string;
  settings: {
    rounds: number;
    durationSeconds: number;
    warmupSeconds: number;
    threads: number;
    connections: number;
    h2: boolean;
    h2Streams: number;
    publishes: number;
  };
  machine: Record<string, string>;
  files: Record<FileKey, { path: string; bytes: number }>;
  /** The servers in the order each round ran them. */
  order: ServerName[][];
  servers: Partial<Record<ServerName, ServerResult>>;
  /** Per Berth configuration; run once, after the rounds. */
  publishUnderLoad: Partial<Record<ServerName, PublishOutcome>>;
  notes: string[];
}

/** One cell over the rounds that measured it. */
export interface CellSummary {
  rps: Spread;
  /** Median over the rounds of each round's p99 (HTTP/2: mean), ms. */
  latencyMs?: number;
  /** Some round had non-2xx responses or socket errors. */
  flagged: boolean;
}

/** The servers of the main tables, in column order. */
export const MAIN: ServerName[] = ['nginx', 'caddy', 'berth'];
export const ALL: ServerName[] = ['nginx', 'caddy', 'berth', 'berth-auto'];
const FILES: FileKey[] = ['css', 'html', 'image'];
const PROTO_TITLE: Record<Proto, string> = { http: 'HTTP/1.1, plain', https: 'HTTP/1.1 over TLS', h2: 'HTTP/2 over TLS' };
const SHORT: Record<ServerName, string> = { nginx: 'nginx', caddy: 'Caddy', berth: 'Berth', 'berth-auto': 'Berth auto' };

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(1)} ms`);
const mib = (kib: number | undefined) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(1)} MiB`);
const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
/** Three significant figures in thousands, for the ranges: 158789 -> "159k", 9359 -> "9.36k". */
const kilo = (n: number) =>
  n >= 100_000 ? `${Math.round(n / 1000)}k` : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : String(Math.round(n));

/** The rounds' measurements of one cell, summarised; undefined when no round measured it. */
export function summarizeCell(r: Results, n: ServerName, proto: Proto, f: FileKey): CellSummary | undefined {
  const cells = (r.servers[n]?.rounds ?? []).map((x) => x.cells[proto]?.[f]).filter((c): c is Cell => c !== undefined);
  const rps = spread(cells.map((c) => c.rps));
  if (!rps) return undefined;
  const lat = cells.map((c) => (proto === 'h2' ? c.meanMs : c.p99Ms)).filter((v): v is number => v !== undefined);
  return { rps, latencyMs: median(lat), flagged: cells.some((c) => c.non2xx > 0 || c.errors > 0) };
}

/** "a is this many times b", from the medians. */
function ratio(a: CellSummary | undefined, b: CellSummary | undefined): string {
  return a && b && b.rps.median > 0 ? `${(a.rps.median / b.rps.median).toFixed(2)}×` : '—';
}

/** The median req/s, then the slowest and fastest round, and how many rounds when some did not measure it. */
function rpsCell(r: Results, c: CellSummary | undefined): string {
  if (!c) return '—';
  const extra: string[] = [];
  if (c.rps.count > 1) extra.push(`${kilo(c.rps.min)}–${kilo(c.rps.max)}`);
  if (c.rps.count < r.settings.rounds) extra.push(`${c.rps.count} of ${r.settings.rounds} rounds`);
  return int(c.rps.median) + (extra.length ? ` (${extra.join(', ')})` : '') + (c.flagged ? ' ⚠' : '');
}

function table(head: string[], rows: string[][], textColumns = 1): string {
  return [head, head.map((_, i) => (i < textColumns ? '---' : '---:')), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n');
}

function fileLabel(r: Results, f: FileKey): string {
  return `${r.files[f].path} (${size(r.files[f].bytes)})`;
}

function protoTable(r: Results, proto: Proto): string {
  const head = ['file', 'nginx req/s', 'Caddy req/s', 'Berth req/s', 'Berth/nginx', 'Berth/Caddy'];
  const rows = FILES.map((f) => {
    const [n, c, b] = MAIN.map((name) => summarizeCell(r, name, proto, f));
    return [fileLabel(r, f), rpsCell(r, n), rpsCell(r, c), rpsCell(r, b), ratio(b, n), ratio(b, c)];
  });
  return table(head, rows);
}

function latencyTable(r: Results, protos: Proto[], shown: ServerName[]): string {
  const head = ['protocol', 'file', ...shown.map((n) => SHORT[n])];
  const rows: string[][] = [];
  for (const proto of protos) {
    for (const f of FILES) rows.push([PROTO_TITLE[proto], fileLabel(r, f), ...shown.map((n) => ms(summarizeCell(r, n, proto, f)?.latencyMs))]);
  }
  return table(head, rows, 2);
}

function workersTable(r: Results, protos: Proto[]): string {
  const head = ['protocol', 'file', 'req/s', 'vs Berth, 1 worker', 'vs nginx', 'vs Caddy'];
  const rows: string[][] = [];
  for (const proto of protos) {
    for (const f of FILES) {
      const a = summarizeCell(r, 'berth-auto', proto, f);
      const vs = (n: ServerName) => ratio(a, summarizeCell(r, n, proto, f));
      rows.push([PROTO_TITLE[proto], fileLabel(r, f), rpsCell(r, a), vs('berth'), vs('nginx'), vs('caddy')]);
    }
  }
  return table(head, rows, 2);
}

function anyCells(r: Results, proto: Proto): boolean {
  return ALL.some((n) => r.servers[n]?.rounds.some((x) => Object.keys(x.cells[proto] ?? {}).length > 0));
}

/** A server's turn in round `round`, if it had one. */
function turn(r: Results, n: ServerName, round: number): ServerRound | undefined {
  return r.servers[n]?.rounds.find((x) => x.round === round);
}

function publishRows(p: PublishLoadResult): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['publishes (failed)', `${p.publishes} (${p.publishesFailed})`],
    ['publish time, median / max', `${int(p.publishMsMedian)} ms / ${int(p.publishMsMax)} ms`],
    ['checked requests', int(p.requests)],
    ['failed (not 200, or an error)', int(p.failed)],
    ['mixed (body ≠ ETag, or no published version)', int(p.mixed)],
    ['version changes seen by the checkers', int(p.versionChanges)],
    ['older version served after `berth publish` returned (latest, ms after)', `${int(p.staleAfterPublish)} (${int(p.staleMaxLagMs)} ms)`],
    ['last published version served at the end', p.finalVersionServed ? 'yes' : 'NO'],
  ];
  if (p.wrk) rows.push(['wrk alongside: requests, non-2xx, socket errors', `${int(p.wrk.requests)}, ${int(p.wrk.non2xx)}, ${int(p.wrk.errors)}`]);
  return rows;
}

export function renderSection(r: Results, resultsFile: string): string {
  const st = r.settings;
  const auto = r.servers['berth-auto'];
  const rounds = st.rounds === 1 ? '1 round' : `${st.rounds} rounds`;
  const warm = st.warmupSeconds > 0 ? `after a ${st.warmupSeconds} s warm-up` : 'with no warm-up';
  const out: string[] = [];
  out.push('## Static serving', '', ...measuredBy(r.command, r.startedAt, resultsFile), '');
  out.push(
    'How it measures:',
    '',
    `- nginx, Caddy and Berth serve the same three files on 127.0.0.1. The run has ${rounds}; in each,`,
    '  the servers take turns, one at a time, and each round starts one server further down the list,',
    `  so none always goes first (${r.order.map((o, i) => `round ${i + 1}: ${o.map((n) => SHORT[n]).join(', ')}`).join('; ')}).`,
    '- In its turn a server is started afresh, checked (every file, both protocols, exact bytes),',
    '  warmed up and measured, then stopped before the next one starts: only the server being',
    '  measured is running, and no round measures a process an earlier round has warmed.',
    `- Each measurement is one \`wrk -t${st.threads} -c${st.connections} -d${st.durationSeconds}s --latency\` run against one file, ${warm}`,
    '  of the same URL. HTTPS uses one self-signed ECDSA P-256 certificate for all of them.',
    '- req/s is the median over the rounds, with the slowest and the fastest round in brackets',
    '  (k = thousand). Berth/nginx and Berth/Caddy divide the medians. Latency is the median over',
    '  the rounds of each round\'s p99 (HTTP/2: of h2load\'s mean, as h2load reports no percentiles).',
    '- wrk sends no `Accept-Encoding`, so every server sends the identity bytes.',
    '- wrk runs on the same cores as the server. A server with a worker per core competes with',
    '  wrk for the CPU, which shows in its tail latency; compare the servers with each other, not',
    '  with a real deployment. Runs on a shared VM vary by tens of percent from one run to the next;',
    '  the brackets show how much they varied within this one.',
    '- ⚠ marks a cell where some round had non-2xx responses or socket errors.',
    '',
  );
  out.push(
    'Configurations (written by `bench/lib/servers.ts`):',
    '',
    '- nginx: `worker_processes auto`, `sendfile`, `tcp_nopush`, `tcp_nodelay`, `open_file_cache`,',
    '  `access_log off`, keep-alive with `keepalive_requests 100000`, TLS 1.2/1.3 with a session',
    '  cache, `http2` on the TLS listener.',
    '- Caddy: `file_server`, the same certificate via `tls cert key`, `auto_https off`, `admin off`,',
    '  logs discarded, protocols h1 and h2.',
    '- Berth: `berth publish` of the directory, then `berth serve` with `access_log = false` and the',
    '  default `workers = 1` (the tables below); files up to 1 MiB are served from memory.',
    ...(auto ? ['- Berth auto: the same with `workers = "auto"`, one serving process per core (its own table).'] : []),
    '',
  );
  out.push('Machine:', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(r.machine)) out.push(`| ${k} | ${v} |`);
  out.push('');

  out.push(`### ${PROTO_TITLE.http}`, '', protoTable(r, 'http'), '');
  out.push(`### ${PROTO_TITLE.https}`, '', protoTable(r, 'https'), '');
  const protos: Proto[] = ['http', 'https'];
  if (anyCells(r, 'h2')) {
    protos.push('h2');
    out.push(
      `### ${PROTO_TITLE.h2}`,
      '',
      `Each measurement is \`h2load -t${st.threads} -c${st.connections} -m${st.h2Streams} -D${st.durationSeconds}\`, ${warm}.`,
      '',
      protoTable(r, 'h2'),
      '',
    );
  }
  const shown = ALL.filter((n) => r.servers[n]);
  if (auto?.ok) {
    const processes = auto.rounds.find((x) => x.processes !== undefined)?.processes;
    out.push(
      '### Berth with `workers = "auto"`',
      '',
      `${processes ?? '?'} processes (a primary and one worker per core), measured in the same rounds as the others.`,
      '',
      workersTable(r, protos),
      '',
    );
  }

  out.push(
    '### Latency',
    '',
    `Median over the rounds of each round's p99${protos.includes('h2') ? ' (HTTP/2: mean)' : ''}.`,
    '',
    latencyTable(r, protos, shown),
    '',
  );

  out.push('### Memory', '');
  const label = (n: ServerName) => (n === 'nginx' ? 'nginx (master + workers)' : n === 'berth-auto' ? 'Berth auto (all processes)' : (r.servers[n]?.label ?? n));
  const row = (title: string, get: (s: ServerRound | undefined) => number | undefined) =>
    `| ${title} | ${shown.map((n) => mib(get(turn(r, n, 1)))).join(' | ')} |`;
  out.push(
    `Berth idle RSS (the \`berth serve\` Node process, VmRSS from /proc after start and one request): **${mib(turn(r, 'berth', 1)?.idleRssKiB)}**.`,
    '',
    'RSS of the whole process tree, from /proc, in round 1 (each server\'s first start of the run;',
    'every round starts it afresh and all rounds\' figures are in the results file). After load it',
    'includes whatever buffers and heap the runtime kept from the burst, so it is a high-water mark,',
    'not a steady state.',
    '',
    `| | ${shown.map(label).join(' | ')} |`,
    `|---|${shown.map(() => '---:').join('|')}|`,
    row('idle, after one request', (s) => s?.idleRssKiB),
    row('after the HTTP/1.1 runs', (s) => s?.rssAfterKiB?.http),
    row('after the HTTPS runs', (s) => s?.rssAfterKiB?.https),
    ...(anyCells(r, 'h2') ? [row('after the HTTP/2 runs', (s) => s?.rssAfterKiB?.h2)] : []),
    '',
  );

  out.push('### Publish under load', '');
  const pubs = (['berth', 'berth-auto'] as const).filter((n) => r.publishUnderLoad[n]);
  if (pubs.length === 0) {
    out.push('Not run.', '');
  } else {
    const first = pubs.map((n) => r.publishUnderLoad[n]).find((p): p is PublishLoadResult => p !== undefined && !('error' in p));
    out.push(
      'Run once, after the rounds, on a new start of each Berth configuration.',
      `While wrk and ${first ? 'keep-alive checking clients' : 'checking clients'} (half of them over HTTPS, \`Accept-Encoding: identity\`)`,
      `requested \`/index.html\` and \`/style.css\`, \`berth publish\` ran ${first?.publishes ?? st.publishes} times, alternating two versions`,
      'of both files. Each checked response must be 200, its body must hash to the ETag sent with it,',
      'and it must be one of the published versions.',
      '',
    );
    const cols = pubs.map((n) => (n === 'berth' ? 'Berth, 1 worker' : 'Berth, workers = "auto"'));
    out.push(`| | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`);
    const perServer = pubs.map((n) => {
      const p = r.publishUnderLoad[n];
      return p === undefined || 'error' in p ? undefined : new Map(publishRows(p));
    });
    const keys = first ? publishRows(first).map(([k]) => k) : [];
    for (const k of keys) out.push(`| ${k} | ${perServer.map((m) => m?.get(k) ?? '—').join(' | ')} |`);
    out.push('');
    for (const n of pubs) {
      const p = r.publishUnderLoad[n];
      if (p && 'error' in p) out.push(`${r.servers[n]?.label ?? n}: could not run: ${p.error.split('\n')[0]}`, '');
    }
  }

  const failures = shown.flatMap((n) => (r.servers[n]?.rounds ?? []).filter((x) => !x.ok).map((x) => ({ n, x })));
  if (failures.length || r.notes.length) {
    out.push('Notes from this run:', '');
    for (const { n, x } of failures) out.push(`- ${r.servers[n]?.label} failed in round ${x.round}: ${(x.error ?? '').split('\n')[0]}`);
    for (const note of r.notes) out.push(`- ${note}`);
    out.push('');
  }
  return out.join('\n');
}

const BEGIN = '<!-- BEGIN static-serving: written by bench/run.sh -->';
const END = '<!-- END static-serving -->';

/** Replaces (or adds) the section between the markers in BENCHMARKS.md. */
export function updateBenchmarksMd(file: string, section: string): void {
  replaceMarkedSection(file, BEGIN, END, section);
}
