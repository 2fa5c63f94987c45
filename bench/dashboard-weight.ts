/**
 * How many bytes each dashboard page costs a browser: the HTML, and the
 * stylesheet and script it loads, raw and gzipped. Sizes, not timings: the
 * pages are rendered in this process from a realistic model (3 sites, 50
 * deploys on a site's page, a 200-line log on a deploy's page, 20 releases;
 * test/helpers/dashboard-models.ts) with a fixed clock, so a run on any
 * machine gives the same figures for the same commit.
 *
 * Writes bench/results/dashboard-weight-<timestamp>.json and .md, and the
 * "Dashboard page weight" section of BENCHMARKS.md. Started by
 * `npm run bench:dashboard-weight`; takes about a second.
 *
 * Settings (environment):
 *   BENCH_WRITE_DOC=1   0: leave BENCHMARKS.md as it is
 */
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DASHBOARD_CSS, DASHBOARD_JS } from '../src/dashboard/dashboard-assets.ts';
import { renderDashboardPages } from '../test/helpers/dashboard-models.ts';
import { replaceMarkedSection } from './lib/benchmarks-md.ts';
import { saveResults } from './lib/results-files.ts';
import { progressLog } from './lib/settings.ts';

const log = progressLog('dashboard-weight');
const root = resolve(import.meta.dirname, '..');
const BEGIN = '<!-- BEGIN dashboard-weight: written by npm run bench:dashboard-weight -->';
const END = '<!-- END dashboard-weight -->';

/** The pages measured, with what each shows in the model; the fixture's other variants (empty, filtered, hostile) are left out. */
const PAGES: Record<string, string> = {
  'sign-in': 'sign-in form',
  sites: '3 sites',
  'site-deploys': '50 deploys',
  'deploy-running': 'a running deploy, 200 log lines',
  releases: '20 releases',
  rollback: 'rollback confirmation',
  certificates: '4 certificates',
  message: 'a 404 message',
};

interface Weight {
  raw: number;
  gzip: number;
}

interface PageWeight {
  page: string;
  shows: string;
  html: Weight;
  /** HTML + CSS + JS: a first visit. Later visits fetch the HTML only (the assets are cached as immutable). */
  total: Weight;
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

function renderSection(results: { startedAt: string; commit: string; css: Weight; js: Weight; pages: PageWeight[] }, resultsPath: string): string {
  const rows = results.pages.map((p) => `| ${p.page} | ${p.shows} | ${kib(p.html.raw)} | ${kib(p.html.gzip)} | ${kib(p.total.raw)} | ${kib(p.total.gzip)} |`);
  return [
    '## Dashboard page weight',
    '',
    `Measured by \`npm run bench:dashboard-weight\` on ${results.startedAt.replace('T', ' ').slice(0, 16)} UTC at commit ${results.commit}. The benchmark writes`,
    `this section itself; run it again to refresh the numbers. The raw results of this run are in \`${resultsPath}\` (not committed).`,
    '',
    'These are sizes, not timings: the bytes a browser receives for each dashboard page, rendered from',
    'a realistic model with a fixed clock (`test/helpers/dashboard-models.ts`), so they depend only on the',
    'commit, not on the machine. HTML is gzipped at level 6, as a server compressing on the fly would;',
    'the stylesheet and script as the app serves them, precompressed at level 9. Every page loads the same two assets,',
    `at content-hashed paths cached as immutable, so only a first visit pays for them: CSS ${kib(results.css.raw)} (${kib(results.css.gzip)} gzipped),`,
    `JS ${kib(results.js.raw)} (${kib(results.js.gzip)} gzipped).`,
    '',
    '| page | model | HTML | HTML gzip | HTML + CSS + JS | HTML + CSS + JS gzip |',
    '|---|---|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const { execFileSync } = await import('node:child_process');
  const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const rendered = renderDashboardPages({ sites: 3, deploys: 50, logLines: 200 });
  const css = { raw: DASHBOARD_CSS.body.length, gzip: DASHBOARD_CSS.gzip.length };
  const js = { raw: DASHBOARD_JS.body.length, gzip: DASHBOARD_JS.gzip.length };
  const pages: PageWeight[] = Object.entries(PAGES).map(([page, shows]) => {
    const page_ = rendered.find((r) => r.name === page);
    if (page_ === undefined) throw new Error(`The fixture renders no page named ${page}`);
    const body = Buffer.from(page_.html);
    const html = { raw: body.length, gzip: gzipSync(body, { level: 6 }).length };
    return { page, shows, html, total: { raw: html.raw + css.raw + js.raw, gzip: html.gzip + css.gzip + js.gzip } };
  });
  const results = { startedAt, commit, command: 'npm run bench:dashboard-weight', css, js, pages };
  const section = saveResults(root, 'dashboard-weight-', results, (rel) => renderSection(results, rel), log);
  if (process.env.BENCH_WRITE_DOC === '0') {
    log('BENCHMARKS.md left as it is (BENCH_WRITE_DOC=0)');
  } else {
    replaceMarkedSection(join(root, 'BENCHMARKS.md'), BEGIN, END, section);
    log('BENCHMARKS.md: "Dashboard page weight" section rewritten');
  }
}

main().catch((err: unknown) => {
  console.error(`dashboard-weight: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
