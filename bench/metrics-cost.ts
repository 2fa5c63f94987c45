/**
 * What counting requests for the metrics costs on the serving path: the same
 * Berth (this source tree, `workers = "auto"`, access log off, the serving
 * benchmark's site and certificate) with `[metrics] listen` on and with
 * `listen = false`, over the serving benchmark's rows (three files over
 * HTTP/1.1 plain, HTTP/1.1 over TLS and HTTP/2 where h2load is installed).
 *
 * Both servers run at once on their own ports (the one not measured is
 * idle), and each row is measured on both back to back, in an order that
 * alternates from row to row and from round to round: a slow spell of a
 * shared machine then falls on both sides of a pair. Each run is one
 * `wrk -t2 -c64 -d<N>s` after a warm-up of the same URL, with the server's
 * CPU time. After each "on" run a scrape checks that the requests were
 * counted. Reports per row the median req/s of each side over the rounds
 * (range in brackets), the median of each round's on/off ratio (range in
 * brackets), and the server CPU time per request on and off.
 *
 * Settings (environment): BENCH_ROUNDS=5, BENCH_DURATION=8, BENCH_WARMUP=1,
 * BENCH_THREADS=2, BENCH_CONNECTIONS=64, BENCH_H2=auto (1/0), BENCH_H2_STREAMS=10;
 * BENCH_FROM=<results file> renders the section again from a run's results.
 * Started by bench/metrics-cost.sh; writes bench/results/metrics-cost-<timestamp>.json
 * and, with 3 or more rounds, the "Metrics on and off" section of BENCHMARKS.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from './lib/client.ts';
import { withCpuTime } from './lib/cpu-time.ts';
import { h2load, wrk, type LoadResult } from './lib/load.ts';
import { installExitHandlers, run, setPidDir, startTracked, stopTracked, waitForPorts, type Tracked } from './lib/proc.ts';
import { envInt, progressLog } from './lib/settings.ts';
import { median, spread } from './lib/rounds.ts';
import { measuredBy, replaceMarkedSection } from './lib/benchmarks-md.ts';
import { berthConfig, makeCert, waitBerthReady, type BenchContext } from './lib/servers.ts';
import { writeSite, SITE_FILES } from './site/generate.ts';

const log = progressLog('metrics-cost');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

type Side = 'on' | 'off';
const SIDES: Record<Side, { http: number; https: number; metrics: number | undefined }> = {
  on: { http: 18680, https: 19043, metrics: 19187 },
  off: { http: 18780, https: 19143, metrics: undefined },
};

interface Run {
  rps: number;
  cpuPerRequestUs: number;
  non2xx: number;
  errors: number;
}

async function startBerth(ctx: BenchContext, side: Side): Promise<Tracked> {
  const ports = SIDES[side];
  const dir = join(ctx.tmp, `berth-${side}`);
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'berth.toml');
  const metrics = ports.metrics === undefined ? 'listen = false' : `listen = "127.0.0.1:${ports.metrics}"`;
  const text = berthConfig(ctx, 'berth', ports.http, ports.https).replace(join(ctx.tmp, 'berth', 'data'), join(dir, 'data'));
  writeFileSync(config, `${text}\n[metrics]\n${metrics}\n`);
  const published = await run(ctx.node, [join(root, 'src/cli/main.ts'), 'publish', ctx.siteDir, '--site', 'bench', '--config', config], { cwd: root, timeoutMs: 120_000 });
  if (published.code !== 0) throw new Error(`berth publish (${side}) failed: ${published.stderr || published.stdout}`);
  const proc = startTracked(`berth-metrics-${side}`, ctx.node, [join(root, 'src/cli/main.ts'), 'serve', '--config', config], ctx.logDir, { cwd: root });
  await waitForPorts(proc, [ports.http, ports.https], 30_000);
  await waitBerthReady(ports.http);
  return proc;
}

async function counted(): Promise<number> {
  const r = await get(`http://127.0.0.1:${SIDES.on.metrics}/_berth/metrics`, { headers: { connection: 'close' } });
  if (r.status !== 200) throw new Error(`metrics scrape answered ${r.status}`);
  let sum = 0;
  for (const line of r.body.toString().split('\n')) if (line.startsWith('berth_http_requests_total{')) sum += Number(line.split(' ').at(-1));
  return sum;
}

function runOf(result: LoadResult, serverCpuSeconds: number): Run {
  return { rps: result.rps, cpuPerRequestUs: result.requests > 0 ? (serverCpuSeconds / result.requests) * 1e6 : 0, non2xx: result.non2xx, errors: result.errors };
}

async function main(): Promise<void> {
  installExitHandlers();
  const rounds = envInt('BENCH_ROUNDS', 5, 1, 100);
  const seconds = envInt('BENCH_DURATION', 8, 1, 300);
  const warmup = envInt('BENCH_WARMUP', 1, 0, 60);
  const threads = envInt('BENCH_THREADS', 2, 1, 64);
  const connections = envInt('BENCH_CONNECTIONS', 64, 1, 10_000);
  const streams = envInt('BENCH_H2_STREAMS', 10, 1, 1000);
  const hasH2load = (await run('h2load', ['--version'], { timeoutMs: 10_000 })).code === 0;
  const h2 = (process.env.BENCH_H2 ?? 'auto') === 'auto' ? hasH2load : process.env.BENCH_H2 === '1';
  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-metrics-cost-'));
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  setPidDir(tmp);
  const siteDir = join(tmp, 'site');
  writeSite(siteDir, 'a');
  const { certFile, keyFile } = await makeCert(tmp);
  const ctx: BenchContext = { root, tmp, siteDir, staticDir: siteDir, certFile, keyFile, logDir, node: process.execPath };

  const servers = { on: await startBerth(ctx, 'on'), off: await startBerth(ctx, 'off') };
  const started = Date.now();
  const loadAtStart = loadavg().map((x) => x.toFixed(2)).join(' ');
  const rows: Array<{ name: string; url: (side: Side) => string; proto: 'h1' | 'h2' }> = [];
  for (const proto of ['http', 'https', ...(h2 ? ['h2'] : [])] as const) {
    for (const file of Object.values(SITE_FILES)) {
      const label = `${proto === 'http' ? 'HTTP/1.1, plain' : proto === 'https' ? 'HTTP/1.1 over TLS' : 'HTTP/2 over TLS'}: ${file.path} (${file.size >= 1024 ? `${Math.round(file.size / 1024)} KiB` : `${file.size} B`})`;
      rows.push({ name: label, proto: proto === 'h2' ? 'h2' : 'h1', url: (side) => (proto === 'http' ? `http://127.0.0.1:${SIDES[side].http}${file.path}` : `https://127.0.0.1:${SIDES[side].https}${file.path}`) });
    }
  }
  const measured: Record<string, Record<Side, Run[]>> = {};
  let turn = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const order: Side[] = turn++ % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
        measured[row.name] ??= { on: [], off: [] };
        for (const side of order) {
          const url = row.url(side);
          const before = side === 'on' ? await counted() : 0;
          let result: { result: LoadResult; serverCpuSeconds: number };
          if (row.proto === 'h1') {
            if (warmup > 0) await wrk(url, { threads, connections, seconds: warmup });
            result = await withCpuTime(servers[side].pid, () => wrk(url, { threads, connections, seconds }));
          } else {
            const load = { threads, connections, streams, warmupSeconds: 0 };
            const probe = await h2load(url, { ...load, seconds: Math.max(warmup, 1), requests: connections * streams * 4 });
            const requests = Math.max(connections * streams, Math.round(probe.rps * seconds));
            result = await withCpuTime(servers[side].pid, () => h2load(url, { ...load, seconds, requests }));
          }
          const one = runOf(result.result, result.serverCpuSeconds);
          measured[row.name]?.[side].push(one);
          if (side === 'on') {
            const now = await counted();
            if (now - before < result.result.requests) throw new Error(`${row.name}: ${result.result.requests} requests measured, ${now - before} counted`);
          }
          log(`round ${round + 1} ${side.padEnd(3)} ${row.name}: ${Math.round(one.rps)} req/s, ${one.cpuPerRequestUs.toFixed(1)} µs CPU/request${one.non2xx || one.errors ? `, ${one.non2xx} non-2xx, ${one.errors} errors` : ''}`);
        }
      }
    }
  } finally {
    await Promise.all([stopTracked(servers.on), stopTracked(servers.off)]);
  }

  const hot = await run(ctx.node, [join(root, 'bench', 'metrics-hot-path.ts')], { cwd: root, timeoutMs: 300_000 });
  const hotPath = hot.code === 0 ? (JSON.parse(hot.stdout) as HotPath) : undefined;
  const startedAt = new Date(started).toISOString();
  const results: CostResults = {
    hotPath,
    startedAt,
    command: reproduce(rounds, seconds),
    settings: { rounds, seconds, warmup, threads, connections, h2, streams },
    machine: { cores: String(availableParallelism()), node: process.version, loadAtStart, commit: await commitOf() },
    rows: Object.fromEntries(rows.flatMap((row) => {
      const m = measured[row.name];
      return m === undefined ? [] : [[row.name, m] as const];
    })),
  };
  const stamp = startedAt.replaceAll(':', '-').replaceAll('.', '-');
  const file = join('bench', 'results', `metrics-cost-${stamp}.json`);
  writeFileSync(join(root, file), `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${file}`);
  const section = renderCostSection(results, file);
  process.stdout.write(`${section}\n`);
  if (rounds >= 3) {
    replaceMarkedSection(join(root, 'BENCHMARKS.md'), BEGIN, END, section);
    log('wrote the "Metrics on and off" section of BENCHMARKS.md');
  } else log('fewer than 3 rounds: BENCHMARKS.md left as it is');
}

/** What bench/metrics-hot-path.ts prints. */
interface HotPath {
  requestsPerBlock: number;
  rounds: number;
  offNsPerRequest: number;
  onNsPerRequest: number;
  addedNsPerRequest: number;
}

