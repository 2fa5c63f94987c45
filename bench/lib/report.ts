/**
 * Turns a results object into markdown and rewrites the "Static serving"
 * section of BENCHMARKS.md with it, so the document carries exactly the
 * numbers that were measured.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  afterLoadRssKiB?: number;
  /** KiB; the main process's own peak (VmHWM). */
  peakRssKiB?: number;
  pid?: number;
  cmdline?: string;
  headers?: Record<string, string | string[] | undefined>;
  cells: Partial<Record<Proto, Partial<Record<FileKey, Cell>>>>;
}

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
  publishUnderLoad?: PublishLoadResult | { error: string };
  notes: string[];
}

export const ORDER: ServerName[] = ['nginx', 'caddy', 'berth'];
const FILE_ORDER: FileKey[] = ['css', 'html', 'image'];

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined ? '—' : n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(1)} ms`);
const mib = (kib: number | undefined) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(1)} MiB`);
const size = (b: number) => (b >= 1024 ? `${b / 1024} KiB` : `${b} B`);

function flag(c: Cell | undefined): string {
  return c && (c.non2xx > 0 || c.errors > 0) ? ' ⚠' : '';
}

function rpsCell(c: Cell | undefined): string {
  return c ? int(c.rps) + flag(c) : '—';
}

function ratio(a: Cell | undefined, b: Cell | undefined): string {
  return a && b && b.rps > 0 ? `${(a.rps / b.rps).toFixed(2)}×` : '—';
}

