/**
 * The static serving benchmark: nginx, Caddy, Berth (`workers = "auto"`),
 * the same Berth at an earlier commit (BENCH_BASELINE) and a bare Node
 * server serving the same site on loopback, measured with wrk
 * (and h2load where installed) in rounds. In each round the servers take
 * turns, one at a time, each started afresh, checked, measured and stopped;
 * each round starts one server further down the list. A turn measures three
 * files over HTTP/1.1 plain, HTTP/1.1 over TLS and HTTP/2, one compressed row
 * (`Accept-Encoding: gzip, br`), then starts the server again with its
 * default access log on for the logging row, and again pinned to one CPU
 * with wrk on another for the pinned rows. Every run records the CPU time of
 * both sides. Then, once, the publish-under-load check against Berth.
 * Writes bench/results/<timestamp>.json and, after 3 or more complete
 * rounds, the "Static serving" section of BENCHMARKS.md with its raw results
 * as bench/results/serving-<timestamp>.json (committed beside it).
 * Started by bench/run.sh (`npm run bench`).
 *
 * Settings (environment):
 *   BENCH_ROUNDS=3         rounds; BENCHMARKS.md is only written with 3 or more
 *   BENCH_DURATION=8       seconds per measured run
 *   BENCH_WARMUP=1         seconds of warm-up per URL
 *   BENCH_THREADS=2        wrk/h2load threads
 *   BENCH_CONNECTIONS=64   wrk/h2load connections
 *   BENCH_SERVERS=nginx,caddy,berth,berth-before,bare   (berth-before only while BENCH_BASELINE is on)
 *   BENCH_BASELINE=bb55809 the commit-ish `berth-before` runs from, unpacked into the work dir; 0 or none: no berth-before
 *   BENCH_H2=auto          1/0; auto = when h2load is installed
 *   BENCH_H2_STREAMS=10    concurrent streams per HTTP/2 connection
 *   BENCH_EXTRA=1          1/0; the compressed and logging rows
 *   BENCH_PINNED=auto      1/0; auto = with 2 or more CPUs: the pinned rows (server on CPU 0, wrk on CPU 1)
 *   BENCH_PUBLISHES=20     publishes in the publish-under-load check (0 skips it)
 *   BENCH_WRITE_DOC=auto   1/0; auto = only after a run of 3 or more rounds where every server worked in every round
 *   BENCH_TMP              work dir (bench/run.sh makes one); default: a new temp dir
 */
import { saveResults } from './lib/results-files.ts';
import { envInt, progressLog } from './lib/settings.ts';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { compressBoth } from '../src/releases/compress.ts';
import { writeSite, SITE_FILES } from './site/generate.ts';
import { get, sha256 } from './lib/client.ts';
import { withCpuTime } from './lib/cpu-time.ts';
import { h2load, wrk, type LoadResult } from './lib/load.ts';
import { cmdline, installExitHandlers, killAllNow, processTree, procKiB, run, setPidDir, treeRssKiB, waitPortsFree } from './lib/proc.ts';
import { publishUnderLoad } from './lib/publish-load.ts';
import { describeMachine } from './lib/machine.ts';
import { baselineRef, checkOutBaseline, type Baseline } from './lib/baseline.ts';
import { ALL, COMPRESSED_FILE, LOGGED_FILE, renderSection, updateBenchmarksMd, type Cell, type FileKey, type Results, type ServerRound, type Variant } from './lib/report.ts';
import { rotated } from './lib/rounds.ts';
import { berthBefore, isBerth, makeCert, nginxHasBrotli, SERVERS, type BenchContext, type Running, type ServerSpec, type StartOptions } from './lib/servers.ts';

const log = progressLog('bench');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function machine(): Promise<Record<string, string>> {
  return describeMachine(root, [
    ['nginx', 'nginx', ['-v'], /nginx\/(\S+)/],
    ['Caddy', 'caddy', ['version'], /^v?(\S+)/],
    ['wrk', 'wrk', ['-v'], /wrk (\S+)/],
    ['h2load', 'h2load', ['--version'], /nghttp2\/(\S+)/],
    ['OpenSSL', 'openssl', ['version'], /OpenSSL (\S+)/],
  ]);
}

