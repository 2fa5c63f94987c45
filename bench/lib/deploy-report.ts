/**
 * The deploy benchmark's results, their markdown, and the rewrite of the
 * "Deploys" section of BENCHMARKS.md between its own markers (the "Static
 * serving" section and its markers are never touched).
 */
import { machineTable, measuredBy, replaceMarkedSection } from './benchmarks-md.ts';
import type { FloodResult } from './hooks.ts';
import { spread, type Spread } from './rounds.ts';
import type { DeployRecordLite } from './deploy-servers.ts';
import type { ProcessReading } from './tree-memory.ts';
import type { RssSummary } from './watch.ts';

export interface PushSample {
  marker: string;
  delivery: string;
  hookStatus: number;
  /** The webhook's answer time. */
  hookMs: number;
  /** From the webhook POST being sent to `GET /` returning the marker. */
  liveMs: number | undefined;
  /** From the POST to the first of 10 answers in a row on new connections (any worker) that all carry the marker. */
  everyMs?: number;
  polls: number;
  /** From the marker being served to the deploy's work dir being removed. */
  cleanupMs?: number;
  deploy?: string;
  state?: string;
  phases?: DeployRecordLite['phases'];
  buildSource?: string;
  error?: string;
}

export interface ScriptSample {
  marker: string;
  scriptMs: number;
  /** From the script's start to nginx serving the marker. */
  liveMs: number | undefined;
  ok: boolean;
  polls: number;
  error?: string;
}

/** Memory of every process of `berth serve`, by role, at the moments the push part reads it. */
export interface MemoryReadings {
  /** After the first deploy, once the tree was idle. */
  first?: ProcessReading[];
  /** With the site live after the measured pushes, once the tree was idle. */
  live?: ProcessReading[];
  /** Whether the tree went idle before each reading (false: read when the settle time ran out). */
  firstIdle?: boolean;
  liveIdle?: boolean;
  /** After one GET of every file of the site, once idle again. */
  swept?: ProcessReading[];
  sweptIdle?: boolean;
  sweep?: { requests: number; failures: number; ms: number };
}

/** One start of a server, timed from its spawn until `/` answers with the live release's marker. */
export interface StartSample {
  round: number;
  ms: number | undefined;
  polls: number;
  /** Polls refused or answered with something other than 200 before it answered. */
  failures: number;
}

export interface RestartPart {
  rounds: number;
  /** The marker `/` must show: the last push's. */
  marker: string;
  berth: StartSample[];
  nginx: StartSample[];
  /** Which server started first in each round. */
  order: string[][];
  error?: string;
}

export interface PushPart {
  files: number;
  pushes: number;
  changed: number;
  repoSeconds?: number;
  /** Which side pushed first in each round (the sides take turns, the first one rotating). */
  order?: string[][];
  berth: {
    first?: PushSample;
    samples: PushSample[];
    memory?: MemoryReadings;
    error?: string;
  };
  traditional: {
    setup?: { cloneMs: number; copyMs: number };
    samples: ScriptSample[];
    error?: string;
  };
  restart?: RestartPart;
}

/** One round of the publish part: Berth's `berth publish`, or the copy into nginx's web root. */
export interface PublishSample {
  round: number;
  marker: string;
  /** The publish command's (or the copy's) own run time. */
  commandMs: number;
  ok: boolean;
  /** From the command's exit to the first `GET /` carrying the marker. */
  servedMs: number | undefined;
  /** From the command's exit to the first of 10 answers in a row on new connections (any worker) that all carry it. */
  everyMs?: number;
  polls: number;
  /** The command's summary line (Berth), for the record. */
  output?: string;
}

export interface PublishPart {
  files: number;
  rounds: number;
  changed: number;
  order?: string[][];
  berth: { firstMs?: number; samples: PublishSample[]; error?: string };
  nginx: { samples: PublishSample[]; error?: string };
}

export interface FloodSide {
  name: string;
  error?: string;
  flood?: FloodResult;
  rss?: RssSummary;
  idleRssKiB?: number;
  /** Status of one push signed with the wrong secret. */
  forgedStatus?: number;
  /** From the last push sent until the last commit was served (Berth) or every script had ended (webhook). */
  settleMs?: number;
  finalMarker?: number;
  finalIsLast?: boolean;
  // Berth
  records?: number;
  states?: Record<string, number>;
  builds?: number;
  buildsInWindow?: number;
  maxConcurrent?: number;
  buildMs?: number;
  deployMs?: number;
  builtMarkers?: number[];
  // webhook
  scriptRuns?: number;
  scriptOk?: number;
  scriptFailed?: number;
}

