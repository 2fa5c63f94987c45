/**
 * The Lighthouse performance score of the example blog as Berth serves it:
 * the home page and a post, on Lighthouse's mobile and desktop presets, a
 * few runs each. The test suite asserts what makes the pages fast (no
 * script, compression, caching, sized images, a byte budget) but not the
 * score, which also depends on how busy the machine is: total blocking time
 * is main-thread time measured here. This is where the score is measured.
 *
 * Writes bench/results/lighthouse-<timestamp>.json and .md, and the
 * "Lighthouse" section of BENCHMARKS.md. Started by `npm run bench:lighthouse`
 * (which installs Chromium first). Low scores never fail it; a run that
 * could not load a page does.
 *
 * Settings (environment):
 *   BENCH_LIGHTHOUSE_ROUNDS=3   runs of each page on each preset
 *   BENCH_WRITE_DOC=auto        1/0; auto = when every run loaded its page
 */
import { join, resolve } from 'node:path';
import type { Result } from 'lighthouse';
import { CHROME_FLAGS, PAGES, runLighthouse, serveBlog, type Preset } from '../test/helpers/lighthouse.ts';
import { measuredBy, replaceMarkedSection } from './lib/benchmarks-md.ts';
import { describeMachine } from './lib/machine.ts';
import { saveResults } from './lib/results-files.ts';
import { rotated, spread, type Spread } from './lib/rounds.ts';
import { envInt, progressLog } from './lib/settings.ts';

const log = progressLog('lighthouse-bench');
const root = resolve(import.meta.dirname, '..');
const BEGIN = '<!-- BEGIN lighthouse: written by npm run bench:lighthouse -->';
const END = '<!-- END lighthouse -->';
const PRESETS: readonly Preset[] = ['mobile', 'desktop'];
/** The metrics the performance score is made of, in Lighthouse's order. */
const METRICS = {
  'first-contentful-paint': 'FCP',
  'largest-contentful-paint': 'LCP',
  'total-blocking-time': 'TBT',
  'cumulative-layout-shift': 'CLS',
  'speed-index': 'Speed Index',
} as const;
type MetricId = keyof typeof METRICS;

interface Run {
  page: string;
  preset: Preset;
  round: number;
  /** 0 to 100. */
  score?: number;
  metrics?: Partial<Record<MetricId, number>>;
  error?: string;
}

interface LighthouseResults {
  startedAt: string;
  finishedAt?: string;
  command: string;
  settings: { rounds: number };
  machine: Record<string, string>;
  lighthouse?: string;
  chromium?: string;
  runs: Run[];
  /** Over every run of every page and preset. */
  overall?: Spread;
}

function measure(lhr: Result): Pick<Run, 'score' | 'metrics'> {
  const metrics: Partial<Record<MetricId, number>> = {};
  for (const id of Object.keys(METRICS) as MetricId[]) {
    const value = lhr.audits[id]?.numericValue;
    if (value !== undefined) metrics[id] = value;
  }
  const score = lhr.categories.performance?.score;
  return { score: score === null || score === undefined ? undefined : Math.round(score * 100), metrics };
}

function formatMetric(id: MetricId, value: number | undefined): string {
  if (value === undefined) return '?';
  return id === 'cumulative-layout-shift' ? value.toFixed(3) : `${Math.round(value)} ms`;
}

function range(s: Spread | undefined): string {
  if (s === undefined) return '?';
  return s.min === s.max ? `${s.median}` : `${s.median} (${s.min}–${s.max})`;
}

