/**
 * Turns a results object into markdown and rewrites the "Static serving"
 * section of BENCHMARKS.md with it, so the document carries exactly the
 * numbers that were measured.
 */
import { replaceMarkedSection } from './benchmarks-md.ts';
import type { PublishLoadResult } from './publish-load.ts';
import type { ServerName } from './servers.ts';

export type Proto = 'http' | 'https' | 'h2';
export type FileKey = 'css' | 'html' | 'image';

export interface Cell {
  rps: number;
  requests: number;
  p50Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  non2xx: number;
  errors: number;
}

export interface ServerResult {
  label: string;
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

export type PublishOutcome = PublishLoadResult | { error: string };

export interface Results {
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: {
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
  servers: Partial<Record<ServerName, ServerResult>>;
  /** Per Berth configuration. */
  publishUnderLoad: Partial<Record<ServerName, PublishOutcome>>;
  notes: string[];
}

/** The servers of the main tables, in column order. */
export const MAIN: ServerName[] = ['nginx', 'caddy', 'berth'];
export const ALL: ServerName[] = ['nginx', 'caddy', 'berth', 'berth-auto'];
const FILES: FileKey[] = ['css', 'html', 'image'];
const PROTO_TITLE: Record<Proto, string> = { http: 'HTTP/1.1, plain', https: 'HTTP/1.1 over TLS', h2: 'HTTP/2 over TLS' };

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(1)} ms`);
const mib = (kib: number | undefined) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(1)} MiB`);
const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

function rpsCell(c: Cell | undefined): string {
  if (!c) return '—';
  return int(c.rps) + (c.non2xx > 0 || c.errors > 0 ? ' ⚠' : '');
}

function ratio(a: Cell | undefined, b: Cell | undefined): string {
  return a && b && b.rps > 0 ? `${(a.rps / b.rps).toFixed(2)}×` : '—';
}

function latency(proto: Proto, c: Cell | undefined): string {
  return ms(proto === 'h2' ? c?.meanMs : c?.p99Ms);
}

function table(head: string[], rows: string[][], textColumns = 1): string {
  return [head, head.map((_, i) => (i < textColumns ? '---' : '---:')), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n');
}

function fileLabel(r: Results, f: FileKey): string {
  return `${r.files[f].path} (${size(r.files[f].bytes)})`;
}

function cellOf(r: Results, n: ServerName, proto: Proto, f: FileKey): Cell | undefined {
  return r.servers[n]?.cells[proto]?.[f];
}

function protoTable(r: Results, proto: Proto): string {
  const lat = proto === 'h2' ? 'mean' : 'p99';
  const head = ['file', 'nginx req/s', 'Caddy req/s', 'Berth req/s', 'Berth/nginx', `nginx ${lat}`, `Caddy ${lat}`, `Berth ${lat}`];
  const rows = FILES.map((f) => {
    const [n, c, b] = MAIN.map((name) => cellOf(r, name, proto, f));
    return [fileLabel(r, f), rpsCell(n), rpsCell(c), rpsCell(b), ratio(b, n), latency(proto, n), latency(proto, c), latency(proto, b)];
  });
  return table(head, rows);
}

function workersTable(r: Results, protos: Proto[]): string {
  const head = ['protocol', 'file', 'req/s', 'vs Berth, 1 worker', 'vs nginx', 'p99 (HTTP/2: mean)'];
  const rows: string[][] = [];
  for (const proto of protos) {
    for (const f of FILES) {
      const a = cellOf(r, 'berth-auto', proto, f);
      rows.push([PROTO_TITLE[proto], fileLabel(r, f), rpsCell(a), ratio(a, cellOf(r, 'berth', proto, f)), ratio(a, cellOf(r, 'nginx', proto, f)), latency(proto, a)]);
    }
  }
  return table(head, rows, 2);
}

function anyCells(r: Results, proto: Proto): boolean {
  return ALL.some((n) => Object.keys(r.servers[n]?.cells[proto] ?? {}).length > 0);
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
  const out: string[] = [];
  out.push('## Static serving', '');
  out.push(
    `Measured by \`npm run bench\` (\`bash bench/run.sh\`) on ${r.finishedAt.slice(0, 16).replace('T', ' ')} UTC.`,
    'The benchmark writes this section itself; run it again to refresh the numbers. The raw',
    `results of this run are in \`${resultsFile}\` (not committed).`,
    '',
    'How it measures:',
    '',
    '- nginx, Caddy and Berth serve the same three files on 127.0.0.1, one server at a time:',
    '  each is started, checked (every file, both protocols, exact bytes), warmed up, measured and',
    '  stopped before the next one starts.',
    `- Each cell is one \`wrk -t${st.threads} -c${st.connections} -d${st.durationSeconds}s --latency\` run against one file, after a`,
    `  ${st.warmupSeconds} s warm-up of the same URL. HTTPS uses one self-signed ECDSA P-256 certificate for all of them.`,
    '- wrk sends no `Accept-Encoding`, so every server sends the identity bytes.',
    '- wrk runs on the same cores as the server. A server with a worker per core competes with',
    '  wrk for the CPU, which shows in its tail latency; compare the servers with each other, not',
    '  with a real deployment. Runs on a shared VM vary by tens of percent from one run to the next.',
    '- ⚠ marks a run with non-2xx responses or socket errors.',
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
    ...(auto ? ['- Berth, `workers = "auto"`: the same with one serving process per core (its own table).'] : []),
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
      `\`h2load -t${st.threads} -c${st.connections} -m${st.h2Streams} -D${st.durationSeconds}\` after a ${st.warmupSeconds} s warm-up. h2load reports no`,
      'percentiles, so the latency columns are the mean.',
      '',
      protoTable(r, 'h2'),
      '',
    );
  }
  if (auto?.ok) {
    out.push(
      '### Berth with `workers = "auto"`',
      '',
      `${auto.processes ?? '?'} processes (a primary and one worker per core). Same runs as above.`,
      '',
      workersTable(r, protos),
      '',
    );
  }

  out.push('### Memory', '');
  const shown = ALL.filter((n) => r.servers[n]);
  const label = (n: ServerName) => (n === 'nginx' ? 'nginx (master + workers)' : n === 'berth-auto' ? 'Berth, workers = "auto" (all processes)' : (r.servers[n]?.label ?? n));
  const row = (title: string, get: (s: ServerResult | undefined) => number | undefined) =>
    `| ${title} | ${shown.map((n) => mib(get(r.servers[n]))).join(' | ')} |`;
  out.push(
    `Berth idle RSS (the \`berth serve\` Node process, VmRSS from /proc after start and one request): **${mib(r.servers.berth?.idleRssKiB)}**.`,
    '',
    'RSS of the whole process tree, from /proc. After load it includes whatever buffers and heap',
    'the runtime kept from the burst, so it is a high-water mark, not a steady state.',
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

  const failures = ALL.filter((n) => r.servers[n] && !r.servers[n]?.ok);
  if (failures.length || r.notes.length) {
    out.push('Notes from this run:', '');
    for (const n of failures) out.push(`- ${r.servers[n]?.label} failed: ${(r.servers[n]?.error ?? '').split('\n')[0]}`);
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