function protoTable(r: Results, proto: Proto): string {
  const s = (n: ServerName) => r.servers[n]?.cells[proto];
  const latency = proto === 'h2' ? 'mean' : 'p99';
  const head = [
    'file',
    'nginx req/s',
    'Caddy req/s',
    'Berth req/s',
    'Berth/nginx',
    `nginx ${latency}`,
    `Caddy ${latency}`,
    `Berth ${latency}`,
  ];
  const rows = FILE_ORDER.map((f) => {
    const [n, c, b] = ORDER.map((name) => s(name)?.[f]);
    const lat = (x: Cell | undefined) => ms(proto === 'h2' ? x?.meanMs : x?.p99Ms);
    return [
      `${r.files[f].path} (${size(r.files[f].bytes)})`,
      rpsCell(n),
      rpsCell(c),
      rpsCell(b),
      ratio(b, n),
      lat(n),
      lat(c),
      lat(b),
    ];
  });
  return [head, head.map((_, i) => (i === 0 ? '---' : '---:')), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n');
}

function anyCells(r: Results, proto: Proto): boolean {
  return ORDER.some((n) => Object.keys(r.servers[n]?.cells[proto] ?? {}).length > 0);
}

export function renderSection(r: Results, resultsFile: string): string {
  const st = r.settings;
  const out: string[] = [];
  out.push('## Static serving', '');
  out.push(
    `Measured by \`npm run bench\` (\`bash bench/run.sh\`), ${r.finishedAt}. This section is written by the`,
    'benchmark itself; to change the numbers, run it again. Raw results of this run:',
    `\`${resultsFile}\` (kept out of git).`,
    '',
  );
  out.push(
    'Method: nginx, Caddy and Berth serve the same three files from 127.0.0.1, one server at a time:',
    'started, warmed up, measured, stopped. Each cell is one',
    `\`wrk -t${st.threads} -c${st.connections} -d${st.durationSeconds}s --latency\` run against one file after a`,
    `${st.warmupSeconds} s warm-up of the same URL. HTTPS uses one self-signed ECDSA P-256 certificate for all`,
    'three. wrk sends no `Accept-Encoding`, so every server sends the identity bytes. wrk runs on',
    'the same cores as the server, so compare the servers with each other; the absolute numbers',
    'say little about a real deployment. ⚠ marks a run with non-2xx responses or socket errors.',
    '',
  );
  out.push('Configurations (written by `bench/lib/servers.ts`):', '');
  out.push(
    '- nginx: `worker_processes auto`, `sendfile`, `tcp_nopush`, `tcp_nodelay`, `open_file_cache`,',
    '  `access_log off`, keep-alive with `keepalive_requests 100000`, TLS 1.2/1.3 with a session',
    '  cache, `http2` on the TLS listener.',
    '- Caddy: `file_server`, the same certificate via `tls cert key`, `auto_https off`, `admin off`,',
    '  logs discarded, protocols h1 and h2.',
    '- Berth: `berth publish` of the directory, then `berth serve` with `access_log = false`; one',
    '  Node process.',
    '',
  );
  out.push('Machine:', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(r.machine)) out.push(`| ${k} | ${v} |`);
  out.push('');

  out.push('### HTTP/1.1, plain', '', protoTable(r, 'http'), '');
  out.push('### HTTP/1.1 over TLS', '', protoTable(r, 'https'), '');
  if (anyCells(r, 'h2')) {
    out.push(
      '### HTTP/2 over TLS',
      '',
      `\`h2load -t${st.threads} -c${st.connections} -m${st.h2Streams} -D${st.durationSeconds}\` after a ${st.warmupSeconds} s warm-up; h2load reports no percentiles, so the latency columns are the mean.`,
      '',
      protoTable(r, 'h2'),
      '',
    );
  }

  out.push('### Memory', '');
  const berth = r.servers.berth;
  out.push(
    `Berth idle RSS (the \`berth serve\` Node process, VmRSS from /proc after start and one request): **${mib(berth?.idleRssKiB)}**.`,
    '',
    '| | nginx (master + workers) | Caddy | Berth |',
    '|---|---:|---:|---:|',
    `| idle, after one request | ${ORDER.map((n) => mib(r.servers[n]?.idleRssKiB)).join(' | ')} |`,
    `| after the load runs | ${ORDER.map((n) => mib(r.servers[n]?.afterLoadRssKiB)).join(' | ')} |`,
    '',
  );

  out.push('### Publish under load', '');
  const p = r.publishUnderLoad;
  if (!p) {
    out.push('Not run.', '');
  } else if ('error' in p) {
    out.push(`Could not run: ${p.error}`, '');
  } else {
    out.push(
      `While ${p.wrk ? 'wrk and ' : ''}keep-alive checking clients (half of them over HTTPS, \`Accept-Encoding: identity\`)`,
      `requested \`/index.html\` and \`/style.css\`, \`berth publish\` ran ${p.publishes} times, alternating two versions`,
      'of both files. Each checked response must be 200, its body must hash to the ETag sent with it,',
      'and it must be one of the published versions.',
      '',
      '| | |',
      '|---|---|',
      `| publishes (failed) | ${p.publishes} (${p.publishesFailed}) |`,
      `| publish time, median / max | ${int(p.publishMsMedian)} ms / ${int(p.publishMsMax)} ms |`,
      `| checked requests | ${int(p.requests)} |`,
      `| failed (not 200, or an error) | ${int(p.failed)} |`,
      `| mixed (body ≠ ETag, or no published version) | ${int(p.mixed)} |`,
      `| version changes seen by the checkers | ${int(p.versionChanges)} |`,
      `| last published version served at the end | ${p.finalVersionServed ? 'yes' : 'NO'} |`,
    );
    if (p.wrk) {
      out.push(
        `| wrk alongside: requests, non-2xx, socket errors | ${int(p.wrk.requests)}, ${int(p.wrk.non2xx)}, ${int(p.wrk.errors)} |`,
      );
    }
    out.push('');
  }

  const failures = ORDER.filter((n) => r.servers[n] && !r.servers[n]?.ok);
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
  const block = `${BEGIN}\n${section.trimEnd()}\n${END}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) {
    text = text.slice(0, a) + block + text.slice(b + END.length);
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}
