/**
 * Request latency while the control plane deploys a 20,000-file site:
 * `berth serve` with a small published site under open-loop load, and a
 * large site deployed from a real git repository through its webhook. Each
 * round has one run with a deploy and one without (alternating which goes
 * first). Writes bench/results/deploy-latency-<timestamp>.json and, after 3
 * or more rounds that all worked, the "Latency during a deploy" section of
 * BENCHMARKS.md. Started by bench/latency.sh (`npm run bench:latency`).
 *
 * Settings (environment):
 *   BENCH_LATENCY_ROUNDS=3         rounds (a deploy run and a run without each)
 *   BENCH_LATENCY_FILES=20000      files in the deployed site
 *   BENCH_LATENCY_RATE=1000        requests per second of the open-loop load
 *   BENCH_LATENCY_CONNECTIONS=16   keep-alive connections the load may use
 *   BENCH_LATENCY_TIMEOUT=600      seconds a deploy may take before the run fails
 *   BENCH_WRITE_DOC=auto           1/0; auto = after 3 or more rounds that all worked
 *   BENCH_TMP                      work dir (bench/latency.sh makes one); default: a new temp dir
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { treeTicks } from './lib/cpu-time.ts';
import { renderLatencySection, updateLatencySection, type LatencyResults, type LatencyRound, type LatencyRun, type LatencyRunKind } from './lib/deploy-latency-report.ts';
import { BenchRepo, fileContent, filePath, indexHtml, markerText, type CommitSpec } from './lib/git-site.ts';
import { genericPush, post } from './lib/hooks.ts';
import { isIdle, type IdleSample } from './lib/idle.ts';
import { latenciesDueWithin, summarizeLatency } from './lib/latency-stats.ts';
import { describeMachine } from './lib/machine.ts';
import type { OpenLoopResult, OpenLoopSettings } from './lib/open-loop-client.ts';
import { cmdline, installExitHandlers, killAllNow, run, setPidDir, startTracked, stopTracked, trackTransient, waitForPorts, waitPortsFree, type Tracked } from './lib/proc.ts';
import { saveResults } from './lib/results-files.ts';
import { waitBerthReady } from './lib/servers.ts';
import { rotated } from './lib/rounds.ts';
import { envInt, progressLog } from './lib/settings.ts';
import { waitForMarker } from './lib/watch.ts';
import { writeSite } from './site/generate.ts';

const log = progressLog('bench:latency');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PORT = 18390;
const SECRET = 'bench-latency-secret-0123456789abcdef';
/** The small site answers to this name; the deployed one to 127.0.0.1 (so the marker can be polled by address). */
const SMALL_HOST = 'localhost';
const PATH = '/style.css';
const LEAD_SECONDS = 2;
const TAIL_SECONDS = 1;
const DOC_MIN_ROUNDS = 3;

function berthToml(dataDir: string, repo: string): string {
  return `# Written by bench/deploy-latency.ts for one run.
data_dir = ${JSON.stringify(dataDir)}

[server]
host = "127.0.0.1"
http_port = ${PORT}
https_port = false
access_log = false
workers = "auto"
shutdown_timeout = "3s"

[acme]
directory = "off"

[[sites]]
name = "small"
domains = ["${SMALL_HOST}"]

[[sites]]
name = "big"
domains = ["127.0.0.1"]
repo = ${JSON.stringify(repo)}
branch = "main"

[sites.webhook]
forge = "generic"
secret = "${SECRET}"
`;
}

/** Every file of the site at revision `rev`, and the index page with `marker`. */
function fullCommit(files: number, rev: number, marker: string): CommitSpec {
  const list: Array<[string, string]> = [['index.html', indexHtml(marker, files)]];
  for (let i = 0; i < files; i++) list.push([filePath(i), fileContent(i, rev)]);
  return { files: list, message: `revision ${rev}: every file, marker ${marker}` };
}