export interface DeployResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: {
    sizes: number[];
    pushes: number[];
    changed: number;
    pollMs: number;
    floodPushes: number;
    floodRate: number;
    floodBuildSeconds: number;
    rssSampleMs: number;
    restarts?: number;
    publishSizes?: number[];
    publishRounds?: number;
    /** Whether the memory reading is repeated after one GET of every file. */
    rssSweep?: boolean;
    settleSeconds?: number;
  };
  machine: Record<string, string>;
  push: PushPart[];
  flood?: { siteFiles: number; repoSeconds: number; berth: FloodSide; webhook: FloodSide } | { error: string };
  publish?: PublishPart[];
  notes: string[];
}

/** Targets from the issue (13): push to live by site size, serving memory, publish to served, and the flood's. */
export const TARGETS = {
  /** Push to live, minus the build: the median at most this, by site size. */
  liveMs: (files: number): number | undefined => (files <= 1000 ? 100 : files <= 100_000 ? 2000 : undefined),
  /** At the small size the median must also be below the `git pull && cp -r` script's in the same run. */
  belowScript: (files: number): boolean => files <= 1000,
  /** RSS of each serving worker with the site live after the pushes, KiB (150 MiB). */
  workerRssKiB: 150 * 1024,
  /** From `berth publish` exiting to `/` serving the new release, median. */
  publishServedMs: 100,
  floodBuilds: 2,
  /** 150 MB, decimal. */
  floodRssBytes: 150e6,
};

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n < 10 ? `${n.toFixed(1)} ms` : n < 10_000 ? `${int(n)} ms` : `${(n / 1000).toFixed(1)} s`);
const mib = (kib: number | undefined) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(1)} MiB`);
const mb = (kib: number | undefined) => (kib === undefined ? '—' : `${((kib * 1024) / 1e6).toFixed(0)} MB`);
const yesNo = (b: boolean | undefined) => (b === undefined ? '—' : b ? 'yes' : '**no**');

function table(head: string[], rows: string[][], textColumns = 1): string {
  return [head, head.map((_, i) => (i < textColumns ? '---' : '---:')), ...rows].map((cols) => `| ${cols.join(' | ')} |`).join('\n');
}

function defined(values: Array<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined && !Number.isNaN(v));
}

function statuses(f: FloodResult | undefined): string {
  if (!f) return '—';
  return Object.entries(f.statuses)
    .sort()
    .map(([k, v]) => `${int(v)} × ${k}`)
    .join(', ');
}

/** A spread as `median (min–max)`, the range without its unit when all three share it; the one value for one round. */
export function spreadCell(sp: Spread | undefined, fmt: (n: number) => string = (n) => ms(n)): string {
  if (sp === undefined) return '—';
  const [m, lo, hi] = [fmt(sp.median), fmt(sp.min), fmt(sp.max)];
  if (sp.count < 2) return m;
  const unit = / [a-zA-Z]+$/.exec(m)?.[0];
  const bare = (x: string) => (unit !== undefined && x.endsWith(unit) ? x.slice(0, -unit.length) : x);
  const shared = unit !== undefined && lo.endsWith(unit) && hi.endsWith(unit);
  return shared ? `${m} (${bare(lo)}–${bare(hi)})` : `${m} (${lo}–${hi})`;
}

/** `a / b` as `0.42×`; a dash when either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b <= 0) return '—';
  const r = a / b;
  return `${r < 0.1 ? r.toFixed(3) : r.toFixed(2)}×`;
}

export interface PushStats {
  /** Berth's push to live over the measured pushes; undefined unless every push went live. */
  berth: Spread | undefined;
  /** The script: run time (the whole commit copied), and when nginx first served the marker. */
  scriptFinished: Spread | undefined;
  scriptServed: Spread | undefined;
  target: number | undefined;
  belowScript: boolean;
  /** Undefined when a figure the target needs is missing. */
  met: boolean | undefined;
}

export function pushStats(p: PushPart): PushStats {
  const live = defined(p.berth.samples.map((s) => s.liveMs));
  const all = live.length === p.berth.samples.length && live.length > 0 && p.berth.error === undefined;
  const berth = all ? spread(live) : undefined;
  const t = p.traditional.error === undefined ? p.traditional.samples : [];
  const scriptFinished = spread(t.filter((x) => x.ok).map((x) => x.scriptMs));
  const scriptServed = spread(defined(t.map((x) => x.liveMs)));
  const target = TARGETS.liveMs(p.files);
  const belowScript = TARGETS.belowScript(p.files);
  let met: boolean | undefined;
  if (target !== undefined && berth !== undefined) {
    if (!belowScript) met = berth.median <= target;
    else if (scriptFinished !== undefined) met = berth.median <= target && berth.median < scriptFinished.median;
  }
  return { berth, scriptFinished, scriptServed, target, belowScript, met };
}

/** What the issue asks of a size, in words: `≤ 100 ms, and below the script`. */
function liveTargetText(s: PushStats): string {
  if (s.target === undefined) return '—';
  return `≤ ${ms(s.target)}${s.belowScript ? ', and below the script' : ''}`;
}

function pushSection(r: DeployResults): string[] {
  const out: string[] = ['### Push to live, minus the build', ''];
  if (r.push.length === 0) return [...out, 'Not run.', ''];
  out.push(
    `Each measured push is one commit changing ${r.settings.changed} files spread over the site plus \`index.html\`, which`,
    'carries a new marker. Berth and the script each deploy from their own copy of the same history (a',
    'local `git clone --bare`), so both get the same commits, and both are running throughout: in each',
    'round one pushes and goes live, then the other, the first one alternating from round to round.',
    'Berth: the clock starts as the signed webhook POST (generic format, HMAC-SHA256) is sent and stops',
    `when \`GET /\` returns the marker (polled every ${r.settings.pollMs} ms on a keep-alive connection). The site's repository`,
    "has no build command (plain static files), so all of it is Berth's own work: webhook, queue,",
    'fetch, publish, check and the switch. Between pushes the benchmark waits until the previous deploy',
    'has cleaned up. The traditional script is `git -C checkout pull --ff-only` then `cp -r checkout/* www/`',
    'with nginx serving `www/`; its clock starts when the script starts (no webhook receiver in front).',
    'It has two numbers: when the script has finished (the whole commit is in the web root), and when',
    'nginx first serves the marker. `cp` copies `index.html` before the directories, so the marker',
    'shows early while the changed files are still being copied: in between, nginx serves a mix of two',
    "commits. Berth's number is the moment the whole new release is served at once, so the ratio and",
    'the target compare it with the script finished. Figures are the median over the pushes, with',
    'the fastest and slowest in brackets; a ratio divides the medians (below 1: Berth is faster).',
    '',
  );
  const rows = r.push.map((p) => {
    const s = pushStats(p);
    return [
      `${int(p.files)} files`,
      p.berth.error ? 'failed' : `${p.berth.samples.length}`,
      spreadCell(s.berth),
      p.traditional.error ? 'failed' : spreadCell(s.scriptFinished),
      spreadCell(s.scriptServed),
      ratio(s.berth?.median, s.scriptFinished?.median),
      ratio(s.berth?.median, s.scriptServed?.median),
      liveTargetText(s),
      yesNo(s.met),
    ];
  });
  out.push(
    table(
      ['site', 'pushes', 'Berth: push to live', 'script finished', 'script: marker served', 'Berth / script finished', 'Berth / script marker served', 'target (median)', 'met'],
      rows,
    ),
    '',
  );

  out.push(
    "Berth's phases, from `berth deploys --json` (the deploy record's own timings), and what the",
    'clock saw. "live after" is the first answer with the marker on the polling connection (one',
    'serving worker); "every answer new after" is the first of 10 answers in a row, each on a new',
    'connection (so any worker), that all carry it. "outside the phases" is the rest of the push-to-live',
    "time: the webhook, the server noticing the new release and loading its manifest, and the poll's",
    'granularity. After its turn, Berth is left until its process tree is quiet (at most 15 s) before',
    'the next turn starts.',
    '',
  );
  const phaseRows: string[][] = [];
  for (const p of r.push) {
    const label = `${int(p.files)} files`;
    const all = p.berth.first ? [{ s: p.berth.first, what: 'first deploy (all files new)' }] : [];
    for (const [i, s] of p.berth.samples.entries()) all.push({ s, what: `push ${i + 1}` });
    for (const { s, what } of all) {
      const ph = s.phases ?? {};
      const sum = defined([ph.queued, ph.fetch, ph.build, ph.publish, ph.smoke]).reduce((a, b) => a + b, 0);
      phaseRows.push([
        label,
        what,
        s.state ?? '—',
        ms(s.hookMs),
        ms(ph.queued),
        ms(ph.fetch),
        ms(ph.build),
        ms(ph.publish),
        ms(ph.smoke),
        ms(s.liveMs),
        ms(s.everyMs),
        s.liveMs === undefined || !s.phases ? '—' : ms(Math.max(0, s.liveMs - sum)),
        ms(s.cleanupMs),
      ]);
    }
  }
  out.push(
    table(['site', 'deploy', 'state', 'webhook answer', 'queued', 'fetch', 'build', 'publish', 'smoke', 'live after', 'every answer new after', 'outside the phases', 'clean-up after live'], phaseRows, 3),
    '',
  );

  const setupRows = r.push.map((p) => [
    `${int(p.files)} files`,
    p.repoSeconds === undefined ? '—' : `${p.repoSeconds.toFixed(1)} s`,
    ms(p.berth.first?.liveMs),
    ms(p.traditional.setup?.cloneMs),
    ms(p.traditional.setup?.copyMs),
  ]);
  out.push(
    'Set-up, not part of the comparison above: committing the site (git fast-import), the first',
    "deploy, and the traditional side's first clone and copy.",
    '',
    table(['site', 'commit the site', 'Berth first deploy', 'git clone', 'first cp -r'], setupRows),
    '',
  );
  const scriptRows: string[][] = [];
  for (const p of r.push) {
    for (const [i, s] of p.traditional.samples.entries()) {
      const first = p.order?.[i]?.[0];
      scriptRows.push([`${int(p.files)} files`, `push ${i + 1}`, first === undefined ? '—' : first, s.ok ? 'ok' : '**failed**', ms(s.scriptMs), ms(s.liveMs)]);
    }
  }
  if (scriptRows.length) {
    out.push('The traditional script, push by push:', '', table(['site', 'push', 'round started with', 'script', 'script finished after', 'marker served after'], scriptRows, 4), '');
  }
  return out;
}

