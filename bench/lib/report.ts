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
/**
 * A group of measurements: the three protocols, then the rows that change
 * one thing: `compressed` (HTTP/1.1 over TLS with `Accept-Encoding: gzip,
 * br`), `logged` (plain HTTP/1.1 with each server's default access log on, to
 * a file), `pinned` (plain HTTP/1.1, the server on one CPU and the load
 * generator on another).
 */
export type Variant = Proto | 'compressed' | 'logged' | 'pinned';
export type FileKey = 'css' | 'html' | 'image';

/** One wrk or h2load measurement of one file. */
export interface Cell {
  rps: number;
  requests: number;
  /** Measured seconds (the load generator's own figure). */
  seconds?: number;
  p50Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  non2xx: number;
  errors: number;
  /** CPU seconds of the server's whole process tree during the run. */
  serverCpuSeconds?: number;
  /** CPU seconds of the load generator (wrk or h2load) during the run. */
  loadCpuSeconds?: number;
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
  /** Processes in the tree of the pinned start. */
  pinnedProcesses?: number;
  /** What the server answered to `Accept-Encoding: gzip, br` for the compressed row's file: encoding and body bytes. */
  compressedReply?: { encoding: string; bytes: number };
  /** Lines its access log gained during the logged row (its warm-up included). */
  accessLogLines?: number;
  pid?: number;
  cmdline?: string;
  headers?: Record<string, string | string[] | undefined>;
  cells: Partial<Record<Variant, Partial<Record<FileKey, Cell>>>>;
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
    /** The pinned row's CPUs (`taskset -c`), or undefined when it did not run. */
    pinned?: { server: string; load: string };
    /** nginx had the brotli_static module (Debian's libnginx-mod-http-brotli-static). */
    nginxBrotli?: boolean;
  };
  machine: Record<string, string>;
  /** The earlier commit `berth-before` ran from, when it ran (BENCH_BASELINE). */
  baseline?: { ref: string; commit: string; label: string };
  files: Record<FileKey, { path: string; bytes: number }>;
  /** The servers in the order each round ran them. */
  order: ServerName[][];
  servers: Partial<Record<ServerName, ServerResult>>;
  /** Berth only; run once, after the rounds. */
  publishUnderLoad: Partial<Record<ServerName, PublishOutcome>>;
  notes: string[];
}

/** One cell over the rounds that measured it. */
export interface CellSummary {
  rps: Spread;
  /** Median over the rounds of each round's p99 (HTTP/2: mean), ms. */
  latencyMs?: number;
  /** Median over the rounds of the server's CPU microseconds per request. */
  serverUsPerRequest?: number;
  /** Median over the rounds of the cores each side kept busy (CPU seconds per measured second). */
  serverCores?: number;
  loadCores?: number;
  /** Some round had non-2xx responses or socket errors. */
  flagged: boolean;
}

/** Every server, in column order; the ratios are against nginx, and Berth against the bare Node server. */
export const ALL: ServerName[] = ['nginx', 'caddy', 'berth', 'bare'];
/**
 * The columns of the tables with one per server (CPU, latency, memory): ALL,
 * and the earlier Berth beside the current one when it ran. The req/s tables
 * keep to ALL; the earlier Berth has a table of its own against the current.
 */
export const COLUMNS: ServerName[] = ['nginx', 'caddy', 'berth', 'berth-before', 'bare'];
const FILES: FileKey[] = ['css', 'html', 'image'];
const SHORT: Record<ServerName, string> = { nginx: 'nginx', caddy: 'Caddy', berth: 'Berth', 'berth-before': 'Berth before', bare: 'bare Node' };
const VARIANT_TITLE: Record<Variant, string> = {
  http: 'HTTP/1.1, plain',
  https: 'HTTP/1.1 over TLS',
  h2: 'HTTP/2 over TLS',
  compressed: 'HTTP/1.1 over TLS, `Accept-Encoding: gzip, br`',
  logged: 'HTTP/1.1, plain, access log on',
  pinned: 'HTTP/1.1, plain, pinned',
};

/** The one-file rows: which file each measures. */
export const COMPRESSED_FILE: FileKey = 'html';
export const LOGGED_FILE: FileKey = 'css';

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(1)} ms`);
const mib = (kib: number | undefined) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(1)} MiB`);
const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);
/** Three significant figures in thousands, for the ranges: 158789 -> "159k", 9359 -> "9.36k". */
const kilo = (n: number) =>
  n >= 100_000 ? `${Math.round(n / 1000)}k` : n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n >= 1000 ? `${(n / 1000).toFixed(2)}k` : String(Math.round(n));

