/**
 * Idle memory of `berth serve`: one small site, `workers = "auto"`, started
 * afresh in each round; after some requests it waits until the process tree
 * is idle, then reads VmRSS and PSS of every process and names its role
 * (supervisor, control plane, serving worker); then the same for the bare
 * Node server (bench/bare-node-server.ts), the reference. Writes
 * bench/results/idle-rss-<timestamp>.json and, after 3 or more rounds that
 * all worked, the "Idle memory" section of BENCHMARKS.md. Started by
 * bench/rss.sh (`npm run bench:rss`).
 *
 * Settings (environment):
 *   BENCH_RSS_ROUNDS=3      starts of the server; BENCHMARKS.md is only written with 3 or more
 *   BENCH_RSS_SETTLE=60     seconds to wait at most for the tree to go idle
 *   BENCH_RSS_REQUESTS=200  requests before waiting (over new connections, half over HTTPS)
 *   BENCH_WRITE_DOC=auto    1/0; auto = after 3 or more rounds that all worked
 *   BENCH_TMP               work dir (bench/rss.sh makes one); default: a new temp dir
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from './lib/client.ts';
import { renderRssSection, updateRssSection, type BareReference, type MeasuredProcess, type RssResults, type RssRound } from './lib/idle-rss-report.ts';
import { describeMachine } from './lib/machine.ts';
import { cmdline, installExitHandlers, killAllNow, processTree, setPidDir, startTracked, stopTracked, waitForPorts, waitPortsFree } from './lib/proc.ts';
import { processMemory } from './lib/proc-memory.ts';
import { saveResults } from './lib/results-files.ts';
import { readTreeMemory, waitTreeIdle } from './lib/tree-memory.ts';
import { berthConfig, berthConfigPath, berthPublish, makeCert, waitBerthReady, type BenchContext } from './lib/servers.ts';
import { envInt, progressLog } from './lib/settings.ts';
import { writeSite } from './site/generate.ts';

const log = progressLog('bench:rss');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HTTP_PORT = 18090;
const HTTPS_PORT = 18453;
const DOC_MIN_ROUNDS = 3;

/**
 * `count` requests, half over HTTP and half over HTTPS, each on a new
 * connection (no agent) so the kernel spreads them over the workers.
 * Returns the first answer that was not 200, or undefined.
 */
async function sendRequests(count: number, ca: string): Promise<string | undefined> {
  for (let i = 0; i < count; i++) {
    const url = i % 2 === 0 ? `http://127.0.0.1:${HTTP_PORT}/index.html` : `https://127.0.0.1:${HTTPS_PORT}/style.css`;
    const r = await get(url, { ca, headers: { connection: 'close' } });
    if (r.status !== 200) return `${url} answered ${r.status}`;
  }
  return undefined;
}

async function measureRound(ctx: BenchContext, round: number, requests: number, settleSeconds: number, ca: string): Promise<RssRound> {
  const result: RssRound = { round, ok: false, idle: false, idleAfterMs: 0, processes: [] };
  if (!(await waitPortsFree([HTTP_PORT, HTTPS_PORT], 10_000))) {
    return { ...result, error: `port ${HTTP_PORT} or ${HTTPS_PORT} is still taken after 10 s` };
  }
  const proc = startTracked(`berth-rss-${round}`, ctx.node, [join(ctx.root, 'src/cli/main.ts'), 'serve', '--config', berthConfigPath(ctx, 'berth')], ctx.logDir, {
    cwd: ctx.root,
  });
  try {
    await waitForPorts(proc, [HTTP_PORT, HTTPS_PORT], 30_000);
    const cl = cmdline(proc.pid);
    if (!cl.includes('main.ts') || !cl.includes('serve')) throw new Error(`pid ${proc.pid} is not berth serve: ${cl}`);
    await waitBerthReady(HTTP_PORT);
    const refused = await sendRequests(requests, ca);
    if (refused !== undefined) throw new Error(refused);
    const settled = await waitTreeIdle(proc.pid, settleSeconds);
    result.idle = settled.idle;
    result.idleAfterMs = Math.round(settled.afterMs);
    for (const p of readTreeMemory(proc.pid, [HTTP_PORT, HTTPS_PORT])) {
      const m: MeasuredProcess = { pid: p.pid, role: p.role, comm: p.comm, rssKiB: p.rssKiB, pssKiB: p.pssKiB, pssAnonKiB: p.pssAnonKiB, pssFileKiB: p.pssFileKiB };
      result.processes.push(m);
    }
    result.ok = true;
    const line = result.processes.map((p) => `${p.role} ${p.pid}: RSS ${(p.rssKiB / 1024).toFixed(1)} MiB, PSS ${(p.pssKiB / 1024).toFixed(1)} MiB`).join('; ');
    log(`round ${round}: ${settled.idle ? `idle after ${(settled.afterMs / 1000).toFixed(1)} s` : `not idle after ${settleSeconds} s`}; ${line}`);
  } catch (err) {
    result.error = (err as Error).message;
    log(`round ${round}: FAILED: ${result.error}`);
  } finally {
    await stopTracked(proc);
    killAllNow();
  }
  if (result.ok) {
    const bare = await measureBare(ctx, round, requests, settleSeconds, ca);
    if (typeof bare === 'string') log(`round ${round}: the bare Node server (reference) was not measured: ${bare}`);
    else result.bare = bare;
  }
  return result;
}