const ROLE_ORDER = ['supervisor', 'control plane', 'worker', 'other'] as const;

/** The serving workers of a reading, and the largest one's RSS. */
export function workerMemory(readings: readonly ProcessReading[] | undefined): { workers: number; maxRssKiB: number | undefined; met: boolean | undefined } {
  const workers = (readings ?? []).filter((p) => p.role === 'worker');
  if (workers.length === 0) return { workers: 0, maxRssKiB: undefined, met: undefined };
  const maxRssKiB = Math.max(...workers.map((p) => p.rssKiB));
  return { workers: workers.length, maxRssKiB, met: maxRssKiB <= TARGETS.workerRssKiB };
}

function sortedReadings(readings: readonly ProcessReading[]): ProcessReading[] {
  return [...readings].sort((a, b) => ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role) || a.pid - b.pid);
}

function memorySection(r: DeployResults): string[] {
  const parts = r.push.filter((p) => p.berth.memory?.live !== undefined);
  if (parts.length === 0) return [];
  const swept = r.settings.rssSweep === true;
  const out: string[] = [
    '### Memory of `berth serve`, every process',
    '',
    'Every process of the `berth serve` tree, read from /proc with the site live after the measured',
    `pushes, once the tree was idle (over 3 s its summed RSS moved by at most 256 KiB and it used at most 2 % of a core; at most ${r.settings.settleSeconds ?? '—'} s`,
    'of waiting). The role comes from /proc too: the process started is the supervisor, one listening',
    'on the port (or started by node:cluster) a serving worker, another Node process the control plane.',
    'RSS is VmRSS (pages shared between processes count in each); PSS splits shared pages among the',
    'processes that map them; the peak is VmHWM, the most the process held since it started (the',
    swept
      ? "deploys included). \"after every file\" is a second reading after one `GET` of every file of the site (8 keep-alive connections), once idle again: the most a worker's caches are asked to hold."
      : 'deploys included).',
    `The target is at most ${TARGETS.workerRssKiB / 1024} MiB RSS per serving worker.`,
    '',
  ];
  const rows: string[][] = [];
  for (const p of parts) {
    const m = p.berth.memory as MemoryReadings;
    const sweptBy = new Map((m.swept ?? []).map((x) => [x.pid, x]));
    const workerNumbers = new Map<number, number>();
    for (const x of sortedReadings(m.live ?? [])) {
      if (x.role === 'worker') workerNumbers.set(x.pid, workerNumbers.size + 1);
      const label = x.role === 'worker' ? `serving worker ${workerNumbers.get(x.pid)}` : x.role === 'other' ? `other (${x.comm})` : x.role;
      const after = sweptBy.get(x.pid);
      const row = [`${int(p.files)} files`, label, mib(x.rssKiB), mib(x.pssKiB), mib(x.hwmKiB)];
      if (swept) row.push(after ? mib(after.rssKiB) : '—', after ? mib(after.pssKiB) : '—', after ? mib(after.hwmKiB) : '—');
      if (x.role === 'worker') {
        const worst = Math.max(x.rssKiB, after?.rssKiB ?? 0);
        row.push(`≤ ${TARGETS.workerRssKiB / 1024} MiB: ${yesNo(worst <= TARGETS.workerRssKiB)}`);
      } else row.push('—');
      rows.push(row);
    }
    const live = m.live ?? [];
    const sum = (list: readonly ProcessReading[], f: 'rssKiB' | 'pssKiB') => list.reduce((a, x) => a + x[f], 0);
    const total = [`${int(p.files)} files`, '**all processes**', mib(sum(live, 'rssKiB')), mib(sum(live, 'pssKiB')), '—'];
    if (swept) total.push(m.swept ? mib(sum(m.swept, 'rssKiB')) : '—', m.swept ? mib(sum(m.swept, 'pssKiB')) : '—', '—');
    total.push('—');
    rows.push(total);
  }
  const head = ['site', 'process', 'RSS', 'PSS', 'peak RSS'];
  if (swept) head.push('RSS after every file', 'PSS after every file', 'peak after every file');
  head.push('target per worker');
  out.push(table(head, rows, 2), '');
  const notes: string[] = [];
  for (const p of parts) {
    const m = p.berth.memory as MemoryReadings;
    if (m.liveIdle === false || m.sweptIdle === false) notes.push(`${int(p.files)} files: the tree was not idle within the settle time; read when it ran out.`);
    if (m.sweep) notes.push(`${int(p.files)} files: ${int(m.sweep.requests)} files requested in ${ms(m.sweep.ms)}, ${int(m.sweep.failures)} answered other than 200.`);
    if (m.first?.length) notes.push(`${int(p.files)} files: after the first deploy the tree held ${mib(m.first.reduce((a, x) => a + x.rssKiB, 0))} RSS in ${m.first.length} processes.`);
  }
  if (notes.length) out.push(...notes.map((n) => `- ${n}`), '');
  return out;
}