function cell(r: LoadResult, cpu: { serverCpuSeconds: number; loadCpuSeconds: number }): Cell {
  return {
    rps: r.rps,
    requests: r.requests,
    seconds: r.seconds,
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms,
    meanMs: r.meanMs,
    non2xx: r.non2xx,
    errors: r.errors,
    serverCpuSeconds: cpu.serverCpuSeconds,
    loadCpuSeconds: cpu.loadCpuSeconds,
  };
}

/** A file's bytes in each encoding the site has for it. */
type Encoded = Map<string, { identity: Buffer; br?: Buffer; gzip?: Buffer }>;

/**
 * The site with `.br` and `.gz` sidecars, made by Berth's own compressor, so
 * every server sends the same compressed bytes Berth's publish stores.
 */
async function writeStaticSite(dir: string, site: Map<string, Buffer>): Promise<Encoded> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const out: Encoded = new Map();
  for (const [path, bytes] of site) {
    const file = join(dir, path.slice(1));
    writeFileSync(file, bytes, { mode: 0o644 });
    const c = await compressBoth(bytes);
    if (c.br) writeFileSync(`${file}.br`, c.br, { mode: 0o644 });
    if (c.gzip) writeFileSync(`${file}.gz`, c.gzip, { mode: 0o644 });
    out.set(path, { identity: bytes, br: c.br, gzip: c.gzip });
  }
  return out;
}

/**
 * The compressed reply: what the server sends for `path` with
 * `Accept-Encoding: gzip, br`, which must be one of the sidecars' exact bytes.
 */
async function checkCompressed(s: Running, ca: string, path: string, encoded: Encoded): Promise<{ encoding: string; bytes: number }> {
  const r = await get(`https://127.0.0.1:${s.httpsPort}${path}`, { ca, headers: { 'accept-encoding': 'gzip, br' } });
  const encoding = String(r.headers['content-encoding'] ?? 'identity');
  const want = encoded.get(path);
  const expected = encoding === 'br' ? want?.br : encoding === 'gzip' ? want?.gzip : undefined;
  if (r.status !== 200) throw new Error(`${path} with Accept-Encoding: gzip, br: status ${r.status}`);
  if (!expected) throw new Error(`${path} with Accept-Encoding: gzip, br: sent ${encoding} (${r.body.length} bytes), not a sidecar`);
  if (sha256(r.body) !== sha256(expected)) throw new Error(`${path} with Accept-Encoding: gzip, br: the ${encoding} body differs from the sidecar's bytes`);
  return { encoding, bytes: r.body.length };
}

function lineCount(file: string | undefined): number {
  if (!file) return 0;
  try {
    const text = readFileSync(file, 'utf8');
    return text ? text.split('\n').filter(Boolean).length : 0;
  } catch {
    return 0;
  }
}

/** Every file over both protocols: 200 and the exact bytes. Returns problems found. */
async function verify(s: Running, ca: string, site: Map<string, Buffer>): Promise<string[]> {
  const problems: string[] = [];
  for (const base of [`http://127.0.0.1:${s.httpPort}`, `https://127.0.0.1:${s.httpsPort}`]) {
    for (const [path, bytes] of site) {
      try {
        const r = await get(base + path, { ca });
        if (r.status !== 200) problems.push(`${base}${path}: status ${r.status}`);
        else if (sha256(r.body) !== sha256(bytes)) problems.push(`${base}${path}: body differs from the file (${r.body.length} bytes)`);
      } catch (err) {
        problems.push(`${base}${path}: ${(err as Error).message}`);
      }
    }
  }
  return problems;
}