/** The rounds' measurements of one cell, summarised; undefined when no round measured it. */
export function summarizeCell(r: Results, n: ServerName, variant: Variant, f: FileKey): CellSummary | undefined {
  const cells = (r.servers[n]?.rounds ?? []).map((x) => x.cells[variant]?.[f]).filter((c): c is Cell => c !== undefined);
  const rps = spread(cells.map((c) => c.rps));
  if (!rps) return undefined;
  const lat = cells.map((c) => (variant === 'h2' ? c.meanMs : c.p99Ms)).filter((v): v is number => v !== undefined);
  const perRequest = cells
    .filter((c) => c.serverCpuSeconds !== undefined && c.requests > 0)
    .map((c) => ((c.serverCpuSeconds as number) / c.requests) * 1e6);
  const cores = (side: 'serverCpuSeconds' | 'loadCpuSeconds') =>
    median(cells.filter((c) => c[side] !== undefined && (c.seconds ?? 0) > 0).map((c) => (c[side] as number) / (c.seconds as number)));
  return {
    rps,
    latencyMs: median(lat),
    serverUsPerRequest: median(perRequest),
    serverCores: cores('serverCpuSeconds'),
    loadCores: cores('loadCpuSeconds'),
    flagged: cells.some((c) => c.non2xx > 0 || c.errors > 0),
  };
}

/** "a is this many times b", from the medians. */
export function ratio(a: CellSummary | undefined, b: CellSummary | undefined): string {
  return a && b && b.rps.median > 0 ? `${(a.rps.median / b.rps.median).toFixed(2)}×` : '—';
}

/**
 * `a` over `b` in one row: the medians divided, as every ratio here, then in
 * brackets the lowest and highest ratio of one round's two turns. Both ran
 * in the same rounds, so a round's ratio compares them under the same spell
 * of the machine.
 */