function restartSection(r: DeployResults): string[] {
  const parts = r.push.filter((p) => p.restart !== undefined);
  if (parts.length === 0) return [];
  const out: string[] = [
    '### From `berth serve` start to the site answering',
    '',
    'After the pushes (and the memory readings), the server is stopped and started again on the same',
    'data dir and config, and timed from the spawn of the process until `GET /` returns the last',
    `push's marker (polled every ${r.settings.pollMs} ms; refused connections and other answers count as not yet). nginx`,
    'serving the traditional web root is restarted the same way in the same rounds, the first one',
    'alternating. Median over the rounds, fastest and slowest in brackets.',
    '',
  ];
  const rows = parts.map((p) => {
    const x = p.restart as RestartPart;
    const b = spread(defined(x.berth.map((s) => s.ms)));
    const n = spread(defined(x.nginx.map((s) => s.ms)));
    const allB = x.berth.length > 0 && x.berth.every((s) => s.ms !== undefined);
    return [
      `${int(p.files)} files`,
      `${x.berth.length}`,
      allB ? spreadCell(b) : x.error ? 'failed' : `${spreadCell(b)} (${x.berth.filter((s) => s.ms === undefined).length} never answered)`,
      spreadCell(n),
      ratio(b?.median, n?.median),
    ];
  });
  out.push(table(['site', 'rounds', 'Berth: start → `/` answers the live release', 'nginx: start → `/` answers', 'Berth / nginx'], rows), '');
  for (const p of parts) if (p.restart?.error) out.push(`${int(p.files)} files: ${p.restart.error.split('\n')[0]}`, '');
  return out;
}

