/**
 * The push-to-deploy benchmark. Three parts, each comparing Berth with the
 * traditional stack in the same run, the two taking turns round by round:
 *
 * 1. Push to live, minus the build: a signed webhook for a commit that
 *    changes a handful of files, timed from the POST being sent until
 *    `GET /` returns the commit's marker; sites of 1,000 and 100,000 files.
 *    The traditional side is `git pull` + `cp -r` into a web root served by
 *    nginx, from its own copy of the same history. Then, with the site live,
 *    the memory of every process of `berth serve` by role (and again after
 *    one GET of every file), and restarts: Berth on the same data dir and
 *    nginx on the same web root, timed from the spawn to `/` answering.
 * 2. Publish to served: `berth publish` of a folder (1,000 and 20,000 files)
 *    to a running Berth, timed from the command's exit to `/` serving the new
 *    marker; nginx after a `cp -r` of the same folder is the floor.
 * 3. Flood: 1,000 signed GitHub pushes (distinct deliveries and commits) in
 *    ten seconds to a site whose build takes one second: how many builds run,
 *    memory, answers, the final state. The traditional side is adnanh/webhook
 *    running a fetch + checkout + build + copy script for every push.
 *
 * Writes bench/results/deploy-<timestamp>.json and .md, and the "Deploys"
 * section of BENCHMARKS.md. Started by bench/deploy.sh. Slow numbers never
 * fail it; a contender that cannot be measured (or Berth ending on the wrong
 * commit) does.
 *
 * Settings (environment):
 *   BENCH_DEPLOY_PARTS=push,publish,flood  which parts to run
 *   BENCH_DEPLOY_SIZES=1000,100000  site sizes (files) for part 1
 *   BENCH_DEPLOY_PUSHES=5,3         measured pushes (rounds) per size, in the same order
 *   BENCH_DEPLOY_CHANGED=10         files changed per push or publish (plus index.html)
 *   BENCH_DEPLOY_RESTARTS=3         restarts of Berth and nginx after the pushes; 0 skips them
 *   BENCH_DEPLOY_RSS_SWEEP=1        1/0: read memory again after one GET of every file
 *   BENCH_DEPLOY_SETTLE=30          seconds to wait at most for Berth's tree to go idle before a memory reading
 *   BENCH_PUBLISH_SIZES=1000,20000  folder sizes (files) for part 2
 *   BENCH_PUBLISH_ROUNDS=5          publishes per size
 *   BENCH_FLOOD_PUSHES=1000         pushes in the flood
 *   BENCH_FLOOD_RATE=100            pushes per second
 *   BENCH_FLOOD_BUILD=1             seconds the flood site's build takes (sleep)
 *   BENCH_WRITE_DOC=auto            1/0; auto = after a complete run with the default settings
 *   BENCH_TMP                       work dir (bench/deploy.sh makes one)
 */
import { saveResults } from './lib/results-files.ts';
import { envInt, envList, progressLog } from './lib/settings.ts';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchRepo, filePath, gitEnv, initialCommit, markerText, pushCommit } from './lib/git-site.ts';
import { flood, genericPush, githubPush, post, type HookRequest } from './lib/hooks.ts';
import { median, rotated } from './lib/rounds.ts';
import { installExitHandlers, isRunning, killAllNow, processTree, procKiB, run, setPidDir, tail, waitPortsFree } from './lib/proc.ts';
import {
  floodScript,
  hooksJson,
  PORTS,
  pullCopyScript,
  spawnBerth,
  spawnNginx,
  startBerth,
  startNginx,
  startWebhook,
  writeScript,
  type BerthRunning,
  type DeployBenchContext,
  type DeployRecordLite,
  type PlainRunning,
} from './lib/deploy-servers.ts';
import {
  renderDeploySection,
  updateDeploysSection,
  type DeployResults,
  type FloodSide,
  type PublishPart,
  type PublishSample,
  type PushPart,
  type PushSample,
  type RestartPart,
  type ScriptSample,
  type StartSample,
} from './lib/deploy-report.ts';
import { readTreeMemory, waitTreeIdle, type ProcessReading } from './lib/tree-memory.ts';
import { bodyOf, readLines, requestAll, sampleRss, waitForEveryAnswer, waitForMarker } from './lib/watch.ts';
import { describeMachine } from './lib/machine.ts';

const log = progressLog('deploy-bench');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'bench-webhook-secret-7f3a9c';
const POLL_MS = 5;
/** Answers in a row, each on a new connection, that must show a new release before every worker counts as serving it. */
const EVERY_STREAK = 10;
/** Longest wait for Berth's tree to go quiet after its turn, so the other side's turn does not share the cores with its leftovers. */
const QUIET_SECONDS = 15;
/** Berth's warnings about how the benchmark runs it (as root, with no "berth" account, on a new data dir), not about what it measures. */
const SETUP_WARNINGS = ['Berth runs as root and there is no account', 'made paths under data_dir private'];

async function machine(): Promise<Record<string, string>> {
  return describeMachine(root, [
    ['git', 'git', ['--version'], /git version (\S+)/],
    ['nginx', 'nginx', ['-v'], /nginx\/(\S+)/],
    ['webhook', 'webhook', ['-version'], /webhook version (\S+)/],
  ]);
}

/**
 * Warnings, errors and non-JSON lines in a Berth log, as a short note;
 * undefined when clean. `expected` lists messages the benchmark causes on
 * purpose (the forged webhook; no release before the first deploy); the
 * warnings every run as root on a fresh data dir gives are left out too.
 */