/**
 * The reference: the bare Node server (bench/bare-node-server.ts, one
 * process per core, each listening with reusePort) on the same site, ports
 * and requests, with Node's compile cache as Berth's children have it. Its
 * workers' memory is the least a Node process serving HTTP/1.1, TLS and
 * HTTP/2 holds here. Returns why it failed instead of throwing: Berth's
 * figures stand without it.
 */
async function measureBare(ctx: BenchContext, round: number, requests: number, settleSeconds: number, ca: string): Promise<BareReference | string> {
  if (!(await waitPortsFree([HTTP_PORT, HTTPS_PORT], 10_000))) return `port ${HTTP_PORT} or ${HTTPS_PORT} is still taken after 10 s`;
  const args = [join(ctx.root, 'bench/bare-node-server.ts'), '--dir', ctx.staticDir, '--http-port', String(HTTP_PORT), '--https-port', String(HTTPS_PORT), '--cert', ctx.certFile, '--key', ctx.keyFile];
  const proc = startTracked(`bare-rss-${round}`, ctx.node, args, ctx.logDir, { cwd: ctx.root, env: { ...process.env, NODE_COMPILE_CACHE: bareCompileCache(ctx) } });
  try {
    await waitForPorts(proc, [HTTP_PORT, HTTPS_PORT], 30_000);
    const refused = await sendRequests(requests, ca);
    if (refused !== undefined) return refused;
    await waitTreeIdle(proc.pid, settleSeconds);
    const workers = processTree(proc.pid).filter((pid) => pid !== proc.pid).map((pid) => processMemory(pid)).filter((m) => m !== undefined);
    if (workers.length === 0) return 'it started no worker process';
    const line = workers.map((m) => `RSS ${(m.rssKiB / 1024).toFixed(1)} MiB, PSS ${(m.pssKiB / 1024).toFixed(1)} MiB`).join('; ');
    log(`round ${round}: bare Node workers: ${line}`);
    return { workerRssKiB: workers.map((m) => m.rssKiB), workerPssKiB: workers.map((m) => m.pssKiB) };
  } catch (err) {
    return (err as Error).message;
  } finally {
    await stopTracked(proc);
    killAllNow();
  }
}

/** The bare server's own compile cache in the work dir, filled by an unmeasured start (see main). */
function bareCompileCache(ctx: BenchContext): string {
  return join(ctx.tmp, 'bare-compile-cache');
}

async function main(): Promise<void> {
  installExitHandlers();
  const rounds = envInt('BENCH_RSS_ROUNDS', 3, 1, 50);
  const settleSeconds = envInt('BENCH_RSS_SETTLE', 60, 5, 600);
  const requests = envInt('BENCH_RSS_REQUESTS', 200, 0, 100_000);
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  if (writeDoc === '1' && rounds < DOC_MIN_ROUNDS) throw new Error(`BENCH_WRITE_DOC=1 with BENCH_RSS_ROUNDS=${rounds}: the section reports the median of at least ${DOC_MIN_ROUNDS}`);

  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-rss-'));
  mkdirSync(tmp, { recursive: true });
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  setPidDir(tmp);
  const siteDir = join(tmp, 'site');
  writeSite(siteDir, 'a');
  const { certFile, keyFile } = await makeCert(tmp);
  const ca = readFileSync(certFile, 'utf8');
  const ctx: BenchContext = { root, tmp, siteDir, staticDir: siteDir, certFile, keyFile, logDir, node: process.execPath };
  mkdirSync(join(tmp, 'berth'), { recursive: true });
  writeFileSync(berthConfigPath(ctx, 'berth'), berthConfig(ctx, 'berth', HTTP_PORT, HTTPS_PORT));
  const pub = await berthPublish(ctx, 'berth', siteDir);
  if (pub.code !== 0) throw new Error(`berth publish failed (exit ${pub.code}):\n${pub.stderr || pub.stdout}`);

  const given = ['BENCH_RSS_ROUNDS', 'BENCH_RSS_SETTLE', 'BENCH_RSS_REQUESTS'].filter((n) => process.env[n]).map((n) => `${n}=${process.env[n]}`);
  const results: RssResults = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: [...given, 'npm run bench:rss'].join(' '),
    settings: { rounds, settleSeconds, requests, workers: '"auto"' },
    machine: await describeMachine(root, []),
    rounds: [],
  };
  // An unmeasured start of each fills Node's compile caches, so every round measures a start after a restart, as a server runs.
  log('warm-up start (not measured)');
  await measureRound(ctx, 0, 0, 5, ca);
  for (let i = 1; i <= rounds; i++) results.rounds.push(await measureRound(ctx, i, requests, settleSeconds, ca));
  results.finishedAt = new Date().toISOString();

  const allOk = results.rounds.every((x) => x.ok);
  const toDoc = rounds >= DOC_MIN_ROUNDS && (writeDoc === '1' || (writeDoc === 'auto' && allOk));
  const section = saveResults(root, toDoc ? 'idle-rss-' : 'idle-rss-trial-', results, (rel) => renderRssSection(results, rel, toDoc), log);
  if (toDoc) {
    updateRssSection(join(root, 'BENCHMARKS.md'), section);
    log('BENCHMARKS.md: "Idle memory" section rewritten; commit it with its results file');
  } else {
    log(`BENCHMARKS.md left as it is (${writeDoc === '0' ? 'BENCH_WRITE_DOC=0' : rounds < DOC_MIN_ROUNDS ? `${rounds} round${rounds === 1 ? '' : 's'}; it reports the median of at least ${DOC_MIN_ROUNDS}` : 'a round failed'})`);
  }
  process.exitCode = allOk ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`bench:rss: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