export interface PublishStats {
  /** Exit to the first answer with the marker (Berth undefined unless every round got there). */
  berth: Spread | undefined;
  /** Exit to the first of a run of answers on new connections that all carried it. */
  berthEvery: Spread | undefined;
  nginx: Spread | undefined;
  command: Spread | undefined;
  copy: Spread | undefined;
  met: boolean | undefined;
}

export function publishStats(p: PublishPart): PublishStats {
  const allB = p.berth.error === undefined && p.berth.samples.length > 0 && p.berth.samples.every((s) => s.ok && s.servedMs !== undefined);
  const berth = allB ? spread(defined(p.berth.samples.map((s) => s.servedMs))) : undefined;
  const everyB = allB && p.berth.samples.every((s) => s.everyMs !== undefined);
  const nginx = p.nginx.error === undefined ? spread(defined(p.nginx.samples.map((s) => s.servedMs))) : undefined;
  return {
    berth,
    berthEvery: everyB ? spread(defined(p.berth.samples.map((s) => s.everyMs))) : undefined,
    nginx,
    command: spread(p.berth.samples.filter((s) => s.ok).map((s) => s.commandMs)),
    copy: spread(p.nginx.samples.filter((s) => s.ok).map((s) => s.commandMs)),
    met: berth === undefined ? undefined : berth.median <= TARGETS.publishServedMs,
  };
}