/** Warnings, errors and non-JSON lines (stack traces) in Berth's log. */
function berthLogNotes(label: string, logFile: string): string[] {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let level: unknown;
    let msg: unknown;
    try {
      const j = JSON.parse(line) as { level?: unknown; msg?: unknown };
      level = j.level;
      msg = j.msg;
    } catch {
      bad.push(line.trim());
      continue;
    }
    if (level === 'warn' || level === 'error' || level === 'fatal' || (typeof level === 'number' && level >= 40)) {
      bad.push(`${String(level)}: ${String(msg)}`);
    }
  }
  if (bad.length === 0) return [];
  return [`${label}: the log has ${bad.length} warning/error line(s), the first: ${bad.slice(0, 3).map((b) => `\`${b.slice(0, 200)}\``).join('; ')}`];
}

/** Header sanity for Berth, reported as notes (never fatal). */
function headerNotes(label: string, h: Record<string, string | string[] | undefined>, bytes: number): string[] {
  const out: string[] = [];
  if (!h['content-type']) out.push(`${label}: no Content-Type on /index.html`);
  if (!h.etag) out.push(`${label}: no ETag on /index.html`);
  if (h['content-length'] !== String(bytes)) out.push(`${label}: Content-Length ${String(h['content-length'])} for a ${bytes}-byte file`);
  if (!h.date) out.push(`${label}: no Date header`);
  return out;
}

/** The fewest rounds whose median and range BENCHMARKS.md reports. */
const DOC_MIN_ROUNDS = 3;

/** The settings this file reads that change what is measured, in the order a command line shows them. */
const MEASURE_SETTINGS = [
  'BENCH_ROUNDS',
  'BENCH_DURATION',
  'BENCH_WARMUP',
  'BENCH_THREADS',
  'BENCH_CONNECTIONS',
  'BENCH_SERVERS',
  'BENCH_BASELINE',
  'BENCH_H2',
  'BENCH_H2_STREAMS',
  'BENCH_EXTRA',
  'BENCH_PINNED',
  'BENCH_PUBLISHES',
];

/** The command that reproduces this run: the measuring settings given in the environment, then `npm run bench`. */
function reproduceCommand(): string {
  const given = MEASURE_SETTINGS.filter((n) => process.env[n]).map((n) => {
    const v = process.env[n] ?? '';
    return `${n}=${/^[\w.,-]+$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`}`;
  });
  return [...given, 'npm run bench'].join(' ');
}

interface Measure {
  seconds: number;
  warmup: number;
  threads: number;
  connections: number;
  h2: boolean;
  h2Streams: number;
  /** The compressed and logging rows. */
  extra: boolean;
  /** CPUs for the pinned rows, or undefined to skip them. */
  pinned?: { server: string; load: string };
}

/** Starts a server on its ports, waiting first for the last one started there to let go of them. */
async function start(spec: ServerSpec, ctx: BenchContext, o: StartOptions = {}): Promise<Running> {
  if (!(await waitPortsFree([spec.httpPort, spec.httpsPort], 10_000))) {
    throw new Error(`port ${spec.httpPort} or ${spec.httpsPort} is still taken after 10 s; is an old benchmark still running?`);
  }
  return spec.start(ctx, o);
}

/** Stops a server; notes a Berth that does not exit cleanly on SIGTERM. */
async function stop(spec: ServerSpec, running: Running, note: (msg: string) => void, when: string): Promise<void> {
  log(`${spec.label}: stopping ${when}`);
  await running.stop();
  if (running.proc.child.exitCode !== 0 && isBerth(spec.name)) {
    note(`${spec.label} exited with ${String(running.proc.child.exitCode ?? running.proc.child.signalCode)} on SIGTERM ${when}`);
  }
}

/** Where each measured file is, and its size. */
const FILE_LIST = Object.entries(SITE_FILES) as Array<[FileKey, { path: string; size: number }]>;

/** One wrk measurement (after its warm-up) with both sides' CPU time. */
async function measureWrk(s: Running, url: string, o: Measure, extra: { headers?: string[]; threads?: number; cpus?: string } = {}): Promise<Cell> {
  const load = { threads: extra.threads ?? o.threads, connections: o.connections, headers: extra.headers, cpus: extra.cpus };
  if (o.warmup > 0) await wrk(url, { ...load, seconds: o.warmup });
  const m = await withCpuTime(s.proc.pid, () => wrk(url, { ...load, seconds: o.seconds }));
  return cell(m.result, m);
}