function berthLogNote(label: string, logFile: string, expected: string[] = []): string | undefined {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return undefined;
  }
  const bad: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const j = JSON.parse(line) as { level?: unknown; msg?: unknown };
      const msg = String(j.msg);
      if ([...expected, ...SETUP_WARNINGS].some((e) => msg.startsWith(e))) continue;
      if (j.level === 'warn' || j.level === 'error' || j.level === 'fatal' || (typeof j.level === 'number' && j.level >= 40)) bad.push(`${String(j.level)}: ${msg}`);
    } catch {
      bad.push(line.trim());
    }
  }
  if (bad.length === 0) return undefined;
  return `${label}: the Berth log has ${bad.length} warning/error line(s), the first: ${bad.slice(0, 3).map((b) => `\`${b.slice(0, 200)}\``).join('; ')}`;
}

async function waitUntil(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (cond()) return true;
    await sleep(stepMs);
  }
  return cond();
}

/**
 * One push through Berth: send the signed webhook, poll `/` until the
 * marker shows, then until every answer on new connections (any worker)
 * shows it, then wait for the deploy's clean-up to end (the work dir is
 * removed after the release goes live).
 */
async function berthPush(berth: BerthRunning, site: string, req: HookRequest, marker: string, timeoutMs: number): Promise<PushSample> {
  const t0 = performance.now();
  const reply = post(req, 30_000);
  const seen = await waitForMarker(berth.url('/'), markerText(marker), { intervalMs: POLL_MS, timeoutMs });
  const r = await reply;
  const sample: PushSample = {
    marker,
    delivery: deliveryOf(req),
    hookStatus: r.status,
    hookMs: r.ms,
    liveMs: seen.at === undefined ? undefined : seen.at - t0,
    polls: seen.polls,
  };
  if (seen.at !== undefined) {
    const every = await waitForEveryAnswer(berth.url('/'), markerText(marker), { streak: EVERY_STREAK, intervalMs: 2, timeoutMs });
    sample.everyMs = every === undefined ? undefined : every - t0;
    const idle = await waitUntil(() => berth.idle(site), 120_000);
    sample.cleanupMs = idle ? performance.now() - seen.at : undefined;
  }
  return sample;
}

function defined(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined);
}

function deliveryOf(req: HookRequest): string {
  const fromHeader = req.headers['x-github-delivery'];
  if (fromHeader) return fromHeader;
  return (JSON.parse(req.body) as { delivery?: string }).delivery ?? '';
}

function attachRecords(samples: PushSample[], records: DeployRecordLite[]): void {
  for (const s of samples) {
    const rec = records.find((d) => d.delivery === s.delivery);
    if (!rec) continue;
    s.deploy = rec.id;
    s.state = rec.state;
    s.phases = rec.phases;
    s.buildSource = rec.buildSource;
    if (rec.errorCode) s.error = `${rec.errorCode}: ${rec.errorMessage ?? ''}`;
  }
}

interface PushOptions {
  files: number;
  pushes: number;
  changed: number;
  /** Restarts of Berth (and nginx) after the pushes; 0 for none. */
  restarts: number;
  /** Read memory again after one GET of every file. */
  sweep: boolean;
  settleSeconds: number;
}

/** One push through the script: commit already in its repository; run `git pull` + `cp -r`, poll nginx for the marker. */
async function scriptPush(nginx: PlainRunning, script: string, checkout: string, webRoot: string, marker: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ScriptSample> {
  const start = performance.now();
  const scriptRun = run('sh', [script, checkout, webRoot], { env, timeoutMs });
  const seen = await waitForMarker(nginx.url('/'), markerText(marker), { intervalMs: POLL_MS, timeoutMs });
  const r = await scriptRun;
  const sample: ScriptSample = { marker, scriptMs: r.ms, liveMs: seen.at === undefined ? undefined : seen.at - start, ok: r.code === 0, polls: seen.polls };
  if (r.code !== 0) sample.error = `the script exited ${r.code}: ${r.stderr.trim().slice(0, 200)}`;
  return sample;
}

/** Memory of every process of Berth's tree once it is idle. */
async function berthMemory(b: BerthRunning, settleSeconds: number): Promise<{ idle: boolean; readings: ProcessReading[] }> {
  const settled = await waitTreeIdle(b.proc.pid, settleSeconds);
  return { idle: settled.idle, readings: readTreeMemory(b.proc.pid, [b.port]) };
}

const describeMemory = (readings: ProcessReading[]): string =>
  readings.map((p) => `${p.role} ${p.pid}: RSS ${(p.rssKiB / 1024).toFixed(1)} MiB, PSS ${(p.pssKiB / 1024).toFixed(1)} MiB`).join('; ');

async function pushPart(ctx: DeployBenchContext, o: PushOptions, notes: string[]): Promise<PushPart> {
  const { files, pushes, changed } = o;
  const site = `files-${files}`;
  // Bounds, not expectations: a push that takes longer fails the run.
  const timeoutMs = files >= 50_000 ? 240_000 : 60_000;
  const firstTimeoutMs = files >= 50_000 ? 480_000 : 120_000;
  const part: PushPart = { files, pushes, changed, order: [], berth: { samples: [] }, traditional: { samples: [] } };
  const started = performance.now();
  const repo = await BenchRepo.create(join(ctx.tmp, 'repos', `${site}.git`), join(ctx.tmp, 'scratch', site));
  const [base] = await repo.commit([initialCommit(files, `${site}-base`)]);
  // The script's own copy of the history: the same commits reach both sides, and neither pulls the other's pushes.
  const scriptRepo = await repo.copy(join(ctx.tmp, 'repos', `${site}-script.git`), join(ctx.tmp, 'scratch', `${site}-script`));
  part.repoSeconds = (performance.now() - started) / 1000;
  log(`${site}: repository of ${files} files committed in ${part.repoSeconds.toFixed(1)} s (${base?.slice(0, 12)})`);

  const dir = join(ctx.tmp, `traditional-${site}`);
  const checkout = join(dir, 'checkout');
  const webRoot = join(dir, 'www');
  const script = join(dir, 'deploy.sh');
  const env = gitEnv(join(ctx.tmp, 'git-home'));
  let berth: BerthRunning | undefined;
  let nginx: PlainRunning | undefined;
  const berthLogs: string[] = [];
  try {
    // Berth's first deploy (every file new), not measured against anything.
    try {
      berth = await startBerth(ctx, `berth-${site}`, [{ name: site, repo: repo.bare, forge: 'generic', secret: SECRET }]);
      berthLogs.push(berth.proc.logFile);
      const b = berth;
      const first = await berthPush(b, site, genericPush(b.hookUrl(site), SECRET, { sha: base as string, delivery: `${site}-first` }), `${site}-base`, firstTimeoutMs);
      part.berth.first = first;
      if (first.liveMs === undefined) throw new Error(`the first deploy of ${site} did not go live within ${firstTimeoutMs / 1000} s; see ${b.proc.logFile}:\n${tail(b.proc.logFile)}`);
      log(`Berth ${site}: first deploy (all ${files} files new) live after ${first.liveMs.toFixed(0)} ms`);
      const m = await berthMemory(b, o.settleSeconds);
      part.berth.memory = { first: m.readings, firstIdle: m.idle };
    } catch (err) {
      part.berth.error = (err as Error).message;
      log(`Berth ${site}: FAILED: ${part.berth.error}`);
    }

    // The traditional side: a clone, its first copy, nginx serving the web root.
    try {
      mkdirSync(webRoot, { recursive: true });
      const t0 = performance.now();
      const clone = await run('git', ['clone', '-q', '--branch', 'main', scriptRepo.bare, checkout], { env, timeoutMs: 300_000 });
      if (clone.code !== 0) throw new Error(`git clone failed: ${clone.stderr}`);
      const cloneMs = performance.now() - t0;
      const t1 = performance.now();
      const copy = await run('sh', ['-c', 'cp -r "$1"/* "$2"/', 'sh', checkout, webRoot], { timeoutMs: 300_000 });
      if (copy.code !== 0) throw new Error(`the first cp -r failed: ${copy.stderr}`);
      part.traditional.setup = { cloneMs, copyMs: performance.now() - t1 };
      writeScript(script, pullCopyScript());
      nginx = await startNginx(ctx, `nginx-${site}`, webRoot);
      const current = await bodyOf(nginx.url('/'));
      if (!current.includes(markerText(`${site}-base`))) throw new Error(`nginx does not serve the checkout's index.html: ${current.slice(0, 200)}`);
    } catch (err) {
      part.traditional.error = (err as Error).message;
      log(`traditional ${site}: FAILED: ${part.traditional.error}`);
    }

    // The measured pushes: the same commit in both repositories, then each side in turn.
    let lastMarker = `${site}-base`;
    for (let k = 1; k <= pushes; k++) {
      if (part.berth.error !== undefined && part.traditional.error !== undefined) break;
      const marker = `${site}-push-${k}`;
      const spec = pushCommit(files, k, changed, marker);
      const [sha] = await repo.commit([spec]);
      await scriptRepo.commit([spec]);
      await sleep(200);
      const order = rotated(['Berth', 'script'], k - 1);
      part.order?.push(order);
      for (const side of order) {
        if (side === 'Berth' && berth !== undefined && part.berth.error === undefined) {
          try {
            const s = await berthPush(berth, site, genericPush(berth.hookUrl(site), SECRET, { sha: sha as string, delivery: `${site}-push-${k}` }), marker, timeoutMs);
            part.berth.samples.push(s);
            log(`Berth ${site} push ${k}: webhook ${s.hookStatus} in ${s.hookMs.toFixed(1)} ms, live after ${s.liveMs?.toFixed(1) ?? 'never'} ms (${s.polls} polls)`);
            if (s.liveMs === undefined) throw new Error(`push ${k} to ${site} did not go live within ${timeoutMs / 1000} s`);
            await waitTreeIdle(berth.proc.pid, QUIET_SECONDS);
          } catch (err) {
            part.berth.error = (err as Error).message;
            log(`Berth ${site}: FAILED: ${part.berth.error}`);
          }
        }
        if (side === 'script' && nginx !== undefined && part.traditional.error === undefined) {
          try {
            const s = await scriptPush(nginx, script, checkout, webRoot, marker, env, timeoutMs);
            part.traditional.samples.push(s);
            log(`script ${site} push ${k}: script ${s.scriptMs.toFixed(1)} ms${s.ok ? '' : ' (failed)'}, served after ${s.liveMs?.toFixed(1) ?? 'never'} ms`);
            if (s.error) notes.push(`traditional ${site} push ${k}: ${s.error}`);
            if (s.liveMs === undefined) throw new Error(`push ${k}: nginx never served ${marker} within ${timeoutMs / 1000} s`);
          } catch (err) {
            part.traditional.error = (err as Error).message;
            log(`traditional ${site}: FAILED: ${part.traditional.error}`);
          }
        }
        await sleep(300);
      }
      lastMarker = marker;
    }

    // Berth after the pushes: the deploy records, then memory with the site live.
    if (berth !== undefined && part.berth.error === undefined) {
      const b = berth;
      try {
        await waitUntil(() => b.idle(site), 120_000);
        const records = await b.deploys(site, 100);
        attachRecords([...(part.berth.first ? [part.berth.first] : []), ...part.berth.samples], records);
        await fetchGrowthNote(ctx, site, part.berth.samples, notes);
        for (const s of [...(part.berth.first ? [part.berth.first] : []), ...part.berth.samples]) {
          if (s.state !== 'live') notes.push(`Berth ${site}: deploy for ${s.marker} ended ${s.state ?? 'unrecorded'}${s.error ? ` (${s.error})` : ''}`);
        }
        const memory = (part.berth.memory ??= {});
        const live = await berthMemory(b, o.settleSeconds);
        memory.live = live.readings;
        memory.liveIdle = live.idle;
        log(`Berth ${site}: memory with the site live after the pushes${live.idle ? '' : ' (not idle)'}: ${describeMemory(live.readings)}`);
        if (o.sweep) {
          const paths = ['/', ...Array.from({ length: files }, (_, i) => `/${filePath(i)}`)];
          memory.sweep = await requestAll(b.url, paths);
          const swept = await berthMemory(b, o.settleSeconds);
          memory.swept = swept.readings;
          memory.sweptIdle = swept.idle;
          log(`Berth ${site}: ${paths.length} files requested in ${(memory.sweep.ms / 1000).toFixed(1)} s (${memory.sweep.failures} not 200); memory then: ${describeMemory(swept.readings)}`);
        }
      } catch (err) {
        notes.push(`Berth ${site}: after the pushes: ${(err as Error).message.split('\n')[0]}`);
      }
    }

    // Restarts: Berth on the same data dir, and nginx on the same web root, in turns.
    if (o.restarts > 0 && berth !== undefined && part.berth.error === undefined) {
      const restart: RestartPart = { rounds: o.restarts, marker: lastMarker, berth: [], nginx: [], order: [] };
      part.restart = restart;
      const startTimeoutMs = files >= 50_000 ? 300_000 : 60_000;
      try {
        for (let r = 1; r <= o.restarts; r++) {
          const order = rotated(['Berth', 'nginx'], r - 1);
          restart.order.push(order);
          for (const side of order) {
            if (side === 'Berth' && berth !== undefined) {
              const { configFile, dataDir } = berth;
              await berth.stop();
              berth = undefined;
              if (!(await waitPortsFree([PORTS.berth], 10_000))) throw new Error(`port ${PORTS.berth} still taken 10 s after Berth stopped`);
              const t0 = performance.now();
              const b = spawnBerth(ctx, `berth-${site}-restart-${r}`, configFile, dataDir);
              berth = b;
              berthLogs.push(b.proc.logFile);
              const seen = await waitForMarker(b.url('/'), markerText(lastMarker), { intervalMs: POLL_MS, timeoutMs: startTimeoutMs, giveUp: () => !isRunning(b.proc) });
              const sample: StartSample = { round: r, ms: seen.at === undefined ? undefined : seen.at - t0, polls: seen.polls, failures: seen.failures };
              restart.berth.push(sample);
              log(`Berth ${site} restart ${r}: / answers ${lastMarker} after ${sample.ms?.toFixed(0) ?? 'never'} ms`);
              if (sample.ms === undefined) throw new Error(`Berth did not answer / with ${lastMarker} within ${startTimeoutMs / 1000} s of its start${isRunning(b.proc) ? '' : ' (it exited)'}; see ${b.proc.logFile}:\n${tail(b.proc.logFile)}`);
              b.checkPid();
            }
            if (side === 'nginx' && nginx !== undefined && part.traditional.error === undefined) {
              await nginx.stop();
              nginx = undefined;
              if (!(await waitPortsFree([PORTS.nginx], 10_000))) throw new Error(`port ${PORTS.nginx} still taken 10 s after nginx stopped`);
              const t0 = performance.now();
              const n = spawnNginx(ctx, `nginx-${site}`, `nginx-${site}-restart-${r}`);
              nginx = n;
              // The script's last push is the web root's marker.
              const want = part.traditional.samples.at(-1)?.marker ?? `${site}-base`;
              const seen = await waitForMarker(n.url('/'), markerText(want), { intervalMs: POLL_MS, timeoutMs: 60_000, giveUp: () => !isRunning(n.proc) });
              restart.nginx.push({ round: r, ms: seen.at === undefined ? undefined : seen.at - t0, polls: seen.polls, failures: seen.failures });
              log(`nginx ${site} restart ${r}: / answers after ${seen.at === undefined ? 'never' : (seen.at - t0).toFixed(0)} ms`);
            }
            await sleep(300);
          }
        }
      } catch (err) {
        restart.error = (err as Error).message;
        log(`restarts ${site}: FAILED: ${restart.error}`);
      }
    }
  } finally {
    if (berth) await berth.stop();
    if (nginx) await nginx.stop();
    for (const file of berthLogs) {
      const note = berthLogNote(`Berth ${site} (${basename(file)})`, file, ['site has no release yet']);
      if (note) notes.push(note);
    }
  }
  return part;
}

