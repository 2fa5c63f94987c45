import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse, { desktopConfig, type Config, type Flags, type Result } from 'lighthouse';
import { buildBlog } from './blog.ts';
import { startTestServer } from './server.ts';

/**
 * Lighthouse on the example blog as Berth serves it, for the blog's tests
 * (test/blog/lighthouse.test.ts) and the score's benchmark
 * (bench/lighthouse.ts): the built dist/ is published as a release and
 * served in-process, and Debian's Chromium (scripts/test-deps.sh installs
 * it) loads it headless.
 */

const CHROMIUM = '/usr/bin/chromium';
export const CHROME_FLAGS = [
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
export const DARK_FLAGS = ['--force-dark-mode', '--blink-settings=preferredColorScheme=0'];
export const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
/** The pages audited: the home page and a post with the hero image. */
export const PAGES = { home: '/', post: '/blog/deploying-with-berth/', tags: '/tags/' } as const;
export type Preset = 'mobile' | 'desktop';

async function readTree(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files[relative(root, path).split(sep).join('/')] = await readFile(path);
  }
  return files;
}

/** Builds the blog and serves it with Berth on a free port; `scope.after` stops the server. */
export async function serveBlog(scope: { after(fn: () => unknown): void }): Promise<string> {
  const dist = await buildBlog();
  const server = await startTestServer(scope as Parameters<typeof startTestServer>[0], { files: { site: await readTree(dist) } });
  return `http://127.0.0.1:${server.httpPort}`;
}

/** One Lighthouse run of `url` in a Chromium of its own, which is stopped after it. */
export async function runLighthouse(url: string, preset: Preset, chromeFlags: string[], categories: string[]): Promise<Result> {
  const chrome = await chromeLauncher.launch({ chromePath: CHROMIUM, chromeFlags, logLevel: 'error' });
  try {
    const flags: Flags = { port: chrome.port, output: 'json', logLevel: 'error', onlyCategories: categories };
    const config: Config | undefined = preset === 'desktop' ? desktopConfig : undefined;
    const result = await lighthouse(url, flags, config);
    assert.ok(result !== undefined, 'Lighthouse returned a result');
    const { lhr } = result;
    assert.equal(lhr.runtimeError, undefined, `Lighthouse could not load ${url}: ${lhr.runtimeError?.message}`);
    return lhr;
  } finally {
    chrome.kill();
  }
}