function publishSection(r: DeployResults): string[] {
  const parts = r.publish ?? [];
  if (parts.length === 0) return [];
  const out: string[] = [
    '### From `berth publish` returning "live" to the server answering with it',
    '',
    'A running `berth serve` with a site filled by `berth publish` (no repository), from a folder of',
    `small files (the push part's files) and an \`index.html\` with a marker. Each round changes the marker and ${parts[0]?.changed ?? '—'}`,
    'files, runs `node src/cli/main.ts publish <dir> --site S --config <cfg>`, checks that it printed',
    '"live", and times from the process\'s exit to the first `GET /` carrying the new marker (polled',
    'every 2 ms on a keep-alive connection, starting at the exit: one serving worker), then to the first',
    'of 10 answers in a row, each on a new connection (so any worker), that all carry it. nginx is the',
    "reference in the same rounds, the first one alternating: `cp -r <dir>/* www/` into its web root,",
    "timed from the copy's exit the same way; it has no release to switch to, so its figure is the",
    'floor: one request. After its turn Berth is left until its process tree is quiet (at most 15 s).',
    `The target is at most ${ms(TARGETS.publishServedMs)} (median of the first answer).`,
    '',
  ];
  const rows = parts.map((p) => {
    const s = publishStats(p);
    return [
      `${int(p.files)} files`,
      `${p.berth.samples.length}`,
      p.berth.error ? 'failed' : spreadCell(s.berth),
      p.berth.error ? 'failed' : spreadCell(s.berthEvery),
      p.nginx.error ? 'failed' : spreadCell(s.nginx),
      ratio(s.berth?.median, s.nginx?.median),
      `≤ ${ms(TARGETS.publishServedMs)}: ${yesNo(s.met)}`,
    ];
  });
  out.push(
    table(['site', 'rounds', 'Berth: exit → first answer new', 'Berth: exit → every answer new', 'nginx: copy exit → first answer new', 'Berth / nginx (first answer)', 'target (median) met'], rows),
    '',
    'How long the commands themselves ran (not part of the figures above):',
    '',
    table(['site', '`berth publish`', '`cp -r`'], parts.map((p) => {
      const s = publishStats(p);
      return [`${int(p.files)} files`, spreadCell(s.command), spreadCell(s.copy)];
    })),
    '',
  );
  for (const p of parts) {
    if (p.berth.error) out.push(`Berth, ${int(p.files)} files, could not be measured: ${p.berth.error.split('\n')[0]}`, '');
    if (p.nginx.error) out.push(`nginx, ${int(p.files)} files, could not be measured: ${p.nginx.error.split('\n')[0]}`, '');
  }
  return out;
}

