import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse, { desktopConfig, type Config, type Flags, type Result } from 'lighthouse';
import { buildBlog } from '../helpers/blog.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Lighthouse audits of the example blog as Berth serves it: the built
 * dist/ is published as a release and served in-process, and Debian's
 * Chromium (installed by scripts/test-deps.sh) loads it headless.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROME_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Chromium told that the system prefers a dark colour scheme, for the dark theme's contrast. */
const DARK_FLAGS = ['--force-dark-mode', '--blink-settings=preferredColorScheme=0'];
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const PAGES = { home: '/', post: '/blog/deploying-with-berth/' } as const;

async function readTree(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(root, path).split(sep).join('/')] = await readFile(path);
  }
  return files;
}

/** The audits that cost a category points: id and score, for the failure message and the log. */
function failingAudits(lhr: Result, category: string): string[] {
  const refs = lhr.categories[category]?.auditRefs ?? [];
  return refs
    .filter((ref) => ref.weight > 0)
    .map((ref) => lhr.audits[ref.id])
    .filter((audit) => audit !== undefined && audit.score !== null && audit.score < 1)
    .map((audit) => `${audit?.id} (${audit?.score})`);
}

describe('Lighthouse on the example blog served by Berth', () => {
  let server: TestServer;
  let origin = '';
  let chrome: chromeLauncher.LaunchedChrome | undefined;
  // One server for the whole suite: its clean-ups (stop, remove the data
  // dir) are collected here and run once the last test is done.
  const cleanups: Array<() => unknown> = [];
  const suite = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;

  before(async () => {
    const dist = await buildBlog();
    server = await startTestServer(suite, { files: { site: await readTree(dist) } });
    origin = `http://127.0.0.1:${server.httpPort}`;
  });

  after(async () => {
    await chrome?.kill();
    for (const cleanup of cleanups) await cleanup();
  });

  async function audit(path: string, preset: 'mobile' | 'desktop', chromeFlags: string[], categories: string[]): Promise<Result> {
    chrome = await chromeLauncher.launch({ chromePath: CHROMIUM, chromeFlags, logLevel: 'error' });
    try {
      const flags: Flags = { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: categories };
      const config: Config | undefined = preset === 'desktop' ? desktopConfig : undefined;
      const result = await lighthouse(`${origin}${path}`, flags, config);
      assert.ok(result !== undefined, 'Lighthouse returned a result');
      const { lhr } = result;
      assert.equal(lhr.runtimeError, undefined, `Lighthouse could not load ${path}: ${lhr.runtimeError?.message}`);
      return lhr;
    } finally {
      await chrome.kill();
      chrome = undefined;
    }
  }

  for (const [name, path] of Object.entries(PAGES)) {
    for (const preset of ['mobile', 'desktop'] as const) {
      test(`${name} page (${path}), ${preset}: 100 in every category`, async () => {
        const lhr = await audit(path, preset, CHROME_FLAGS, CATEGORIES);
        const scores = CATEGORIES.map((id) => `${id} ${Math.round((lhr.categories[id]?.score ?? 0) * 100)}`);
        console.log(`# lighthouse ${name} ${preset}: ${scores.join(', ')}`);
        for (const id of CATEGORIES) {
          assert.equal(lhr.categories[id]?.score, 1, `${id} on ${path} (${preset}) is ${lhr.categories[id]?.score}; failing: ${failingAudits(lhr, id).join(', ')}`);
        }
      });
    }
  }

  test('the dark theme passes the accessibility audit too (colour contrast)', async () => {
    for (const [name, path] of Object.entries({ ...PAGES, code: '/blog/code-highlighting/' })) {
      const lhr = await audit(path, 'desktop', [...CHROME_FLAGS, ...DARK_FLAGS], ['accessibility']);
      console.log(`# lighthouse ${name} dark: accessibility ${Math.round((lhr.categories.accessibility?.score ?? 0) * 100)}`);
      assert.equal(lhr.audits['color-contrast']?.score, 1, `colour contrast on ${path} in the dark theme: ${JSON.stringify(lhr.audits['color-contrast']?.details)}`);
      assert.equal(lhr.categories.accessibility?.score, 1, `accessibility on ${path} in the dark theme; failing: ${failingAudits(lhr, 'accessibility').join(', ')}`);
    }
  });
});