/** Logs a measured cell and notes bad responses. */
function report(tag: string, what: string, c: Cell, note: (msg: string) => void, latency: 'p99' | 'mean' = 'p99'): void {
  const lat = latency === 'p99' ? `p99 ${c.p99Ms?.toFixed(2)} ms` : `mean ${c.meanMs?.toFixed(2)} ms`;
  const cpu = c.serverCpuSeconds !== undefined && c.seconds ? `, server ${(c.serverCpuSeconds / c.seconds).toFixed(2)} cores, load ${((c.loadCpuSeconds ?? 0) / c.seconds).toFixed(2)}` : '';
  log(`${tag} ${what}: ${Math.round(c.rps)} req/s, ${lat}${cpu}${c.non2xx || c.errors ? `, ${c.non2xx} non-2xx, ${c.errors} errors` : ''}`);
  if (c.non2xx || c.errors) note(`${tag} ${what}: ${c.non2xx} non-2xx responses, ${c.errors} socket errors or failed requests`);
}

/**
 * One server's turn in one round: start it afresh, check it serves every file
 * exactly (and the compressed reply), measure every cell, stop it; then the
 * logging start and the pinned start. Never throws: a failure is the turn's
 * `error`, and what was measured before it is kept.
 */
async function benchTurn(
  spec: ServerSpec,
  ctx: BenchContext,
  ca: string,
  site: Map<string, Buffer>,
  encoded: Encoded,
  o: Measure,
  at: { round: number; position: number },
  note: (msg: string) => void,
): Promise<ServerRound> {
  const result: ServerRound = { ...at, ok: false, cells: {} };
  const tag = `round ${at.round}, ${spec.label}`;
  const put = (v: Variant, f: FileKey, c: Cell) => {
    result.cells[v] = { ...result.cells[v], [f]: c };
  };
  let s: Running | undefined;
  try {
    log(`${tag}: starting`);
    s = await start(spec, ctx);
    result.pid = s.proc.pid;
    result.cmdline = cmdline(s.proc.pid);

    // Idle memory: after start and exactly one request.
    const first = await get(`http://127.0.0.1:${s.httpPort}/index.html`, {});
    await sleep(500);
    result.idleRssKiB = treeRssKiB(s.proc.pid);
    result.processes = processTree(s.proc.pid).length;
    const h = await get(`https://127.0.0.1:${s.httpsPort}/index.html`, { ca });
    result.headers = { status: String(h.status), ...h.headers };
    if (first.status !== 200) throw new Error(`${spec.label}: GET /index.html answered ${first.status}`);
    const problems = await verify(s, ca, site);
    if (problems.length) throw new Error(`${spec.label} does not serve the site correctly:\n  ${problems.join('\n  ')}`);
    if (o.extra) result.compressedReply = await checkCompressed(s, ca, SITE_FILES[COMPRESSED_FILE].path, encoded);
    if (isBerth(spec.name)) for (const n of headerNotes(spec.label, h.headers, SITE_FILES.html.size)) note(n);
    log(`${tag}: pid ${s.proc.pid}, ${result.processes} processes, idle RSS ${((result.idleRssKiB ?? 0) / 1024).toFixed(1)} MiB; serving the site correctly`);

    for (const proto of ['http', 'https'] as const) {
      const base = proto === 'http' ? `http://127.0.0.1:${s.httpPort}` : `https://127.0.0.1:${s.httpsPort}`;
      for (const [key, f] of FILE_LIST) {
        const c = await measureWrk(s, base + f.path, o);
        put(proto, key, c);
        report(tag, `${proto} ${f.path}`, c, note);
      }
      result.rssAfterKiB = { ...result.rssAfterKiB, [proto]: treeRssKiB(s.proc.pid) };
    }
    if (o.extra) {
      const path = SITE_FILES[COMPRESSED_FILE].path;
      const c = await measureWrk(s, `https://127.0.0.1:${s.httpsPort}${path}`, o, { headers: ['Accept-Encoding: gzip, br'] });
      put('compressed', COMPRESSED_FILE, c);
      report(tag, `https ${path} (gzip, br)`, c, note);
    }
    if (o.h2) {
      for (const [key, f] of FILE_LIST) {
        const url = `https://127.0.0.1:${s.httpsPort}${f.path}`;
        const load = { threads: o.threads, connections: o.connections, streams: o.h2Streams, warmupSeconds: 0 };
        try {
          // Count mode (see h2load()): the warm-up's rate sets the count that
          // lasts about the run's duration.
          const probe = await h2load(url, { ...load, seconds: Math.max(o.warmup, 1), requests: o.connections * o.h2Streams * 4 });
          const requests = Math.max(o.connections * o.h2Streams, Math.round(probe.rps * o.seconds));
          const m = await withCpuTime(s.proc.pid, () => h2load(url, { ...load, seconds: o.seconds, requests }));
          const c = cell(m.result, m);
          put('h2', key, c);
          report(tag, `h2 ${f.path}`, c, note, 'mean');
        } catch (err) {
          note(`${tag} h2 ${f.path}: ${(err as Error).message.split('\n')[0]}`);
          log(`${tag} h2 ${f.path}: failed: ${(err as Error).message}`);
        }
      }
      result.rssAfterKiB = { ...result.rssAfterKiB, h2: treeRssKiB(s.proc.pid) };
    }
    result.peakRssKiB = procKiB(s.proc.pid, 'VmHWM');
    await stop(spec, s, note, `in round ${at.round}`);
    s = undefined;

    if (o.extra) {
      log(`${tag}: starting with its access log on`);
      s = await start(spec, ctx, { accessLog: true });
      const before = lineCount(s.accessLogFile);
      const path = SITE_FILES[LOGGED_FILE].path;
      const c = await measureWrk(s, `http://127.0.0.1:${s.httpPort}${path}`, o);
      put('logged', LOGGED_FILE, c);
      report(tag, `http ${path} (access log on)`, c, note);
      const logFile = s.accessLogFile;
      await stop(spec, s, note, `after the logging row in round ${at.round}`);
      s = undefined;
      // Read after the stop: a server may buffer its log until then.
      result.accessLogLines = lineCount(logFile) - before;
    }

    if (o.pinned) {
      log(`${tag}: starting on CPU ${o.pinned.server}, wrk on CPU ${o.pinned.load}`);
      s = await start(spec, ctx, { cpus: o.pinned.server });
      result.pinnedProcesses = processTree(s.proc.pid).length;
      for (const [key, f] of FILE_LIST) {
        const c = await measureWrk(s, `http://127.0.0.1:${s.httpPort}${f.path}`, o, { threads: 1, cpus: o.pinned.load });
        put('pinned', key, c);
        report(tag, `pinned http ${f.path}`, c, note);
      }
      await stop(spec, s, note, `after the pinned rows in round ${at.round}`);
      s = undefined;
    }
    result.ok = true;
  } catch (err) {
    result.error = (err as Error).message;
    log(`${tag}: FAILED: ${result.error}`);
  } finally {
    if (s) await stop(spec, s, note, `in round ${at.round}`);
    // Anything a failed start left behind.
    killAllNow();
  }
  return result;
}