interface CostResults {
  hotPath?: HotPath | undefined;
  startedAt: string;
  command: string;
  settings: { rounds: number; seconds: number; warmup: number; threads: number; connections: number; h2: boolean; streams: number };
  machine: { cores: string; node: string; loadAtStart: string; commit: string };
  rows: Record<string, Record<Side, Run[]>>;
}

const BEGIN = '<!-- BEGIN metrics-cost: written by bash bench/metrics-cost.sh -->';
const END = '<!-- END metrics-cost -->';

function reproduce(rounds: number, seconds: number): string {
  const settings = [rounds !== 5 ? `BENCH_ROUNDS=${rounds}` : '', seconds !== 8 ? `BENCH_DURATION=${seconds}` : ''].filter(Boolean).join(' ');
  return `${settings === '' ? '' : `${settings} `}npm run bench:metrics`;
}

async function commitOf(): Promise<string> {
  const r = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.trim() : 'unknown';
}

/** The "Metrics on and off" section of BENCHMARKS.md. */
export function renderCostSection(r: CostResults, file: string): string {
  const k = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : n.toLocaleString('en', { maximumFractionDigits: 0 }));
  const lines = [
    '## Metrics on and off',
    '',
    ...measuredBy(r.command, r.startedAt, file, true),
    '',
    `What counting requests for \`/_berth/metrics\` costs on the serving path. The same Berth (this commit, \`workers = "auto"\`, access log off, the static serving benchmark's site and certificate) runs twice at once on ports of its own: once with \`[metrics] listen = "127.0.0.1:19187"\`, once with \`listen = false\` (nothing counted). Each row is measured on both back to back, the order alternating from row to row and round to round, so that a slow spell of the machine falls on both sides of a pair; the server not measured is idle meanwhile. Each measurement is \`wrk -t${r.settings.threads} -c${r.settings.connections} -d${r.settings.seconds}s\` after a ${r.settings.warmup} s warm-up of the same URL (HTTP/2: \`h2load -t${r.settings.threads} -c${r.settings.connections} -m${r.settings.streams}\` for about ${r.settings.seconds} s); after each run with metrics on, a scrape checks that every request was counted. ${r.settings.rounds} rounds.`,
    '',
    'req/s is the median over the rounds, with the slowest and fastest round in brackets. on / off is the median of the rounds\' ratios of the two back-to-back runs (lowest and highest in brackets): below 1.00×, metrics on served fewer. CPU is the server\'s CPU time (every process of its tree) per request, median over the rounds.',
    '',
    `Machine: ${r.machine.cores} cores, Node ${r.machine.node}, load average at start ${r.machine.loadAtStart}, Berth commit ${r.machine.commit}.`,
    '',
    '| row | metrics on req/s | metrics off req/s | on / off | CPU µs/request, on | off |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const ratios: number[] = [];
  let widest = 0;
  for (const [name, m] of Object.entries(r.rows)) {
    const on = spread(m.on.map((x) => x.rps));
    const off = spread(m.off.map((x) => x.rps));
    const rowRatios = m.on.map((x, i) => x.rps / (m.off[i]?.rps ?? Number.NaN)).filter((x) => Number.isFinite(x));
    const ratio = spread(rowRatios);
    if (on === undefined || off === undefined || ratio === undefined) continue;
    ratios.push(ratio.median);
    widest = Math.max(widest, ratio.max - ratio.min);
    const bad = [...m.on, ...m.off].some((x) => x.non2xx > 0 || x.errors > 0) ? ' ⚠' : '';
    lines.push(
      `| ${name}${bad} | ${k(on.median)} (${k(on.min)}–${k(on.max)}) | ${k(off.median)} (${k(off.min)}–${k(off.max)}) | ${ratio.median.toFixed(3)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}) | ${median(m.on.map((x) => x.cpuPerRequestUs))?.toFixed(1)} | ${median(m.off.map((x) => x.cpuPerRequestUs))?.toFixed(1)} |`,
    );
  }
  const all = median(ratios);
  if (all !== undefined) lines.push('', `Median of the rows' on / off: ${all.toFixed(3)}× (${((all - 1) * 100).toFixed(1)} %).`);
  if (widest > 0.1) {
    lines.push(
      '',
      `The same pair's ratio varied by up to ${widest.toFixed(2)} from one round to another in this run: a difference between the columns smaller than that is the machine's noise, not the metrics. The in-process measurement below is the one that resolves a cost of a few per cent.`,
    );
  }
  const hot = r.hotPath;
  const plain = Object.entries(r.rows)[0];
  const base = plain === undefined ? undefined : median(plain[1].off.map((x) => x.cpuPerRequestUs));
  if (hot !== undefined) {
    lines.push(
      '',
      `In process (\`node bench/metrics-hot-path.ts\`, which the command runs after the rounds): what counting adds to one HTTP/1.1 request (the close listener, the in-flight count, and at close the counts and the duration histogram), measured in ${hot.rounds} alternating blocks of ${hot.requestsPerBlock.toLocaleString('en')} requests: ${hot.addedNsPerRequest} ns per request (${hot.offNsPerRequest} ns → ${hot.onNsPerRequest} ns for the response object alone)${base === undefined ? '' : `, that is ${((hot.addedNsPerRequest / (base * 1000)) * 100).toFixed(2)} % of the ${base.toFixed(1)} µs of server CPU time a request of the first row above takes with metrics off`}.`,
    );
  }
  return lines.join('\n');
}

if (process.env.BENCH_FROM !== undefined) {
  // Renders the section again from a results file (after a change to the text), without measuring.
  const file = process.env.BENCH_FROM;
  const results = JSON.parse(readFileSync(resolve(file), 'utf8')) as CostResults;
  const section = renderCostSection(results, relative(root, resolve(file)));
  replaceMarkedSection(join(root, 'BENCHMARKS.md'), BEGIN, END, section);
  process.stdout.write(`${section}\n`);
} else await main();