export function pairedRatio(r: Results, a: ServerName, b: ServerName, variant: Variant, f: FileKey): string {
  const medians = ratio(summarizeCell(r, a, variant, f), summarizeCell(r, b, variant, f));
  if (medians === '—') return medians;
  const perRound = (r.servers[a]?.rounds ?? []).flatMap((x) => {
    const ca = x.cells[variant]?.[f];
    const cb = turn(r, b, x.round)?.cells[variant]?.[f];
    return ca && cb && cb.rps > 0 ? [ca.rps / cb.rps] : [];
  });
  const s = spread(perRound);
  return s && s.count > 1 ? `${medians} (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : medians;
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

/** One measured row: a variant and a file. */
interface Row {
  variant: Variant;
  file: FileKey;
}

function rowsOf(variant: Variant): Row[] {
  if (variant === 'compressed') return [{ variant, file: COMPRESSED_FILE }];
  if (variant === 'logged') return [{ variant, file: LOGGED_FILE }];
  return FILES.map((file) => ({ variant, file }));
}

const RATIOS: Array<[ServerName, ServerName]> = [
  ['berth', 'nginx'],
  ['caddy', 'nginx'],
  ['bare', 'nginx'],
  ['berth', 'bare'],
];

/** req/s of every server, then Berth/nginx, Caddy/nginx, bare/nginx and Berth/bare. */
function rpsTable(r: Results, rows: Row[], firstColumn: (row: Row) => string, firstTitle: string): string {
  const head = [firstTitle, ...ALL.map((n) => `${SHORT[n]} req/s`), ...RATIOS.map(([a, b]) => `${SHORT[a]}/${SHORT[b]}`)];
  const body = rows.map((row) => {
    const s = new Map(ALL.map((n) => [n, summarizeCell(r, n, row.variant, row.file)]));
    return [firstColumn(row), ...ALL.map((n) => rpsCell(r, s.get(n))), ...RATIOS.map(([a, b]) => ratio(s.get(a), s.get(b)))];
  });
  return table(head, body);
}

function anyCells(r: Results, variant: Variant): boolean {
  return COLUMNS.some((n) => r.servers[n]?.rounds.some((x) => Object.keys(x.cells[variant] ?? {}).length > 0));
}

/** A server's turn in round `round`, if it had one. */
function turn(r: Results, n: ServerName, round: number): ServerRound | undefined {
  return r.servers[n]?.rounds.find((x) => x.round === round);
}

/** The first round's value of something every round records the same way. */
function firstOf<T>(r: Results, n: ServerName, get: (x: ServerRound) => T | undefined): T | undefined {
  for (const x of r.servers[n]?.rounds ?? []) {
    const v = get(x);
    if (v !== undefined) return v;
  }
  return undefined;
}

function rowTitle(r: Results, row: Row): string {
  return `${VARIANT_TITLE[row.variant]}: ${fileLabel(r, row.file)}`;
}

/** Server CPU per request and the cores each side kept busy, for every measured row. */
function cpuTables(r: Results, rows: Row[], shown: ServerName[]): string[] {
  const us = (v: number | undefined) => (v === undefined ? '—' : v < 100 ? v.toFixed(1) : int(v));
  const cores = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : `${a.toFixed(2)} / ${b.toFixed(2)}`);
  const perRequest = rows.map((row) => [rowTitle(r, row), ...shown.map((n) => us(summarizeCell(r, n, row.variant, row.file)?.serverUsPerRequest))]);
  const busy = rows.map((row) => [
    rowTitle(r, row),
    ...shown.map((n) => {
      const c = summarizeCell(r, n, row.variant, row.file);
      return cores(c?.serverCores, c?.loadCores);
    }),
  ]);
  return [
    'Server CPU time per request, µs (the whole process tree, from /proc/<pid>/stat utime + stime, and',
    'cutime + cstime for children it reaped, read before and after each run; median over the rounds):',
    '',
    table(['row', ...shown.map((n) => SHORT[n])], perRequest),
    '',
    'Cores kept busy during the run, server / load generator (CPU seconds over measured seconds; the',
    'load generator\'s from this process\'s cutime + cstime, which grow by its whole time when it exits;',
    'median over the rounds). Where the two add up to the machine\'s cores, the run was CPU-bound and',
    'the load generator took its share from the server:',
    '',
    table(['row', ...shown.map((n) => SHORT[n])], busy),
    '',
  ];
}

/** The current Berth against the earlier one, every measured row. */
function nowAndBefore(r: Results, label: string, rows: Row[]): string[] {
  const body = rows.map((row) => [
    rowTitle(r, row),
    rpsCell(r, summarizeCell(r, 'berth', row.variant, row.file)),
    rpsCell(r, summarizeCell(r, 'berth-before', row.variant, row.file)),
    pairedRatio(r, 'berth', 'berth-before', row.variant, row.file),
  ]);
  return [
    `### Berth now against ${label}`,
    '',
    'req/s of both as in the tables above. now / before divides the medians; in brackets, the lowest',
    'and highest ratio within one round. Above 1.00×, the current Berth served more.',
    '',
    table(['row', 'Berth req/s', `${label} req/s`, 'now / before'], body),
    '',
  ];
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