/** The publish-under-load check on a new start of Berth. */
async function publishTurn(spec: ServerSpec, ctx: BenchContext, ca: string, publishes: number, results: Results, note: (msg: string) => void): Promise<void> {
  let s: Running | undefined;
  try {
    log(`${spec.label}: starting for the publish-under-load check (${publishes} publishes)`);
    s = await start(spec, ctx);
    const p = await publishUnderLoad(ctx, s, ca, 'a', {
      publishes,
      clients: 4,
      wrkConnections: 16,
      maxSeconds: 180,
      maxRequests: 2_000_000,
      pauseMs: 250,
    });
    results.publishUnderLoad[spec.name] = p;
    log(
      `publish under load: ${p.publishes} publishes (${p.publishesFailed} failed), ${p.requests} checked requests, ` +
        `${p.failed} failed, ${p.mixed} mixed, ${p.versionChanges} version changes seen, final version served: ${p.finalVersionServed}`,
    );
    for (const x of p.samples) log(`  sample: ${x}`);
  } catch (err) {
    results.publishUnderLoad[spec.name] = { error: (err as Error).message };
    log(`publish under load failed: ${(err as Error).message}`);
  } finally {
    if (s) await stop(spec, s, note, 'after the publish-under-load check');
    killAllNow();
  }
}