/**
 * A note when Berth's fetch phase grew over the pushes on ext4: creating
 * files soon after deleting many is slow there (the inode allocator skips
 * recently deleted inodes), which shows in any phase that writes many files.
 */
async function fetchGrowthNote(ctx: DeployBenchContext, site: string, samples: PushSample[], notes: string[]): Promise<void> {
  const fetches = defined(samples.map((s) => s.phases?.fetch));
  if (fetches.length < 2) return;
  const first = fetches[0] as number;
  const last = fetches.at(-1) as number;
  if (!(last > 1.5 * first && last > 1000)) return;
  const fsType = (await run('stat', ['-f', '-c', '%T', ctx.tmp], { timeoutMs: 10_000 })).stdout.trim();
  if (!fsType.startsWith('ext')) return;
  notes.push(
    `Berth ${site}: the fetch phase grew from ${Math.round(first)} ms to ${Math.round(last)} ms over the pushes. On ext4 creating files soon ` +
      'after deleting many is slow (the inode allocator skips recently deleted inodes), so a phase that writes many files slows down push after push.',
  );
}

/** Writes `files` (path → content) under `dir`. */
function writeFiles(dir: string, files: Array<[string, string]>): void {
  for (const [path, content] of files) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

/**
 * Publish to served: a running Berth with a site filled by `berth publish`,
 * a folder of `files` files; each round changes the marker and `changed`
 * files, publishes, and times from the command's exit to `/` serving the
 * marker. nginx, in the same rounds, is timed from a `cp -r` of the same
 * folder into its web root: the floor, one request.
 */
async function publishPart(ctx: DeployBenchContext, files: number, rounds: number, changed: number, notes: string[]): Promise<PublishPart> {
  const site = `publish-${files}`;
  const part: PublishPart = { files, rounds, changed, order: [], berth: { samples: [] }, nginx: { samples: [] } };
  const dir = join(ctx.tmp, site);
  const src = join(dir, 'src');
  const webRoot = join(dir, 'www');
  mkdirSync(webRoot, { recursive: true });
  writeFiles(src, initialCommit(files, `${site}-0`).files);
  const cli = join(ctx.root, 'src/cli/main.ts');
  const copy = () => run('sh', ['-c', 'cp -r "$1"/* "$2"/', 'sh', src, webRoot], { timeoutMs: 600_000 });
  let berth: BerthRunning | undefined;
  let nginx: PlainRunning | undefined;
  const publish = (b: BerthRunning) => run(ctx.node, [cli, 'publish', src, '--site', site, '--config', b.configFile], { cwd: ctx.root, timeoutMs: 600_000 });
  try {
    try {
      berth = await startBerth(ctx, `berth-${site}`, [{ name: site }]);
      const t0 = performance.now();
      const r = await publish(berth);
      if (r.code !== 0) throw new Error(`the first berth publish exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
      const seen = await waitForMarker(berth.url('/'), markerText(`${site}-0`), { intervalMs: POLL_MS, timeoutMs: 300_000 });
      if (seen.at === undefined) throw new Error(`Berth never served the first publish of ${site}; see ${berth.proc.logFile}:\n${tail(berth.proc.logFile)}`);
      part.berth.firstMs = seen.at - t0;
      log(`Berth ${site}: first publish (all ${files} files new) served after ${part.berth.firstMs.toFixed(0)} ms`);
    } catch (err) {
      part.berth.error = (err as Error).message;
      log(`Berth ${site}: FAILED: ${part.berth.error}`);
    }
    try {
      const c = await copy();
      if (c.code !== 0) throw new Error(`the first cp -r failed: ${c.stderr}`);
      nginx = await startNginx(ctx, `nginx-${site}`, webRoot);
      if (!(await bodyOf(nginx.url('/'))).includes(markerText(`${site}-0`))) throw new Error("nginx does not serve the folder's index.html");
    } catch (err) {
      part.nginx.error = (err as Error).message;
      log(`nginx ${site}: FAILED: ${part.nginx.error}`);
    }
    for (let k = 1; k <= rounds; k++) {
      if (part.berth.error !== undefined && part.nginx.error !== undefined) break;
      const marker = `${site}-${k}`;
      writeFiles(src, pushCommit(files, k, changed, marker).files);
      const order = rotated(['Berth', 'nginx'], k - 1);
      part.order?.push(order);
      for (const side of order) {
        if (side === 'Berth' && berth !== undefined && part.berth.error === undefined) {
          const b = berth;
          try {
            const r = await publish(b);
            const exitedAt = r.exitedAt ?? performance.now();
            const ok = r.code === 0 && r.stdout.includes('(live)');
            const seen = ok ? await waitForMarker(b.url('/'), markerText(marker), { intervalMs: 2, timeoutMs: 120_000 }) : { at: undefined, polls: 0 };
            const every = seen.at === undefined ? undefined : await waitForEveryAnswer(b.url('/'), markerText(marker), { streak: EVERY_STREAK, intervalMs: 2, timeoutMs: 120_000 });
            const s: PublishSample = {
              round: k,
              marker,
              commandMs: r.ms,
              ok,
              servedMs: seen.at === undefined ? undefined : seen.at - exitedAt,
              everyMs: every === undefined ? undefined : every - exitedAt,
              polls: seen.polls,
              output: r.stdout.trim().slice(0, 300),
            };
            part.berth.samples.push(s);
            log(`Berth ${site} round ${k}: publish ran ${r.ms.toFixed(0)} ms; served ${s.servedMs?.toFixed(1) ?? 'never'} ms after it exited (${s.polls} polls)`);
            if (!ok) throw new Error(`berth publish exited ${r.code} without saying live: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
            if (s.servedMs === undefined) throw new Error(`Berth did not serve ${marker} within 120 s of the publish; see ${b.proc.logFile}`);
            await waitTreeIdle(b.proc.pid, QUIET_SECONDS);
          } catch (err) {
            part.berth.error = (err as Error).message;
            log(`Berth ${site}: FAILED: ${part.berth.error}`);
          }
        }
        if (side === 'nginx' && nginx !== undefined && part.nginx.error === undefined) {
          const n = nginx;
          try {
            const r = await copy();
            const exitedAt = r.exitedAt ?? performance.now();
            const seen = await waitForMarker(n.url('/'), markerText(marker), { intervalMs: 2, timeoutMs: 60_000 });
            const every = seen.at === undefined ? undefined : await waitForEveryAnswer(n.url('/'), markerText(marker), { streak: EVERY_STREAK, intervalMs: 2, timeoutMs: 60_000 });
            const s: PublishSample = {
              round: k,
              marker,
              commandMs: r.ms,
              ok: r.code === 0,
              servedMs: seen.at === undefined ? undefined : seen.at - exitedAt,
              everyMs: every === undefined ? undefined : every - exitedAt,
              polls: seen.polls,
            };
            part.nginx.samples.push(s);
            log(`nginx ${site} round ${k}: cp -r ran ${r.ms.toFixed(0)} ms; served ${s.servedMs?.toFixed(1) ?? 'never'} ms after it exited`);
            if (!s.ok) throw new Error(`cp -r exited ${r.code}: ${r.stderr.trim().slice(0, 200)}`);
            if (s.servedMs === undefined) throw new Error(`nginx did not serve ${marker} within 60 s of the copy`);
          } catch (err) {
            part.nginx.error = (err as Error).message;
            log(`nginx ${site}: FAILED: ${part.nginx.error}`);
          }
        }
        await sleep(300);
      }
    }
  } finally {
    if (berth) {
      await berth.stop();
      const note = berthLogNote(`Berth ${site}`, berth.proc.logFile, ['site has no release yet']);
      if (note) notes.push(note);
    }
    if (nginx) await nginx.stop();
  }
  return part;
}

