import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { dashboardAsset } from '../../src/dashboard/dashboard-assets.ts';
import { renderDashboardPages } from '../helpers/dashboard-models.ts';

/**
 * The pages in Chromium, served with the content security policy the app
 * will send: axe-core's WCAG 2.1 AA and best-practice rules in the light and
 * the dark scheme, no horizontal page scroll at 360 px, nothing the policy
 * blocks, and dashboard.js following a deploy's log from a stand-in event
 * stream.
 */

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/** The running deploy of the fixture, and the lines the stand-in stream sends after the 200 on the page. */
const LOG_EVENTS = '/_berth/api/v1/deploys/d005000/log';
const MORE_LINES = ['> astro build', 'done in 8.1 s <b>not bold</b>'];

describe('dashboard pages in a browser', () => {
  const pages = new Map(renderDashboardPages().map((page) => [`/${page.name}`, page.html]));
  let server: Server;
  let origin = '';
  let browser: Browser;
  let axeSource = '';
  let followedFrom: string | null = null;

  before(async () => {
    // axe-core as Lighthouse ships it (Lighthouse is a dev dependency; axe-core comes with it).
    axeSource = await readFile(createRequire(import.meta.resolve('lighthouse')).resolve('axe-core/axe.min.js'), 'utf8');
    server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const asset = dashboardAsset(url.pathname);
      if (asset !== undefined) {
        response.writeHead(200, { 'content-type': asset.contentType });
        response.end(asset.body);
      } else if (url.pathname === LOG_EVENTS) {
        followedFrom = url.searchParams.get('after');
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
        response.write(': heartbeat\n\n');
        MORE_LINES.forEach((line, i) => response.write(`id: ${201 + i}\nevent: line\ndata: ${line}\n\n`));
        response.end('event: end\ndata: {"state":"live"}\n\n');
      } else if (pages.has(url.pathname)) {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP });
        response.end(pages.get(url.pathname));
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' });
        response.end('not found');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function open(path: string, colorScheme: 'light' | 'dark'): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 360, height: 740 }, colorScheme });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
    });
    await page.goto(`${origin}${path}`);
    return { page, problems };
  }

  for (const colorScheme of ['light', 'dark'] as const) {
    it(`pass axe-core and fit 360 px, ${colorScheme} scheme`, async () => {
      const failures: string[] = [];
      const page = await browser.newPage({ viewport: { width: 360, height: 740 }, colorScheme });
      // Added through the debugging protocol, which the page's policy does not govern.
      await page.addInitScript(axeSource);
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
      for (const path of pages.keys()) {
        await page.goto(`${origin}${path}`);
        const violations = (await page.evaluate(`axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
          .then((result) => result.violations.map((violation) => violation.id + ' at ' + violation.nodes.map((node) => node.target.join(' ')).join(', ')))`)) as string[];
        const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
        failures.push(...violations.map((v) => `${path}: ${v}`), ...problems.splice(0).map((p) => `${path}: ${p}`));
        if (width > 360) failures.push(`${path}: the page is ${width} px wide`);
      }
      await page.close();
      assert.deepEqual(failures, []);
    });
  }

  it('follow a running deploy\'s log after the lines on the page, then announce its end', async () => {
    const { page, problems } = await open('/deploy-running', 'light');
    await page.waitForFunction(`document.getElementById('log-status').textContent === 'The deploy ended: live.'`);
    const lines = await page.$$eval('#log > span', (spans) => spans.slice(-3).map((span) => [span.getAttribute('data-n'), span.textContent]));
    assert.equal(followedFrom, '200');
    assert.deepEqual(lines, [['200', lines[0]?.[1] ?? ''], ['201', MORE_LINES[0]], ['202', MORE_LINES[1]]]);
    assert.equal(await page.$$eval('#log b', (bold) => bold.length), 0, 'a line is text, never markup');
    assert.equal(await page.getAttribute('#log', 'data-follow'), null);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it('shows the passkey buttons only where the browser has WebAuthn', async () => {
    const { page } = await open('/sign-in', 'light');
    assert.equal(await page.isVisible('#passkey-sign-in'), true);
    await page.close();
    const sites = await open('/sites', 'light');
    assert.equal(await sites.page.isVisible('#passkey-add'), true);
    await sites.page.close();
  });
});