/** BENCH_PINNED: the CPUs for the pinned rows (server on the first, load on the second), or undefined. */
function pinnedCpus(): { server: string; load: string } | undefined {
  const v = process.env.BENCH_PINNED ?? 'auto';
  if (v !== 'auto' && v !== '0' && v !== '1') throw new Error(`BENCH_PINNED=${v}: use auto, 1 or 0`);
  const cpus = availableParallelism();
  if (v === '0' || (v === 'auto' && cpus < 2)) return undefined;
  if (cpus < 2) throw new Error(`BENCH_PINNED=1 needs 2 or more CPUs; this process may use ${cpus}`);
  return { server: '0', load: '1' };
}

async function main(): Promise<void> {
  installExitHandlers();
  const rounds = envInt('BENCH_ROUNDS', 3, 1, 100);
  const seconds = envInt('BENCH_DURATION', 8, 1, 300);
  const warmup = envInt('BENCH_WARMUP', 1, 0, 60);
  const threads = envInt('BENCH_THREADS', 2, 1, 64);
  const connections = envInt('BENCH_CONNECTIONS', 64, 1, 10_000);
  const h2Streams = envInt('BENCH_H2_STREAMS', 10, 1, 1000);
  const publishes = envInt('BENCH_PUBLISHES', 20, 0, 200);
  const extra = envInt('BENCH_EXTRA', 1, 0, 1) === 1;
  const pinned = pinnedCpus();
  if (connections < threads) throw new Error('BENCH_CONNECTIONS must be at least BENCH_THREADS');
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  if (writeDoc === '1' && rounds < DOC_MIN_ROUNDS) {
    throw new Error(`BENCH_WRITE_DOC=1 with BENCH_ROUNDS=${rounds}: BENCHMARKS.md reports the median of at least ${DOC_MIN_ROUNDS} rounds; set BENCH_ROUNDS=${DOC_MIN_ROUNDS} or more, or BENCH_WRITE_DOC=0`);
  }
  const baselineAt = baselineRef(process.env.BENCH_BASELINE);
  // The earlier Berth runs right after the current one in round 1, so the rotation keeps them neighbours.
  const names = ALL.flatMap((n) => (n === 'berth' && baselineAt ? ['berth', 'berth-before'] : [n]));
  const wanted = (process.env.BENCH_SERVERS ?? names.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !names.includes(w));
  if (unknown.length || wanted.length === 0) {
    const off = unknown.includes('berth-before') ? ' (berth-before needs BENCH_BASELINE on)' : '';
    throw new Error(`BENCH_SERVERS: unknown ${unknown.join(', ') || '(empty)'}${off}; use ${names.join(',')}`);
  }
  const hasH2load = (await run('h2load', ['--version'], { timeoutMs: 10_000 })).code === 0;
  const h2Env = process.env.BENCH_H2 ?? 'auto';
  const h2 = h2Env === 'auto' ? hasH2load : h2Env === '1';
  if (h2 && !hasH2load) throw new Error('BENCH_H2=1 but h2load is not installed (bash bench/setup.sh)');

  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-bench-'));
  mkdirSync(tmp, { recursive: true });
  // nginx workers run as an unprivileged user and must be able to read the site.
  chmodSync(tmp, 0o755);
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  setPidDir(tmp);
  log(`work dir ${tmp}`);

  const siteDir = join(tmp, 'site');
  const site = writeSite(siteDir, 'a').files;
  const staticDir = join(tmp, 'static');
  const encoded = await writeStaticSite(staticDir, site);
  let baseline: Baseline | undefined;
  if (baselineAt && wanted.includes('berth-before')) {
    baseline = await checkOutBaseline(root, baselineAt, join(tmp, 'berth-before', 'source'));
    log(`${baseline.label}: commit ${baseline.commit}, unpacked into ${baseline.source}`);
  }
  const known = baseline ? [...SERVERS, berthBefore(baseline.label, baseline.source)] : SERVERS;
  const specs = names.flatMap((n) => (wanted.includes(n) ? known.filter((s) => s.name === n) : []));
  const { certFile, keyFile } = await makeCert(tmp);
  const ca = readFileSync(certFile, 'utf8');
  const ctx: BenchContext = { root, tmp, siteDir, staticDir, certFile, keyFile, logDir, node: process.execPath };
  const nginxBrotli = nginxHasBrotli();
  if (extra && !nginxBrotli && specs.some((s) => s.name === 'nginx')) log('nginx has no brotli_static module (libnginx-mod-http-brotli-static): it will send gzip in the compressed row');

  const startedAt = new Date().toISOString();
  const results: Results = {
    startedAt,
    finishedAt: '',
    command: reproduceCommand(),
    settings: { rounds, durationSeconds: seconds, warmupSeconds: warmup, threads, connections, h2, h2Streams, publishes, pinned, nginxBrotli },
    machine: await machine(),
    baseline: baseline && { ref: baseline.ref, commit: baseline.commit, label: baseline.label },
    files: {
      css: { path: SITE_FILES.css.path, bytes: SITE_FILES.css.size },
      html: { path: SITE_FILES.html.path, bytes: SITE_FILES.html.size },
      image: { path: SITE_FILES.image.path, bytes: SITE_FILES.image.size },
    },
    order: [],
    servers: {},
    publishUnderLoad: {},
    notes: [],
  };
  // The same note from every round (a missing header, say) is said once.
  const note = (msg: string) => {
    if (!results.notes.includes(msg)) results.notes.push(msg);
  };
  for (const spec of specs) results.servers[spec.name] = { label: spec.label, ok: true, rounds: [] };
  if (baseline?.lockDiffers) {
    note(`${baseline.label}: its package-lock.json differs from the current one; it ran with the current node_modules`);
    log(results.notes.at(-1) ?? '');
  }

  // Rounds interleave the servers, so a slow spell of the machine falls on
  // all of them rather than on whichever ran during it, and the rotation
  // keeps any one server from always running first (or always after the
  // same neighbour).
  for (let i = 0; i < rounds; i++) {
    const order = rotated(specs, i);
    results.order.push(order.map((s) => s.name));
    log(`round ${i + 1} of ${rounds}: ${order.map((s) => s.label).join(' → ')}`);
    for (const [p, spec] of order.entries()) {
      const turn = await benchTurn(spec, ctx, ca, site, encoded, { seconds, warmup, threads, connections, h2, h2Streams, extra, pinned }, { round: i + 1, position: p + 1 }, note);
      const server = results.servers[spec.name];
      if (server) {
        server.rounds.push(turn);
        server.ok &&= turn.ok;
      }
    }
  }

  const berth = specs.find((s) => s.name === 'berth');
  if (publishes > 0 && berth && results.servers.berth?.ok) await publishTurn(berth, ctx, ca, publishes, results, note);
  // The log holds every start of the run: read once, at the end. (The logging start's log is all access lines.)
  for (const spec of specs.filter((s) => isBerth(s.name))) {
    for (const file of [`${spec.name}.log`, `${spec.name}-pinned.log`]) {
      for (const n of berthLogNotes(spec.label, join(logDir, file))) {
        note(n);
        log(n);
      }
    }
  }

  results.finishedAt = new Date().toISOString();
  const complete = ALL.every((n) => results.servers[n]?.ok) && (!baseline || results.servers['berth-before']?.ok === true);
  const toDoc = rounds >= DOC_MIN_ROUNDS && (writeDoc === '1' || (writeDoc === 'auto' && complete));
  // The run the document reports keeps its raw results under a name that is committed with it.
  const section = saveResults(root, toDoc ? 'serving-' : '', results, (rel) => renderSection(results, rel, toDoc), log);
  if (toDoc) {
    updateBenchmarksMd(join(root, 'BENCHMARKS.md'), section);
    log('BENCHMARKS.md: "Static serving" section rewritten; commit it with its results file');
  } else {
    const why =
      writeDoc === '0'
        ? 'BENCH_WRITE_DOC=0'
        : rounds < DOC_MIN_ROUNDS
          ? `${rounds} round${rounds === 1 ? '' : 's'}; it reports the median of at least ${DOC_MIN_ROUNDS}`
          : 'not every server was measured in every round';
    log(`BENCHMARKS.md left as it is (${why})`);
  }
  const publishBad = Object.values(results.publishUnderLoad).some(
    (p) => 'error' in p || p.failed > 0 || p.mixed > 0 || p.publishesFailed > 0 || !p.finalVersionServed,
  );
  // Slow numbers never fail the benchmark; a server that could not run or a
  // publish that served a wrong response does.
  process.exitCode = specs.every((s) => results.servers[s.name]?.ok) && !publishBad ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
