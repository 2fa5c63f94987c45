import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { CHROME_FLAGS, serveBlog } from '../helpers/lighthouse.ts';

/** What the code run in the page uses of it: this project's TypeScript has no DOM types. */
interface InPage {
  getComputedStyle(element: unknown): { textDecorationLine: string; color: string };
  document: { body: unknown };
}

/**
 * What the starter blog looks like in a real browser, in the ways a reader
 * notices: a home page that fills the screen with posts and topics, list
 * titles that read as titles, topics as a row rather than a column.
 */
describe('the starter blog in a browser', () => {
  let origin = '';
  let browser: Browser | undefined;
  const cleanups: Array<() => unknown> = [];
  const suite = { after: (fn: () => unknown) => cleanups.push(fn) } as unknown as TestContext;

  before(async () => {
    origin = await serveBlog(suite);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROME_FLAGS });
  });

  after(async () => {
    await browser?.close();
    for (const cleanup of cleanups) await cleanup();
  });

  test('the home page lists five posts and the topics, and fills a desktop screen', async () => {
    const tab = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    await tab.goto(`${origin}/`);
    assert.equal(await tab.locator('main .post-list > li').count(), 5);
    assert.ok((await tab.locator('main .tag-index > li').count()) >= 3, 'the topics are listed');
    // Run in the page, written as source: this project's TypeScript has no DOM types.
    const height = (await tab.evaluate('document.documentElement.scrollHeight')) as number;
    assert.ok(height >= 900, `the page is ${height} px high: it leaves the screen half empty`);
    await tab.close();
  });

  test('a title in a list is in the text colour and not underlined until pointed at', async () => {
    const tab = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    await tab.goto(`${origin}/blog/`);
    const link = tab.locator('.post-list-title a').first();
    const style = await link.evaluate((element) => {
      const page = globalThis as unknown as InPage;
      return { decoration: page.getComputedStyle(element).textDecorationLine, color: page.getComputedStyle(element).color, text: page.getComputedStyle(page.document.body).color };
    });
    assert.equal(style.decoration, 'none');
    assert.equal(style.color, style.text);
    await link.hover();
    assert.equal(await link.evaluate((element) => (globalThis as unknown as InPage).getComputedStyle(element).textDecorationLine), 'underline', 'underlined under the pointer');
    await tab.close();
  });

  test('the tag index sets its tags in rows, several to a line', async () => {
    const tab = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    await tab.goto(`${origin}/tags/`);
    const tops = await tab.locator('.tag-index > li').evaluateAll((items) => items.map((item) => Math.round((item as unknown as { getBoundingClientRect(): { top: number } }).getBoundingClientRect().top)));
    assert.ok(tops.length >= 3);
    assert.ok(new Set(tops).size < tops.length, `each tag on a line of its own (tops ${tops.join(', ')})`);
    await tab.close();
  });
});