function floodSection(r: DeployResults): string[] {
  const out: string[] = ['### Flood', ''];
  const f = r.flood;
  if (f === undefined) return [...out, 'Not run.', ''];
  if ('error' in f) return [...out, `Could not run: ${f.error.split('\n')[0]}`, ''];
  const st = r.settings;
  out.push(
    `${int(st.floodPushes)} validly signed GitHub push events (\`X-Hub-Signature-256\`), each with its own delivery id`,
    `and its own commit, sent at ${st.floodRate} per second on new connections without waiting for answers, to a`,
    `${f.siteFiles}-file site whose build is \`sleep ${st.floodBuildSeconds}\` (the repository's \`berth.toml\`). The same payloads go to`,
    'Berth (`forge = "github"`) and to adnanh/webhook, whose `hooks.json` checks `payload-hmac-sha256`',
    'and the branch, then runs the traditional script: `git fetch`, `git checkout -f <sha>`,',
    `\`sleep ${st.floodBuildSeconds}\`, \`cp -r\` into the web root nginx serves (no lock, as such scripts usually are). Memory is`,
    `VmRSS from /proc every ${st.rssSampleMs} ms, of the server process alone and summed with all its children`,
    '(Berth: git and the build; webhook: every script and what it runs).',
    '',
  );
  const b = f.berth;
  const w = f.webhook;
  const both = (get: (s: FloodSide) => string) => [get(b), get(w)];
  const runs = (s: FloodSide) => s.flood;
  const rows: Array<[string, string, string]> = [
    ['pushes answered (sent over)', ...both((s) => (runs(s) ? `${int(runs(s)?.requests ?? 0)} (${runs(s)?.sendSeconds.toFixed(1)} s)` : '—'))] as [string, string, string],
    ['answers', ...both((s) => statuses(runs(s)))] as [string, string, string],
    ['answer time p50 / p99 / max', ...both((s) => (runs(s) ? `${ms(runs(s)?.p50Ms)} / ${ms(runs(s)?.p99Ms)} / ${ms(runs(s)?.maxMs)}` : '—'))] as [string, string, string],
    ['a push with a wrong signature', ...both((s) => (s.forgedStatus === undefined ? '—' : String(s.forgedStatus)))] as [string, string, string],
    ['builds run', `${b.builds ?? '—'}`, `${w.builds ?? '—'} (of ${w.scriptRuns ?? '—'} script runs)`],
    ['builds started while the flood was sent', `${b.buildsInWindow ?? '—'}`, '—'],
    ['builds at once, at most (records / sampled)', `${b.maxConcurrent ?? '—'} / ${b.rss?.maxNamed ?? '—'}`, `— / ${w.rss?.maxNamed ?? '—'}`],
    ['processes in the tree, at most', ...both((s) => (s.rss ? int(s.rss.maxProcesses) : '—'))] as [string, string, string],
    [
      'outcome',
      b.states ? Object.entries(b.states).sort().map(([k, v]) => `${int(v)} ${k}`).join(', ') : '—',
      w.scriptRuns === undefined ? '—' : `${int(w.scriptOk ?? 0)} scripts exited 0, ${int(w.scriptFailed ?? 0)} failed`,
    ],
    ['serves the last commit at the end', yesNo(b.finalIsLast) + (b.finalMarker ? ` (push ${b.finalMarker})` : ''), yesNo(w.finalIsLast) + (w.finalMarker ? ` (push ${w.finalMarker})` : '')],
    ['last push sent → settled', `${ms(b.settleMs)} (last commit served)`, `${ms(w.settleMs)} (every script ended)`],
    ['RSS idle, before the flood', ...both((s) => mib(s.idleRssKiB))] as [string, string, string],
    ['peak RSS, server process', ...both((s) => (s.rss ? `${mib(s.rss.peakMainKiB)} (${mb(s.rss.peakMainKiB)})` : '—'))] as [string, string, string],
    ['peak RSS, with children', ...both((s) => (s.rss ? `${mib(s.rss.peakTreeKiB)} (${mb(s.rss.peakTreeKiB)})` : '—'))] as [string, string, string],
  ];
  out.push(table(['', 'Berth', 'webhook + script'], rows), '');
  if (b.builtMarkers?.length) {
    out.push(
      `Berth built pushes ${b.builtMarkers.join(', ')} (median build phase ${ms(b.buildMs)}, whole deploy ${ms(b.deployMs)}).`,
      'Its queue keeps one deploy running and one waiting per site, and each newer push replaces the',
      'waiting one, so a flood that lasts longer than a deploy builds about once per deploy time, then',
      `the last push: ${b.builds ?? '?'} builds for ${b.flood ? b.flood.sendSeconds.toFixed(0) : '?'} s of pushes. "At most ${TARGETS.floodBuilds} builds" for pushes spread over`,
      'that long would need Berth to wait for the pushes to stop before it builds.',
      '',
    );
  }
  for (const s of [b, w]) if (s.error) out.push(`${s.name} could not be measured: ${s.error.split('\n')[0]}`, '');
  return out;
}

