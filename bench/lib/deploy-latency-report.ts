/**
 * The latency-under-deploy benchmark's results and its BENCHMARKS.md
 * section: percentiles of small-file requests while the control plane
 * deploys a large site, against the same load with no deploy.
 */
import { machineTable, measuredBy, notesList, replaceMarkedSection } from './benchmarks-md.ts';
import type { LatencySummary } from './latency-stats.ts';
import { median, spread, type Spread } from './rounds.ts';

export type LatencyRunKind = 'baseline' | 'deploy';

export interface LatencyRun {
  kind: LatencyRunKind;
  ok: boolean;
  error?: string;
  /** The measured window: ms after the client's start, and its length. */
  windowFromMs: number;
  windowMs: number;
  /** Requests due in the window that were answered 200, summarised. */
  summary?: LatencySummary;
  /** Over the client's whole run. */
  sent: number;
  non200: number;
  failed: number;
  unanswered: number;
  maxSendLagMs: number;
  /** Deploy runs: webhook answer status, and the time from sending it to the new index page being served. */
  webhookStatus?: number;
  triggerToLiveMs?: number;
}

export interface LatencyRound {
  round: number;
  order: LatencyRunKind[];
  runs: Partial<Record<LatencyRunKind, LatencyRun>>;
}

export interface LatencyResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  settings: { rounds: number; files: number; rate: number; connections: number; leadSeconds: number; workers: string; path: string };
  machine: Record<string, string>;
  /** The unmeasured first deploy of the site (a clone), webhook to live. */
  initialDeployMs?: number;
  rounds: LatencyRound[];
  notes: string[];
}

/** The target for this issue: p99 during a deploy within this many times p99 without. */
export const P99_TARGET_RATIO = 1.2;

type Metric = 'p50Ms' | 'p90Ms' | 'p99Ms' | 'p999Ms' | 'maxMs';
const METRICS: Array<[Metric, string]> = [
  ['p50Ms', 'p50'],
  ['p90Ms', 'p90'],
  ['p99Ms', 'p99'],
  ['p999Ms', 'p99.9'],
  ['maxMs', 'max'],
];

/** One metric of one kind of run over the rounds that measured it. */
export function metricSpread(r: LatencyResults, kind: LatencyRunKind, metric: Metric): Spread | undefined {
  return spread(r.rounds.map((x) => x.runs[kind]).flatMap((run) => (run?.ok && run.summary ? [run.summary[metric]] : [])));
}

/** During a deploy over without, from the medians; undefined when either side is missing. */
export function deployRatio(r: LatencyResults, metric: Metric): number | undefined {
  const d = metricSpread(r, 'deploy', metric);
  const b = metricSpread(r, 'baseline', metric);
  return d && b && b.median > 0 ? d.median / b.median : undefined;
}

const ms = (v: number) => (v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`);
const cell = (s: Spread | undefined) => (s === undefined ? '—' : s.count > 1 ? `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})` : ms(s.median));

export function renderLatencySection(r: LatencyResults, resultsFile: string, committed = true): string {
  const st = r.settings;
  const out: string[] = ['## Latency during a deploy', '', ...measuredBy(r.command, r.startedAt, resultsFile, committed), ''];
  out.push(
    'How it measures:',
    '',
    `- \`berth serve\` (\`workers = ${st.workers}\`, plain HTTP on 127.0.0.1) with two sites: a small one published with`,
    `  \`berth publish\`, whose \`${st.path}\` is requested, and one deployed from a local git repository of`,
    `  ${st.files.toLocaleString('en-US')} files (200–600 bytes each, nested directories) through its real webhook (generic format,`,
    '  HMAC-SHA256). A first, unmeasured deploy clones it; each measured deploy is a new commit that',
    '  changes every file, so the control plane fetches, hashes, compresses and publishes all of them.',
    `- The load is open-loop (\`bench/lib/open-loop-client.ts\`, its own process): ${st.rate.toLocaleString('en-US')} requests per second on`,
    `  up to ${st.connections} keep-alive connections, each request due at a fixed time whatever the server does, and its`,
    '  latency counted from that due time, so a stall shows in every request due during it (no',
    '  coordinated omission, which a closed-loop client such as wrk has).',
    `- A deploy run starts the load, sends the webhook ${st.leadSeconds} s later, and measures the requests due from`,
    '  the webhook until the new index page is served (polled every 50 ms). A run with no deploy',
    '  measures a window as long as the deploy before it. Rounds alternate which runs first; every',
    '  run starts with the server idle (its CPU use below 5 % of a core).',
    '- Each figure is the median over the rounds, with the lowest and highest in brackets; the',
    '  ratio divides the medians.',
    '',
    ...machineTable(r.machine),
  );
  out.push(`| \`GET ${st.path}\` | no deploy | during a deploy | during / no deploy |`, '|---|---:|---:|---:|');
  for (const [m, title] of METRICS) {
    const ratio = deployRatio(r, m);
    out.push(`| ${title} | ${cell(metricSpread(r, 'baseline', m))} | ${cell(metricSpread(r, 'deploy', m))} | ${ratio === undefined ? '—' : `${ratio.toFixed(2)}×`} |`);
  }
  const count = (kind: LatencyRunKind) => median(r.rounds.flatMap((x) => (x.runs[kind]?.summary ? [x.runs[kind].summary.count] : [])));
  const cb = count('baseline');
  const cd = count('deploy');
  out.push(`| requests measured (median) | ${cb === undefined ? '—' : Math.round(cb).toLocaleString('en-US')} | ${cd === undefined ? '—' : Math.round(cd).toLocaleString('en-US')} | |`);
  const live = spread(r.rounds.flatMap((x) => (x.runs.deploy?.ok && x.runs.deploy.triggerToLiveMs !== undefined ? [x.runs.deploy.triggerToLiveMs] : [])));
  out.push(`| deploy, webhook to served | | ${cell(live)} | |`, '');
  const p99 = deployRatio(r, 'p99Ms');
  out.push(
    p99 === undefined
      ? `Target: p99 during a deploy within ${P99_TARGET_RATIO}× of p99 without: not measured.`
      : `Target: p99 during a deploy within ${P99_TARGET_RATIO}× of p99 without: ${p99 <= P99_TARGET_RATIO ? 'met' : 'not met'} (${p99.toFixed(2)}×).`,
    '',
  );
  const notes = [
    ...r.rounds.flatMap((x) =>
      Object.values(x.runs).flatMap((run) => [
        ...(run.ok ? [] : [`round ${x.round}, ${run.kind === 'deploy' ? 'deploy' : 'no deploy'}: failed: ${(run.error ?? '').split('\n')[0]}`]),
        ...(run.non200 || run.failed || run.unanswered
          ? [`round ${x.round}, ${run.kind === 'deploy' ? 'deploy' : 'no deploy'}: ${run.non200} answers other than 200, ${run.failed} failed requests, ${run.unanswered} unanswered at the end`]
          : []),
      ]),
    ),
    ...r.notes,
  ];
  out.push(...notesList(notes));
  return out.join('\n');
}

const BEGIN = '<!-- BEGIN deploy-latency: written by npm run bench:latency -->';
const END = '<!-- END deploy-latency -->';

export function updateLatencySection(file: string, section: string): void {
  replaceMarkedSection(file, BEGIN, END, section);
}