export function renderSection(r: Results, resultsFile: string, committed = true): string {
  const st = r.settings;
  const rounds = st.rounds === 1 ? '1 round' : `${st.rounds} rounds`;
  const warm = st.warmupSeconds > 0 ? `after a ${st.warmupSeconds} s warm-up` : 'with no warm-up';
  const shown = COLUMNS.filter((n) => r.servers[n]);
  const before = r.baseline && r.servers['berth-before'] ? r.baseline : undefined;
  const out: string[] = [];
  out.push('## Static serving', '', ...measuredBy(r.command, r.startedAt, resultsFile, committed), '');
  out.push(
    'How it measures:',
    '',
    `- nginx, Caddy, Berth and a bare Node server serve the same three files on 127.0.0.1. The run has ${rounds};`,
    '  in each, the servers take turns, one at a time, and each round starts one server further down',
    `  the list, so none always goes first (${r.order.map((o, i) => `round ${i + 1}: ${o.map((n) => SHORT[n]).join(', ')}`).join('; ')}).`,
    '- In its turn a server is started afresh, checked (every file, both protocols, exact bytes, and',
    '  the compressed reply), warmed up and measured, then stopped before the next one starts: only',
    '  the server being measured is running, and no round measures a process an earlier round warmed.',
    '  The logging row and the pinned row each start it once more, with that one change.',
    `- Each measurement is one \`wrk -t${st.threads} -c${st.connections} -d${st.durationSeconds}s --latency\` run against one file, ${warm}`,
    '  of the same URL. HTTPS uses one self-signed ECDSA P-256 certificate for all of them.',
    '- req/s is the median over the rounds, with the slowest and the fastest round in brackets',
    '  (k = thousand). The ratios divide the medians. Latency is the median over the rounds of each',
    '  round\'s p99 (HTTP/2: of h2load\'s mean, as h2load reports no percentiles).',
    '- wrk sends no `Accept-Encoding` except in the compressed row, so elsewhere every server sends',
    '  the identity bytes.',
    '- Except in the pinned row, wrk runs on the same cores as the server: a server with a worker per',
    '  core competes with wrk for the CPU. The CPU tables below say how much each side used. Runs on',
    '  a shared VM vary by tens of percent from one run to the next; the brackets show how much they',
    '  varied within this one.',
    '- ⚠ marks a cell where some round had non-2xx responses or socket errors.',
    ...(before
      ? [
          `- ${before.label} takes its turns in the same rounds: Berth run from the source of commit`,
          `  \`${before.commit}\` (\`BENCH_BASELINE=${before.ref}\`), measured the same way as the current Berth.`,
        ]
      : []),
    '',
  );
  out.push(
    'Configurations (written by `bench/lib/servers.ts`):',
    '',
    '- nginx: `worker_processes auto`, `sendfile`, `tcp_nopush`, `tcp_nodelay`, `open_file_cache`,',
    '  `access_log off`, keep-alive with `keepalive_requests 100000`, TLS 1.2/1.3 with a session',
    `  cache, \`http2\` on the TLS listener, \`gzip_static on\`${st.nginxBrotli ? ' and `brotli_static on` (Debian\'s libnginx-mod-http-brotli-static)' : '; no `brotli_static`: Debian\'s libnginx-mod-http-brotli-static was not installed, so nginx sends gzip where the others send br'}.`,
    '- Caddy: `file_server { precompressed br gzip }`, the same certificate via `tls cert key`,',
    '  `auto_https off`, `admin off`, runtime logs discarded, protocols h1 and h2.',
    '- Berth: `berth publish` of the directory, then `berth serve` with `workers = "auto"` (one serving',
    '  process per core) and `access_log = false`; files up to 1 MiB are served from memory, with the',
    '  `.br` and `.gz` its publish made.',
    ...(before
      ? [
          `- ${before.label}: the same \`berth.toml\` (its own ports and data dir), the same site, Node and`,
          '  commands, run from `git archive` of that commit with the repository\'s `node_modules`.',
        ]
      : []),
    '- bare Node (`bench/bare-node-server.ts`): one process per core, each listening with `reusePort`,',
    '  every file read into memory at start with its headers prepared (type, length, ETag,',
    '  Last-Modified, Cache-Control, the two security headers Berth sends, Vary), HTTP/1.1 and HTTP/2',
    '  by ALPN on the TLS port. No rules, ranges or conditional requests: the ceiling of Node\'s HTTP',
    '  stack, to show how much of it Berth keeps.',
    '- The sidecars nginx, Caddy and the bare server send are made with Berth\'s own compressor',
    '  (brotli quality 11, gzip level 9), so all four send the same compressed bytes.',
    '',
  );
  out.push('Machine:', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(r.machine)) out.push(`| ${k} | ${v} |`);
  out.push('');

  const protos: Proto[] = ['http', 'https'];
  if (anyCells(r, 'h2')) protos.push('h2');
  for (const proto of protos) {
    out.push(`### ${VARIANT_TITLE[proto]}`, '');
    if (proto === 'h2') {
      out.push(
        `Each measurement is \`h2load -t${st.threads} -c${st.connections} -m${st.h2Streams} -n N\`, where N is what a warm-up run of the same`,
        `URL did per second times ${st.durationSeconds} s: h2load's timed mode (\`-D\`) can wait forever at its end for`,
        'streams of large files it stopped reading, while a count ends with the last response.',
        '',
      );
    }
    out.push(rpsTable(r, rowsOf(proto), (row) => fileLabel(r, row.file), 'file'), '');
  }

  const extra: Variant[] = (['compressed', 'logged'] as const).filter((v) => anyCells(r, v));
  if (extra.length) {
    out.push('### Compression and access logs', '');
    out.push(rpsTable(r, extra.flatMap(rowsOf), (row) => rowTitle(r, row), 'row'), '');
    if (extra.includes('compressed')) {
      const sent = shown.map((n) => {
        const c = firstOf(r, n, (x) => x.compressedReply);
        return `${SHORT[n]} ${c ? `${c.encoding}, ${int(c.bytes)} bytes` : '—'}`;
      });
      out.push(`Compressed row: what each server sent for \`${r.files[COMPRESSED_FILE].path}\` with \`Accept-Encoding: gzip, br\`: ${sent.join('; ')}.`, '');
    }
    if (extra.includes('logged')) {
      const lines = shown.map((n) => {
        const c = firstOf(r, n, (x) => x.accessLogLines);
        return `${SHORT[n]} ${c === undefined ? '—' : int(c)}`;
      });
      out.push(
        'Logging row: each server\'s default access log, to a file: nginx `access_log` (combined format),',
        'Caddy `log { output file }` (JSON), Berth `access_log = true` (JSON lines on stdout, to a file), the',
        `bare server one combined-like line per request. Lines written in round 1: ${lines.join('; ')}.`,
        '',
      );
    }
  }

  if (anyCells(r, 'pinned') && st.pinned) {
    const procs = shown.map((n) => `${SHORT[n]} ${firstOf(r, n, (x) => x.pinnedProcesses) ?? '?'}`);
    out.push(
      '### Pinned: server and load generator on separate cores',
      '',
      `Each server started once more under \`taskset -c ${st.pinned.server}\`, and wrk (\`-t1\`, the same connections) under`,
      `\`taskset -c ${st.pinned.load}\`, so neither takes CPU from the other. A server that sizes itself by the CPUs it`,
      `may use ("auto") starts fewer processes here; processes in each tree: ${procs.join('; ')}.`,
      '',
      rpsTable(r, rowsOf('pinned'), (row) => fileLabel(r, row.file), 'file'),
      '',
    );
  }

  const cpuRows = [...protos, ...extra, ...(anyCells(r, 'pinned') ? (['pinned'] as const) : [])].flatMap(rowsOf);
  if (before) out.push(...nowAndBefore(r, before.label, cpuRows));

  out.push('### CPU time', '');
  out.push(...cpuTables(r, cpuRows, shown));

  out.push('### Latency', '', `Median over the rounds of each round's p99${protos.includes('h2') ? ' (HTTP/2: mean)' : ''}.`, '');
  out.push(table(['row', ...shown.map((n) => SHORT[n])], cpuRows.map((row) => [rowTitle(r, row), ...shown.map((n) => ms(summarizeCell(r, n, row.variant, row.file)?.latencyMs))])), '');

  out.push('### Memory', '');
  const label = (n: ServerName) => (n === 'nginx' ? 'nginx (master + workers)' : `${SHORT[n]} (all processes)`);
  const row = (title: string, get: (s: ServerRound | undefined) => number | undefined, show = mib) =>
    `| ${title} | ${shown.map((n) => show(get(turn(r, n, 1)))).join(' | ')} |`;
  out.push(
    'RSS summed over the whole process tree, from /proc, in round 1 (each server\'s first start of the',
    'run; every round\'s figures are in the results file). Summed RSS counts pages the processes share',
    'once per process; `npm run bench:rss` reports Berth\'s per process, with PSS. After load it includes',
    'whatever buffers and heap the runtime kept from the burst: a high-water mark, not a steady state.',
    '',
    `| | ${shown.map(label).join(' | ')} |`,
    `|---|${shown.map(() => '---:').join('|')}|`,
    row('processes', (s) => s?.processes, (v) => (v === undefined ? '—' : String(v))),
    row('idle, after one request', (s) => s?.idleRssKiB),
    row('after the HTTP/1.1 runs', (s) => s?.rssAfterKiB?.http),
    row('after the HTTPS runs', (s) => s?.rssAfterKiB?.https),
    ...(anyCells(r, 'h2') ? [row('after the HTTP/2 runs', (s) => s?.rssAfterKiB?.h2)] : []),
    '',
  );

  out.push('### Publish under load', '');
  const p = r.publishUnderLoad.berth;
  if (p === undefined) {
    out.push('Not run.', '');
  } else if ('error' in p) {
    out.push(`Could not run: ${p.error.split('\n')[0]}`, '');
  } else {
    out.push(
      'Run once, after the rounds, on a new start of Berth.',
      'While wrk and keep-alive checking clients (half of them over HTTPS, `Accept-Encoding: identity`)',
      `requested \`/index.html\` and \`/style.css\`, \`berth publish\` ran ${p.publishes} times, alternating two versions`,
      'of both files. Each checked response must be 200, its body must hash to the ETag sent with it,',
      'and it must be one of the published versions.',
      '',
      '| | Berth |',
      '|---|---:|',
      ...publishRows(p).map(([k, v]) => `| ${k} | ${v} |`),
      '',
    );
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
