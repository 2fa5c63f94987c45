/**
 * The deploy benchmark's results, their markdown, and the rewrite of the
 * "Deploys" section of BENCHMARKS.md between its own markers (the "Static
 * serving" section and its markers are never touched).
 */
import { machineTable, measuredBy, replaceMarkedSection } from './benchmarks-md.ts';
import type { FloodResult } from './hooks.ts';
import { median } from './rounds.ts';
import type { DeployRecordLite } from './deploy-servers.ts';
import type { RssSummary } from './watch.ts';

export interface PushSample {
  marker: string;
  delivery: string;
  hookStatus: number;
  /** The webhook's answer time. */
  hookMs: number;
  /** From the webhook POST being sent to `GET /` returning the marker. */
  liveMs: number | undefined;
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
}

export interface PushPart {
  files: number;
  pushes: number;
  changed: number;
  repoSeconds?: number;
  berth: {
    first?: PushSample;
    samples: PushSample[];
    /** The serve process after the first deploy, and after the last push (KiB). */
    idleRssKiB?: number;
    rssKiB?: number;
    hwmKiB?: number;
    error?: string;
  };
  traditional: {
    setup?: { cloneMs: number; copyMs: number };
    samples: ScriptSample[];
    error?: string;
  };
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
  };
  machine: Record<string, string>;
  push: PushPart[];
  flood?: { siteFiles: number; repoSeconds: number; berth: FloodSide; webhook: FloodSide } | { error: string };
  notes: string[];
}

/** Targets from the issue: push to live by site size, and the flood's. */
export const TARGETS = {
  liveMs: (files: number): number | undefined => (files <= 1000 ? 100 : files <= 100_000 ? 2000 : undefined),
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

export function liveStats(p: PushPart): { median: number | undefined; max: number | undefined; met: boolean | undefined; target: number | undefined } {
  const live = defined(p.berth.samples.map((s) => s.liveMs));
  const target = TARGETS.liveMs(p.files);
  const all = live.length === p.berth.samples.length && live.length > 0;
  const m = median(live);
  const max = live.length ? Math.max(...live) : undefined;
  return { median: m, max, target, met: target === undefined || m === undefined || !all ? undefined : m < target };
}

function pushSection(r: DeployResults): string[] {
  const out: string[] = ['### Push to live', ''];
  if (r.push.length === 0) return [...out, 'Not run.', ''];
  out.push(
    `Each measured push is one commit changing ${r.settings.changed} files spread over the site plus \`index.html\`, which`,
    'carries a new marker. Berth: the clock starts as the signed webhook POST (generic format,',
    `HMAC-SHA256) is sent and stops when \`GET /\` returns the marker (polled every ${r.settings.pollMs} ms on a keep-alive`,
    "connection). The site's repository has no build command (plain static files), so all of it is",
    "Berth's own work: webhook, queue, fetch, checkout, publish, smoke check and the switch. Between",
    'pushes the benchmark waits until the previous deploy has cleaned up. The traditional script is',
    '`git -C checkout pull --ff-only` then `cp -r checkout/* www/` with nginx serving `www/`; its clock starts',
    'when the script starts (no webhook receiver in front). It has two numbers: when nginx first serves',
    'the marker, and when the script has finished. `cp` copies `index.html` before the directories, so',
    'the marker shows early while the changed files are still being copied: in between, nginx serves',
    "a mix of two commits. Berth's number is the moment the whole new release is served at once.",
    '',
  );
  const rows = r.push.map((p) => {
    const s = liveStats(p);
    const t = p.traditional.samples;
    const tLive = defined(t.map((x) => x.liveMs));
    const tScript = t.map((x) => x.scriptMs);
    return [
      `${int(p.files)} files`,
      p.berth.error ? 'failed' : `${p.berth.samples.length}`,
      ms(s.median),
      ms(s.max),
      s.target === undefined ? '—' : `< ${ms(s.target)}: ${yesNo(s.met)}`,
      p.traditional.error ? 'failed' : ms(median(tScript)),
      ms(median(tLive)),
      ms(tLive.length ? Math.max(...tLive) : undefined),
    ];
  });
  out.push(
    table(['site', 'pushes', 'Berth median', 'Berth max', 'target (median) met', 'script finished, median', 'script: marker served, median', 'script: marker served, max'], rows),
    '',
  );

  out.push(
    "Berth's phases, from `berth deploys --json` (the deploy record's own timings), and what the",
    'clock saw. "outside the phases" is the rest of the push-to-live time: the webhook, the',
    "server noticing the new release and loading its manifest, and the poll's granularity.",
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
        s.liveMs === undefined || !s.phases ? '—' : ms(Math.max(0, s.liveMs - sum)),
        ms(s.cleanupMs),
      ]);
    }
  }
  out.push(
    table(['site', 'deploy', 'state', 'webhook answer', 'queued', 'fetch', 'build', 'publish', 'smoke', 'live after', 'outside the phases', 'clean-up after live'], phaseRows, 3),
    '',
  );

  const setupRows = r.push.map((p) => [
    `${int(p.files)} files`,
    p.repoSeconds === undefined ? '—' : `${p.repoSeconds.toFixed(1)} s`,
    ms(p.berth.first?.liveMs),
    ms(p.traditional.setup?.cloneMs),
    ms(p.traditional.setup?.copyMs),
    mib(p.berth.idleRssKiB),
    mib(p.berth.rssKiB),
    mib(p.berth.hwmKiB),
  ]);
  out.push(
    'Set-up, not part of the comparison above: committing the site (git fast-import), the first',
    "deploy, the traditional side's first clone and copy, and the memory of Berth's serve process.",
    '',
    table(['site', 'commit the site', 'Berth first deploy', 'git clone', 'first cp -r', 'Berth RSS after first deploy', 'after the pushes', 'peak (VmHWM)'], setupRows),
    '',
  );
  const scriptRows: string[][] = [];
  for (const p of r.push) {
    for (const [i, s] of p.traditional.samples.entries()) {
      scriptRows.push([`${int(p.files)} files`, `push ${i + 1}`, s.ok ? 'ok' : '**failed**', ms(s.scriptMs), ms(s.liveMs)]);
    }
  }
  if (scriptRows.length) {
    out.push('The traditional script, push by push:', '', table(['site', 'push', 'script', 'script finished after', 'marker served after'], scriptRows, 3), '');
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
    const s = liveStats(p);
    if (s.target === undefined) continue;
    rows.push([`push to live, ${int(p.files)} files (median of ${p.berth.samples.length})`, `< ${ms(s.target)}`, `${ms(s.median)} (max ${ms(s.max)})`, yesNo(s.met)]);
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
    'Berth and the traditional stack it replaces run one after the other on 127.0.0.1, each against',
    'its own copy of the same generated git history (a local bare repository, committed with',
    '`git fast-import`). Files are a few hundred bytes each, in nested directories, the same bytes every',
    'run. Numbers on a shared 2-core VM vary from run to run; the load generator, git and the servers',
    'share the cores.',
    '',
    ...machineTable(r.machine),
  ];
  out.push(...targetsSection(r), ...pushSection(r), ...floodSection(r));
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