/** Builds that ran at the same time at most, from the records' start and end. */
function maxConcurrent(records: DeployRecordLite[]): number {
  const events: Array<[number, number]> = [];
  for (const r of records) {
    if (!r.startedAt) continue;
    events.push([Date.parse(r.startedAt), 1]);
    events.push([r.finishedAt ? Date.parse(r.finishedAt) : Number.MAX_SAFE_INTEGER, -1]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let max = 0;
  for (const [, d] of events) {
    now += d;
    max = Math.max(max, now);
  }
  return max;
}

function markerNumber(body: string): number | undefined {
  const m = /marker:flood-(\d+);/.exec(body);
  return m ? Number(m[1]) : undefined;
}

async function floodPart(
  ctx: DeployBenchContext,
  o: { pushes: number; rate: number; buildSeconds: number },
  notes: string[],
): Promise<{ berth: FloodSide; webhook: FloodSide; repoSeconds: number; siteFiles: number }> {
  const siteFiles = 100;
  const started = performance.now();
  const repo = await BenchRepo.create(join(ctx.tmp, 'repos', 'flood.git'), join(ctx.tmp, 'scratch', 'flood'));
  const buildToml = `[build]\ncommand = "sleep ${o.buildSeconds}"\npublish = "."\n`;
  const [base] = await repo.commit([initialCommit(siteFiles, 'flood-0', [['berth.toml', buildToml]])]);

  // The traditional checkout is cloned before the flood's commits exist, so
  // the script's fetch has something to fetch, as it would after real pushes.
  const dir = join(ctx.tmp, 'traditional-flood');
  const checkout = join(dir, 'checkout');
  const webRoot = join(dir, 'www');
  mkdirSync(webRoot, { recursive: true });
  const env = gitEnv(join(ctx.tmp, 'git-home'));
  const clone = await run('git', ['clone', '-q', '--branch', 'main', repo.bare, checkout], { env, timeoutMs: 120_000 });
  if (clone.code !== 0) throw new Error(`git clone failed: ${clone.stderr}`);
  cpSync(checkout, webRoot, { recursive: true, filter: (src) => !src.includes(`${checkout}/.git`) });

  const specs = Array.from({ length: o.pushes }, (_, i) => pushCommit(siteFiles, i + 1, 1, `flood-${i + 1}`));
  const shas = await repo.commit(specs);
  const repoSeconds = (performance.now() - started) / 1000;
  log(`flood: repository with ${shas.length + 1} commits in ${repoSeconds.toFixed(1)} s`);
  const deliveries: string[] = shas.map(() => randomUUID());
  const payloads = (url: string): HookRequest[] =>
    shas.map((sha, i) => githubPush(url, SECRET, { sha, before: i === 0 ? (base as string) : (shas[i - 1] as string), delivery: deliveries[i], n: i + 1 }));
  // The flood's commits exist before it starts, but the branch moves to each
  // one just before its push is sent, as a real push moves it: Berth deploys
  // the branch's tip for a push (docs/deploying.md), so a branch already at
  // the last commit would make every push deploy that one.
  const moveBranch = (sha: string): void => {
    const ref = join(repo.bare, 'refs', 'heads', 'main');
    writeFileSync(`${ref}.bench`, `${sha}\n`);
    renameSync(`${ref}.bench`, ref);
  };
  moveBranch(base as string);
  const floodOptions = { ratePerSecond: o.rate, maxInFlight: 500, timeoutMs: 30_000, beforeSend: (i: number) => moveBranch(shas[i] as string) };
  const last = o.pushes;

  // Berth.
  const berthSide: FloodSide = { name: 'Berth' };
  let berth: BerthRunning | undefined;
  try {
    berth = await startBerth(ctx, 'berth-flood', [{ name: 'flood', repo: repo.bare, forge: 'github', secret: SECRET }]);
    const b = berth;
    const first = await berthPush(b, 'flood', githubPush(b.hookUrl('flood'), SECRET, { sha: base as string, before: '0'.repeat(40), delivery: 'flood-first' }), 'flood-0', 60_000);
    if (first.liveMs === undefined) throw new Error(`the first deploy of the flood site did not go live; see ${b.proc.logFile}:\n${tail(b.proc.logFile)}`);
    const forged = githubPush(b.hookUrl('flood'), 'not-the-secret', { sha: shas[0] as string, before: base as string, delivery: 'forged' });
    berthSide.forgedStatus = (await post(forged)).status;
    berthSide.idleRssKiB = procKiB(b.proc.pid);
    log(`Berth flood: site live; idle RSS ${((berthSide.idleRssKiB ?? 0) / 1024).toFixed(1)} MiB; forged signature answered ${berthSide.forgedStatus}`);
    const sampler = sampleRss(b.proc.pid, 50, 'sleep');
    const f = await flood(payloads(b.hookUrl('flood')), floodOptions);
    log(`Berth flood: ${f.requests} pushes in ${f.sendSeconds.toFixed(1)} s; answers ${JSON.stringify(f.statuses)}, p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms`);
    const lastSent = performance.now();
    const seen = await waitForMarker(b.url('/'), markerText(`flood-${last}`), { intervalMs: 20, timeoutMs: 120_000 });
    const idle = await waitUntil(() => b.idle('flood'), 60_000);
    await sleep(200);
    const rss = sampler.stop();
    berthSide.flood = f;
    berthSide.rss = rss;
    berthSide.settleMs = seen.at === undefined ? undefined : seen.at - lastSent;
    berthSide.finalMarker = markerNumber(await bodyOf(b.url('/')));
    berthSide.finalIsLast = berthSide.finalMarker === last;
    if (!idle) notes.push('Berth flood: still deploying 60 s after the last commit was served');
    const records = (await b.deploys('flood', Math.min(10_000, o.pushes + 50))).filter((d) => d.delivery !== undefined && deliveries.includes(d.delivery));
    const states: Record<string, number> = {};
    for (const d of records) states[d.state] = (states[d.state] ?? 0) + 1;
    const built = records.filter((d) => d.state === 'live' || d.state === 'failed' || d.state === 'cancelled');
    const inWindow = built.filter((d) => d.startedAt !== undefined && Date.parse(d.startedAt) >= f.startedAtMs && Date.parse(d.startedAt) <= f.lastSentAtMs);
    berthSide.records = records.length;
    berthSide.states = states;
    berthSide.builds = built.length;
    berthSide.buildsInWindow = inWindow.length;
    berthSide.maxConcurrent = maxConcurrent(built);
    berthSide.buildMs = median(built.map((d) => d.phases.build ?? 0));
    berthSide.deployMs = median(built.filter((d) => d.startedAt && d.finishedAt).map((d) => Date.parse(d.finishedAt as string) - Date.parse(d.startedAt as string)));
    berthSide.builtMarkers = built
      .map((d) => shas.indexOf(d.sha ?? '') + 1)
      .filter((n) => n > 0)
      .sort((a, b2) => a - b2);
    log(
      `Berth flood: ${records.length} deploy records ${JSON.stringify(states)}; ${built.length} builds (${inWindow.length} started during the flood, ` +
        `at most ${berthSide.maxConcurrent} at once); serves flood-${berthSide.finalMarker ?? '?'}; peak RSS ${(rss.peakMainKiB / 1024).toFixed(1)} MiB ` +
        `(tree ${(rss.peakTreeKiB / 1024).toFixed(1)} MiB)`,
    );
  } catch (err) {
    berthSide.error = (err as Error).message;
    log(`Berth flood: FAILED: ${berthSide.error}`);
  } finally {
    if (berth) {
      await berth.stop();
      const note = berthLogNote('Berth flood', berth.proc.logFile, ['site has no release yet', 'webhook refused']);
      if (note) notes.push(note);
    }
  }

  // adnanh/webhook running the script, nginx serving its web root.
  const hookSide: FloodSide = { name: 'webhook + script' };
  try {
    const runLog = join(dir, 'runs.log');
    const script = join(dir, 'deploy.sh');
    writeScript(script, floodScript(runLog, webRoot, o.buildSeconds));
    const hooksFile = join(dir, 'hooks.json');
    writeFileSync(hooksFile, hooksJson(script, checkout, SECRET));
    const nginx = await startNginx(ctx, 'nginx-flood', webRoot);
    const hook = await startWebhook(ctx, 'webhook-flood', hooksFile);
    try {
      const url = hook.url('/hooks/deploy');
      const forged = await post(githubPush(url, 'not-the-secret', { sha: shas[0] as string, before: base as string, delivery: 'forged' }));
      hookSide.forgedStatus = forged.status;
      await sleep(300);
      if (readLines(runLog).length > 0) notes.push('webhook: a push with a wrong signature ran the script');
      hookSide.idleRssKiB = procKiB(hook.proc.pid);
      log(`webhook flood: idle RSS ${((hookSide.idleRssKiB ?? 0) / 1024).toFixed(1)} MiB; forged signature answered ${forged.status} (${forged.body.trim().slice(0, 60)})`);
      const sampler = sampleRss(hook.proc.pid, 50, 'sleep');
      // The same start as Berth's flood: the branch at the first commit, moved by each push.
      moveBranch(base as string);
      const f = await flood(payloads(url), floodOptions);
      log(`webhook flood: ${f.requests} pushes in ${f.sendSeconds.toFixed(1)} s; answers ${JSON.stringify(f.statuses)}, p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms`);
      const lastSent = performance.now();
      // Done when every script that started has ended and webhook has had no
      // children for a second (webhook answers before it starts the script).
      let quietSince: number | undefined;
      const settled = await waitUntil(() => {
        const lines = readLines(runLog);
        const starts = lines.filter((l) => l.startsWith('start ')).length;
        const ends = lines.filter((l) => l.startsWith('end ')).length;
        const quiet = starts > 0 && starts === ends && processTree(hook.proc.pid).length === 1;
        if (!quiet) quietSince = undefined;
        else quietSince ??= performance.now();
        return quietSince !== undefined && performance.now() - quietSince >= 1000;
      }, 180_000, 100);
      const rss = sampler.stop();
      const lines = readLines(runLog);
      const ends = lines.filter((l) => l.startsWith('end '));
      hookSide.flood = f;
      hookSide.rss = rss;
      hookSide.settleMs = settled && quietSince !== undefined ? quietSince - lastSent : undefined;
      hookSide.scriptRuns = lines.filter((l) => l.startsWith('start ')).length;
      hookSide.builds = lines.filter((l) => l.startsWith('build ')).length;
      hookSide.scriptOk = ends.filter((l) => l.endsWith(' 0')).length;
      hookSide.scriptFailed = ends.length - hookSide.scriptOk;
      hookSide.finalMarker = markerNumber(await bodyOf(nginx.url('/')));
      hookSide.finalIsLast = hookSide.finalMarker === last;
      if (!settled) notes.push('webhook: scripts were still running 180 s after the flood; the counts are those at that point');
      log(
        `webhook flood: ${hookSide.scriptRuns} script runs, ${hookSide.builds} builds, ${hookSide.scriptOk} ok, ${hookSide.scriptFailed} failed; ` +
          `serves flood-${hookSide.finalMarker ?? '?'}; peak RSS webhook ${(rss.peakMainKiB / 1024).toFixed(1)} MiB, with children ${(rss.peakTreeKiB / 1024).toFixed(1)} MiB, ` +
          `${rss.maxProcesses} processes at most`,
      );
    } finally {
      await hook.stop();
      await nginx.stop();
    }
  } catch (err) {
    hookSide.error = (err as Error).message;
    log(`webhook flood: FAILED: ${hookSide.error}`);
  }
  return { berth: berthSide, webhook: hookSide, repoSeconds, siteFiles };
}

const PARTS = ['push', 'publish', 'flood'] as const;
/** Settings whose values change what is measured: with any of them set, the run is not the reference one. */
const SETTINGS = [
  'BENCH_DEPLOY_PARTS',
  'BENCH_DEPLOY_SIZES',
  'BENCH_DEPLOY_PUSHES',
  'BENCH_DEPLOY_CHANGED',
  'BENCH_DEPLOY_RESTARTS',
  'BENCH_DEPLOY_RSS_SWEEP',
  'BENCH_DEPLOY_SETTLE',
  'BENCH_PUBLISH_SIZES',
  'BENCH_PUBLISH_ROUNDS',
  'BENCH_FLOOD_PUSHES',
  'BENCH_FLOOD_RATE',
  'BENCH_FLOOD_BUILD',
];
/** The fewest rounds a figure in BENCHMARKS.md may come from. */
const DOC_MIN_ROUNDS = 3;

async function main(): Promise<void> {
  installExitHandlers();
  const parts = (process.env.BENCH_DEPLOY_PARTS ?? PARTS.join(',')).split(',').map((s) => s.trim());
  if (parts.some((p) => !(PARTS as readonly string[]).includes(p))) throw new Error(`BENCH_DEPLOY_PARTS: use any of ${PARTS.join(', ')}, comma-separated`);
  const sizes = envList('BENCH_DEPLOY_SIZES', [1000, 100_000], 10, 1_000_000);
  const pushCounts = envList('BENCH_DEPLOY_PUSHES', [5, 3], 1, 100);
  if (pushCounts.length !== sizes.length) throw new Error('BENCH_DEPLOY_PUSHES needs one count per entry of BENCH_DEPLOY_SIZES');
  const changed = envInt('BENCH_DEPLOY_CHANGED', 10, 1, 1000);
  const restarts = envInt('BENCH_DEPLOY_RESTARTS', 3, 0, 50);
  const rssSweep = envInt('BENCH_DEPLOY_RSS_SWEEP', 1, 0, 1) === 1;
  const settleSeconds = envInt('BENCH_DEPLOY_SETTLE', 30, 3, 600);
  const publishSizes = envList('BENCH_PUBLISH_SIZES', [1000, 20_000], 10, 1_000_000);
  const publishRounds = envInt('BENCH_PUBLISH_ROUNDS', 5, 1, 100);
  const floodPushes = envInt('BENCH_FLOOD_PUSHES', 1000, 2, 5000);
  const floodRate = envInt('BENCH_FLOOD_RATE', 100, 1, 1000);
  const buildSeconds = envInt('BENCH_FLOOD_BUILD', 1, 0, 30);
  const given = SETTINGS.filter((k) => (process.env[k] ?? '') !== '');
  const defaults = given.length === 0;
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  const fewRounds = (parts.includes('push') && (pushCounts.some((n) => n < DOC_MIN_ROUNDS) || (restarts > 0 && restarts < DOC_MIN_ROUNDS))) || (parts.includes('publish') && publishRounds < DOC_MIN_ROUNDS);
  if (writeDoc === '1' && fewRounds) throw new Error(`BENCH_WRITE_DOC=1 with fewer than ${DOC_MIN_ROUNDS} pushes, restarts or publishes: BENCHMARKS.md reports medians of at least ${DOC_MIN_ROUNDS} rounds`);

  const tmp = process.env.BENCH_TMP ? resolve(process.env.BENCH_TMP) : mkdtempSync(join(tmpdir(), 'berth-deploy-bench-'));
  mkdirSync(tmp, { recursive: true });
  // nginx workers run as an unprivileged user and must be able to read the web roots.
  chmodSync(tmp, 0o755);
  const logDir = join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  mkdirSync(join(tmp, 'git-home'), { recursive: true });
  setPidDir(tmp);
  log(`work dir ${tmp}`);
  const ctx: DeployBenchContext = { root, tmp, logDir, node: process.execPath };

  const results: DeployResults = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command: [...given.map((k) => `${k}=${process.env[k]}`), 'bash bench/deploy.sh'].join(' '),
    settings: {
      sizes,
      pushes: pushCounts,
      changed,
      pollMs: POLL_MS,
      floodPushes,
      floodRate,
      floodBuildSeconds: buildSeconds,
      rssSampleMs: 50,
      restarts,
      publishSizes,
      publishRounds,
      rssSweep,
      settleSeconds,
    },
    machine: await machine(),
    push: [],
    notes: [],
  };

  if (parts.includes('push')) {
    for (const [i, files] of sizes.entries()) {
      results.push.push(await pushPart(ctx, { files, pushes: pushCounts[i] as number, changed, restarts, sweep: rssSweep, settleSeconds }, results.notes));
      killAllNow();
    }
  }
  if (parts.includes('publish')) {
    results.publish = [];
    for (const files of publishSizes) {
      results.publish.push(await publishPart(ctx, files, publishRounds, changed, results.notes));
      killAllNow();
    }
  }
  if (parts.includes('flood')) {
    try {
      const f = await floodPart(ctx, { pushes: floodPushes, rate: floodRate, buildSeconds }, results.notes);
      results.flood = { siteFiles: f.siteFiles, repoSeconds: f.repoSeconds, berth: f.berth, webhook: f.webhook };
    } catch (err) {
      results.flood = { error: (err as Error).message };
      log(`flood: FAILED: ${(err as Error).message}`);
    }
    killAllNow();
  }

  results.finishedAt = new Date().toISOString();
  const section = saveResults(root, 'deploy-', results, (rel) => renderDeploySection(results, rel), log);

  const pushOk = results.push.every((p) => !p.berth.error && !p.traditional.error && !p.restart?.error);
  const publishOk = (results.publish ?? []).every((p) => !p.berth.error && !p.nginx.error);
  const floodOk = results.flood === undefined || (!('error' in results.flood) && !results.flood.berth.error && !results.flood.webhook.error);
  const complete = pushOk && publishOk && floodOk && PARTS.every((p) => parts.includes(p));
  if (writeDoc === '1' || (writeDoc === 'auto' && complete && defaults)) {
    updateDeploysSection(join(root, 'BENCHMARKS.md'), section);
    log('BENCHMARKS.md: "Deploys" section rewritten');
  } else {
    log(`BENCHMARKS.md left as it is (${writeDoc === '0' ? 'BENCH_WRITE_DOC=0' : complete ? 'settings differ from the defaults' : 'not every part was measured'})`);
  }
  // Slow numbers never fail the run. A contender that could not be measured,
  // or Berth not ending on the last pushed commit, does.
  const berthWrongEnd = results.flood !== undefined && !('error' in results.flood) && results.flood.berth.finalIsLast === false;
  process.exitCode = pushOk && publishOk && floodOk && !berthWrongEnd ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`deploy-bench: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