export function renderSection(r: LighthouseResults, resultsFile: string): string {
  const out = [
    '## Lighthouse',
    '',
    ...measuredBy('npm run bench:lighthouse', r.startedAt, resultsFile),
    '',
    `**Performance score of the example blog served by Berth: ${range(r.overall)}** (median, and range in brackets, over ${r.runs.length} runs: ${r.settings.rounds} of each page on each preset).`,
    '',
    `Lighthouse ${r.lighthouse ?? '?'} in Debian's Chromium ${r.chromium ?? '?'}, headless, against Berth serving the`,
    "built blog on 127.0.0.1 (the release and server of `test/blog/lighthouse.test.ts`). The mobile preset",
    'simulates a slow 4G connection and a 4× slower CPU from what it observes; the desktop preset a fast one.',
    'Total blocking time is main-thread time measured on this machine, so a busy machine lowers the score:',
    'the tests assert what makes the pages fast (no script, compressed and cached responses, sized images,',
    'no layout shift, a byte budget), and only this benchmark measures the score.',
    '',
    '| page | preset | score | FCP | LCP | TBT | CLS | Speed Index |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [name, path] of Object.entries(PAGES)) {
    for (const preset of PRESETS) {
      const runs = r.runs.filter((run) => run.page === name && run.preset === preset);
      const score = spread(runs.flatMap((run) => (run.score === undefined ? [] : [run.score])));
      const cells = (Object.keys(METRICS) as MetricId[]).map((id) => formatMetric(id, spread(runs.flatMap((run) => (run.metrics?.[id] === undefined ? [] : [run.metrics[id]])))?.median));
      out.push(`| ${name} (\`${path}\`) | ${preset} | ${range(score)} | ${cells.join(' | ')} |`);
    }
  }
  out.push('', 'Metrics are medians. Machine:', '', '| | |', '|---|---|', ...Object.entries(r.machine).map(([k, v]) => `| ${k} | ${v} |`), '');
  const failed = r.runs.filter((run) => run.error !== undefined);
  if (failed.length > 0) out.push('Failed runs:', '', ...failed.map((run) => `- ${run.page} ${run.preset} round ${run.round}: ${run.error}`), '');
  return out.join('\n');
}

async function main(): Promise<void> {
  const rounds = envInt('BENCH_LIGHTHOUSE_ROUNDS', 3, 1, 50);
  const writeDoc = process.env.BENCH_WRITE_DOC ?? 'auto';
  const results: LighthouseResults = {
    startedAt: new Date().toISOString(),
    command: 'npm run bench:lighthouse',
    settings: { rounds },
    machine: await describeMachine(root, [['Chromium', '/usr/bin/chromium', ['--version'], /Chromium (\S+)/]]),
    runs: [],
  };
  results.chromium = results.machine.Chromium;
  const cleanups: Array<() => unknown> = [];
  try {
    log('building and serving the example blog');
    const origin = await serveBlog({ after: (fn) => cleanups.push(fn) });
    const cases = Object.keys(PAGES).flatMap((page) => PRESETS.map((preset) => ({ page: page as keyof typeof PAGES, preset })));
    // Each round runs every case, starting with a different one, so a slow
    // spell of the machine does not always fall on the same page.
    for (let round = 1; round <= rounds; round++) {
      for (const { page, preset } of rotated(cases, round - 1)) {
        const run: Run = { page, preset, round };
        try {
          const lhr = await runLighthouse(`${origin}${PAGES[page]}`, preset, CHROME_FLAGS, ['performance']);
          results.lighthouse ??= lhr.lighthouseVersion;
          Object.assign(run, measure(lhr));
          log(`${page} ${preset} round ${round}: performance ${run.score ?? '?'}`);
        } catch (error) {
          run.error = error instanceof Error ? error.message : String(error);
          log(`${page} ${preset} round ${round}: FAILED: ${run.error}`);
        }
        results.runs.push(run);
      }
    }
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  results.overall = spread(results.runs.flatMap((run) => (run.score === undefined ? [] : [run.score])));
  results.finishedAt = new Date().toISOString();
  const section = saveResults(root, 'lighthouse-', results, (rel) => renderSection(results, rel), log);
  const allOk = results.runs.every((run) => run.error === undefined);
  if (writeDoc === '1' || (writeDoc === 'auto' && allOk)) {
    replaceMarkedSection(join(root, 'BENCHMARKS.md'), BEGIN, END, section);
    log('BENCHMARKS.md: "Lighthouse" section rewritten');
  } else {
    log(`BENCHMARKS.md left as it is (${writeDoc === '0' ? 'BENCH_WRITE_DOC=0' : 'a run failed'})`);
  }
  // Low scores never fail the run; a page that could not be loaded does.
  process.exitCode = allOk ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(`lighthouse-bench: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