/** Waits until the server's tree uses under 5 % of a core for 2 s (a deploy's tail: records, pruning). */
async function waitServerIdle(pid: number, maxSeconds: number): Promise<boolean> {
  const t0 = performance.now();
  const samples: IdleSample[] = [];
  while (performance.now() - t0 < maxSeconds * 1000) {
    samples.push({ atMs: performance.now() - t0, rssKiB: 0, cpuTicks: [...treeTicks(pid).values()].reduce((a, b) => a + b, 0) });
    if (isIdle(samples, { windowMs: 2000, maxRssChangeKiB: Infinity, maxCpuShare: 0.05 })) return true;
    await sleep(250);
  }
  return false;
}

/** Starts the open-loop client; `stop()` ends the load and resolves with its results. */
function startLoad(settings: OpenLoopSettings): { stop: () => Promise<OpenLoopResult> } {
  const child = fork(join(root, 'bench/lib/open-loop-client.ts'), [], {
    env: { ...process.env, BENCH_OPEN_LOOP: JSON.stringify(settings) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  trackTransient(child);
  const result = new Promise<OpenLoopResult>((resolveResult, reject) => {
    child.once('message', (m) => resolveResult(m as OpenLoopResult));
    child.once('exit', (code) => reject(new Error(`the load client exited (${code}) without results`)));
  });
  return {
    async stop() {
      if (child.connected) child.send('stop');
      return result;
    },
  };
}

function runOf(kind: LatencyRunKind, load: OpenLoopResult, fromEpochMs: number, toEpochMs: number): LatencyRun {
  const from = fromEpochMs - load.startedAtMs;
  const to = toEpochMs - load.startedAtMs;
  return {
    kind,
    ok: true,
    windowFromMs: Math.round(from),
    windowMs: Math.round(to - from),
    summary: summarizeLatency(latenciesDueWithin(load.dueMs, load.latencyMs, from, to)),
    sent: load.sent,
    non200: load.non200,
    failed: load.failed,
    unanswered: load.unanswered,
    maxSendLagMs: Math.round(load.maxSendLagMs),
  };
}

interface Ctx {
  server: Tracked;
  repo: BenchRepo;
  files: number;
  load: OpenLoopSettings;
  timeoutSeconds: number;
}

/** Commits revision `rev`, sends its webhook and waits for its index page to be served; the times are epoch ms. */
async function deploy(c: Ctx, rev: number): Promise<{ status: number; triggerAt: number; liveAt: number }> {
  const marker = `rev-${rev}-${Date.now().toString(36)}`;
  const [sha] = await c.repo.commit([fullCommit(c.files, rev, marker)]);
  return trigger(c, sha as string, marker, rev);
}

async function trigger(c: Ctx, sha: string, marker: string, rev: number): Promise<{ status: number; triggerAt: number; liveAt: number }> {
  const triggerAt = Date.now();
  const reply = await post(genericPush(`http://127.0.0.1:${PORT}/_berth/hooks/big`, SECRET, { sha, delivery: `latency-${rev}-${sha.slice(0, 8)}` }));
  if (reply.status < 200 || reply.status > 299) throw new Error(`the webhook answered ${reply.status}: ${reply.error ?? reply.body.slice(0, 200)}`);
  const seen = await waitForMarker(`http://127.0.0.1:${PORT}/`, markerText(marker), { intervalMs: 50, timeoutMs: c.timeoutSeconds * 1000 });
  if (seen.at === undefined) throw new Error(`revision ${rev} was not served within ${c.timeoutSeconds} s (last status ${seen.lastStatus})`);
  return { status: reply.status, triggerAt, liveAt: Date.now() };
}

/** A run with a deploy of revision `rev`: load, webhook after the lead, until served, then the tail. */
async function deployRun(c: Ctx, rev: number): Promise<LatencyRun> {
  // The commit is made before the load starts: only Berth's work is measured.
  const marker = `rev-${rev}-${Date.now().toString(36)}`;
  const [sha] = await c.repo.commit([fullCommit(c.files, rev, marker)]);
  await waitServerIdle(c.server.pid, 60);
  const load = startLoad(c.load);
  let times: { status: number; triggerAt: number; liveAt: number } | undefined;
  let error: string | undefined;
  try {
    await sleep(LEAD_SECONDS * 1000);
    times = await trigger(c, sha as string, marker, rev);
    await sleep(TAIL_SECONDS * 1000);
  } catch (err) {
    error = (err as Error).message;
  }
  const result = await load.stop();
  if (!times) return { ...runOf('deploy', result, result.startedAtMs, result.startedAtMs), ok: false, error, summary: undefined };
  return { ...runOf('deploy', result, times.triggerAt, times.liveAt), webhookStatus: times.status, triggerToLiveMs: times.liveAt - times.triggerAt };
}

/** A run without a deploy, measuring a window of `windowMs` after the same lead. */
async function baselineRun(c: Ctx, windowMs: number): Promise<LatencyRun> {
  await waitServerIdle(c.server.pid, 60);
  const load = startLoad(c.load);
  await sleep(LEAD_SECONDS * 1000);
  const from = Date.now();
  await sleep(windowMs);
  const to = Date.now();
  await sleep(TAIL_SECONDS * 1000);
  return runOf('baseline', await load.stop(), from, to);
}

async function main(): Promise<void> {
  installExitHandlers();
  const rounds = envInt('BENCH_LATENCY_ROUNDS', 3, 1, 50);
  const files = envInt('BENCH_LATENCY_FILES', 20_000, 10, 500_000);
  const rate = envInt('BENCH_LATENCY_RATE', 1000, 1, 100_000);
  const connections = envInt('BENCH_LATENCY_CONNECTIONS', 16, 1, 1000);
  const timeoutSeconds = envInt('BENCH_LATENCY_TIMEOUT', 600, 10, 3600);
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  if (writeDoc === '1' && rounds < DOC_MIN_ROUNDS) throw new Error(`BENCH_WRITE_DOC=1 with BENCH_LATENCY_ROUNDS=${rounds}: the section reports the median of at least ${DOC_MIN_ROUNDS}`);

  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-latency-'));
  mkdirSync(tmp, { recursive: true });
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  setPidDir(tmp);
  log(`work dir ${tmp}`);

  const given = ['BENCH_LATENCY_ROUNDS', 'BENCH_LATENCY_FILES', 'BENCH_LATENCY_RATE', 'BENCH_LATENCY_CONNECTIONS'].filter((n) => process.env[n]).map((n) => `${n}=${process.env[n]}`);
  const results: LatencyResults = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: [...given, 'npm run bench:latency'].join(' '),
    settings: { rounds, files, rate, connections, leadSeconds: LEAD_SECONDS, workers: '"auto"', path: PATH },
    machine: await describeMachine(root, [['git', 'git', ['--version'], /git version (\S+)/]]),
    rounds: [],
    notes: [],
  };

  const repo = await BenchRepo.create(join(tmp, 'repo.git'), join(tmp, 'scratch'));
  const dataDir = join(tmp, 'data');
  mkdirSync(dataDir, { recursive: true });
  const config = join(tmp, 'berth.toml');
  writeFileSync(config, berthToml(dataDir, repo.bare));
  const cli = join(root, 'src/cli/main.ts');
  const smallDir = join(tmp, 'small');
  writeSite(smallDir, 'a');
  const pub = await run(process.execPath, [cli, 'publish', smallDir, '--site', 'small', '--config', config], { cwd: root, timeoutMs: 60_000 });
  if (pub.code !== 0) throw new Error(`berth publish failed (exit ${pub.code}):\n${pub.stderr || pub.stdout}`);
  if (!(await waitPortsFree([PORT], 10_000))) throw new Error(`port ${PORT} is still taken; is an old benchmark still running?`);
  const server = startTracked('berth-latency', process.execPath, [cli, 'serve', '--config', config], logDir, { cwd: root });
  await waitForPorts(server, [PORT], 30_000);
  if (!cmdline(server.pid).includes('serve')) throw new Error(`pid ${server.pid} is not berth serve`);
  await waitBerthReady(PORT);
  const c: Ctx = {
    server,
    repo,
    files,
    timeoutSeconds,
    load: { url: `http://127.0.0.1:${PORT}${PATH}`, host: SMALL_HOST, rate, connections, maxSeconds: timeoutSeconds + 60, drainSeconds: 10 },
  };

  try {
    log(`first deploy of the ${files}-file site (a clone; not measured)`);
    const first = await deploy(c, 0);
    results.initialDeployMs = first.liveAt - first.triggerAt;
    log(`first deploy served after ${(results.initialDeployMs / 1000).toFixed(1)} s`);
    let lastDeployMs = results.initialDeployMs;
    for (let i = 0; i < rounds; i++) {
      const order = rotated<LatencyRunKind>(['baseline', 'deploy'], i);
      const round: LatencyRound = { round: i + 1, order, runs: {} };
      for (const kind of order) {
        try {
          const r = kind === 'deploy' ? await deployRun(c, i + 1) : await baselineRun(c, Math.max(lastDeployMs, 1000));
          if (kind === 'deploy' && r.triggerToLiveMs !== undefined) lastDeployMs = r.triggerToLiveMs;
          round.runs[kind] = r;
          const s = r.summary;
          log(
            `round ${i + 1}, ${kind === 'deploy' ? 'deploy' : 'no deploy'}: ` +
              (r.ok && s
                ? `${s.count} requests in ${(r.windowMs / 1000).toFixed(1)} s, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms, max ${s.maxMs.toFixed(1)} ms` +
                  `${r.triggerToLiveMs !== undefined ? `, webhook to served ${(r.triggerToLiveMs / 1000).toFixed(1)} s` : ''}, client lag at worst ${r.maxSendLagMs} ms`
                : `FAILED: ${r.error ?? 'no requests measured'}`),
          );
        } catch (err) {
          round.runs[kind] = { kind, ok: false, error: (err as Error).message, windowFromMs: 0, windowMs: 0, sent: 0, non200: 0, failed: 0, unanswered: 0, maxSendLagMs: 0 };
          log(`round ${i + 1}, ${kind}: FAILED: ${(err as Error).message}`);
        }
      }
      results.rounds.push(round);
    }
  } finally {
    const work = join(dataDir, 'sites', 'big', 'work');
    try {
      if (readdirSync(work).length > 0) results.notes.push('a deploy was still working when the run ended');
    } catch {
      // no work dir: nothing in progress
    }
    await stopTracked(server);
    killAllNow();
  }
  for (const x of results.rounds) {
    for (const r of Object.values(x.runs)) {
      if (r.maxSendLagMs > 20) results.notes.push(`round ${x.round}, ${r.kind === 'deploy' ? 'deploy' : 'no deploy'}: the load client's own send loop fell up to ${r.maxSendLagMs} ms behind its schedule (its requests still count from their due time)`);
    }
  }
  results.finishedAt = new Date().toISOString();
  const allOk = results.rounds.every((x) => Object.values(x.runs).every((r) => r.ok)) && results.rounds.length === rounds;
  const toDoc = rounds >= DOC_MIN_ROUNDS && (writeDoc === '1' || (writeDoc === 'auto' && allOk));
  const section = saveResults(root, toDoc ? 'deploy-latency-' : 'deploy-latency-trial-', results, (rel) => renderLatencySection(results, rel, toDoc), log);
  if (toDoc) {
    updateLatencySection(join(root, 'BENCHMARKS.md'), section);
    log('BENCHMARKS.md: "Latency during a deploy" section rewritten; commit it with its results file');
  } else {
    log(`BENCHMARKS.md left as it is (${writeDoc === '0' ? 'BENCH_WRITE_DOC=0' : rounds < DOC_MIN_ROUNDS ? `${rounds} round${rounds === 1 ? '' : 's'}; it reports the median of at least ${DOC_MIN_ROUNDS}` : 'a run failed'})`);
  }
  process.exitCode = allOk ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`bench:latency: ${(err as Error).stack ?? String(err)}`);
  killAllNow();
  process.exitCode = 1;
});