function targetsSection(r: DeployResults): string[] {
  const rows: string[][] = [];
  for (const p of r.push) {
    const s = pushStats(p);
    if (s.target === undefined) continue;
    const against = s.belowScript ? `; script ${ms(s.scriptFinished?.median)}, ${ratio(s.berth?.median, s.scriptFinished?.median)}` : '';
    rows.push([
      `push to live minus the build, ${int(p.files)} files, ${p.changed} changed (median of ${p.berth.samples.length})`,
      liveTargetText(s),
      `${spreadCell(s.berth)}${against}`,
      yesNo(s.met),
    ]);
  }
  for (const p of r.push) {
    const live = p.berth.memory?.live;
    if (live === undefined) continue;
    const w = workerMemory(live);
    const after = workerMemory(p.berth.memory?.swept);
    const worst = Math.max(w.maxRssKiB ?? 0, after.maxRssKiB ?? 0);
    rows.push([
      `RSS per serving worker, ${int(p.files)}-file site live after ${p.berth.samples.length} pushes (largest of ${w.workers})`,
      `≤ ${TARGETS.workerRssKiB / 1024} MiB`,
      `${mib(w.maxRssKiB)}${after.maxRssKiB === undefined ? '' : `; after every file: ${mib(after.maxRssKiB)}`}`,
      yesNo(w.maxRssKiB === undefined ? undefined : worst <= TARGETS.workerRssKiB),
    ]);
  }
  for (const p of r.push) {
    const x = p.restart;
    if (x === undefined) continue;
    const b = spread(defined(x.berth.map((s) => s.ms)));
    rows.push([`\`berth serve\` start → the ${int(p.files)}-file site answers (median of ${x.berth.length})`, 'measured (no figure set)', spreadCell(b), '—']);
  }
  for (const p of r.publish ?? []) {
    const s = publishStats(p);
    rows.push([
      `\`berth publish\` exit → served, ${int(p.files)} files (median of ${p.berth.samples.length})`,
      `≤ ${ms(TARGETS.publishServedMs)}`,
      spreadCell(s.berth),
      yesNo(s.met),
    ]);
  }
  const f = r.flood;
  if (f && !('error' in f)) {
    const b = f.berth;
    rows.push([
      `flood: builds run for ${int(r.settings.floodPushes)} pushes`,
      `at most ${TARGETS.floodBuilds}`,
      `${b.builds ?? '—'} (at most ${b.maxConcurrent ?? '—'} at once)`,
      yesNo(b.builds === undefined ? undefined : b.builds <= TARGETS.floodBuilds),
    ]);
    const peak = b.rss?.peakMainKiB;
    rows.push([
      'flood: peak RSS of `berth serve`',
      '< 150 MB',
      peak === undefined ? '—' : `${mb(peak)} (${mib(peak)})`,
      yesNo(peak === undefined ? undefined : peak * 1024 < TARGETS.floodRssBytes),
    ]);
    rows.push(['flood: serves the last commit at the end', 'yes', b.finalIsLast === undefined ? '—' : b.finalIsLast ? 'yes' : 'no', yesNo(b.finalIsLast)]);
  }
  if (rows.length === 0) return [];
  return ['### Targets', '', table(['target', 'wanted', 'measured', 'met'], rows), ''];
}

export function renderDeploySection(r: DeployResults, resultsPath: string): string {
  const out: string[] = [
    '## Deploys',
    '',
    ...measuredBy(r.command, r.startedAt, resultsPath),
    '',
    'Berth and the traditional stack it replaces run on 127.0.0.1 in the same run, each against its',
    'own copy of the same generated git history (a local bare repository, committed with',
    '`git fast-import`), taking turns round by round. Files are a few hundred bytes each, in nested',
    'directories, the same bytes every run. Numbers on a shared 2-core VM vary from run to run; the',
    'load generator, git and the servers share the cores. Serving throughput (the same three files',
    'against nginx and Caddy, same run, same method) is the "Static serving" section (`npm run bench`).',
    '',
    ...machineTable(r.machine),
  ];
  out.push(...targetsSection(r), ...pushSection(r), ...memorySection(r), ...restartSection(r), ...publishSection(r), ...floodSection(r));
  if (r.notes.length) {
    out.push('Notes from this run:', '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

const BEGIN = '<!-- BEGIN deploys: written by bench/deploy.sh -->';
const END = '<!-- END deploys -->';

/** Replaces (or appends) the section between the deploy markers in BENCHMARKS.md. */
export function updateDeploysSection(file: string, section: string): void {
  replaceMarkedSection(file, BEGIN, END, section);
}
