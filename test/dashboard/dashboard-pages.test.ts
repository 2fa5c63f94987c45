import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARD_ROUTES } from '../../src/dashboard/dashboard-paths.ts';
import { DASHBOARD_CSS, DASHBOARD_JS } from '../../src/dashboard/dashboard-assets.ts';
import { HOSTILE, renderDashboardPages, type RenderedPage } from '../helpers/dashboard-models.ts';

interface Tag {
  name: string;
  attributes: Map<string, string>;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
const decode = (value: string): string => value.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ENTITY[name] ?? '');

/** Every start tag and its attributes. The pages quote every attribute value with `"`, which escaping keeps out of values. */
function tagsOf(page: string): Tag[] {
  const tags: Tag[] = [];
  for (const match of page.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:="[^"]*")?)*)\s*\/?>/g)) {
    const attributes = new Map<string, string>();
    for (const attribute of (match[2] ?? '').matchAll(/\s+([^\s"'>/=]+)(?:="([^"]*)")?/g)) attributes.set((attribute[1] ?? '').toLowerCase(), decode(attribute[2] ?? ''));
    tags.push({ name: (match[1] ?? '').toLowerCase(), attributes });
  }
  return tags;
}

const ROUTE_PATTERNS = Object.values(DASHBOARD_ROUTES).map((route) => new RegExp(`^${route.replace(/:[a-z]+/g, '[^/?#]+')}$`));

/** A URL the pages may point at: a dashboard route (with a query), a fragment, or an outside http(s) page. */
function allowedUrl(url: string): boolean {
  if (/^#[a-z-]+$/.test(url)) return true;
  if (/^https?:\/\//.test(url)) return true;
  const path = url.split('?')[0] ?? '';
  return ROUTE_PATTERNS.some((pattern) => pattern.test(path));
}

const URL_ATTRIBUTES = ['href', 'src', 'action', 'data-follow', 'formaction'];

describe('dashboard pages', () => {
  let pages: RenderedPage[] = [];
  let hostilePages: RenderedPage[] = [];
  let dir = '';

  before(async () => {
    pages = renderDashboardPages();
    hostilePages = renderDashboardPages({ hostile: true, deploys: 12, logLines: 20 });
    dir = await mkdtemp(join(tmpdir(), 'berth-dashboard-'));
    for (const page of pages) await writeFile(join(dir, `${page.name}.html`), page.html);
    for (const page of hostilePages) await writeFile(join(dir, `hostile-${page.name}.html`), page.html);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are complete documents with a language, a title and a viewport', () => {
    for (const page of [...pages, ...hostilePages]) {
      assert.ok(page.html.startsWith('<!doctype html>\n<html lang="en">'), page.name);
      assert.match(page.html, /<title>[^<]+ · Berth<\/title>/, page.name);
      assert.match(page.html, /<meta name="viewport" content="width=device-width, initial-scale=1">/, page.name);
      assert.equal(page.html.match(/<h1>/g)?.length, 1, `${page.name}: one h1`);
    }
  });

  it('are valid according to the Nu HTML Checker, hostile values included', async () => {
    const jar = join(dirname(createRequire(import.meta.url).resolve('vnu-jar')), 'build/dist/vnu.jar');
    const output = await new Promise<string>((resolve, reject) => {
      // vnu prints its JSON report on stderr and exits 1 when it found errors.
      execFile('java', ['-jar', jar, '--format', 'json', dir], { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error !== null && stderr.trim() === '') reject(error);
        else resolve(stderr);
      });
    });
    const report = JSON.parse(output) as { messages: Array<{ type: string; message: string; url?: string; lastLine?: number }> };
    const problems = report.messages.filter((message) => message.type === 'error' || message.type === 'non-document-error');
    assert.deepEqual(problems.map((problem) => `${(problem.url ?? '').split('/').at(-1) ?? ''}:${problem.lastLine ?? ''} ${problem.message}`), []);
  });

  it('have no inline script, inline style or event handler attribute', () => {
    for (const page of [...pages, ...hostilePages]) {
      const tags = tagsOf(page.html);
      const scripts = tags.filter((tag) => tag.name === 'script');
      assert.deepEqual(scripts.map((tag) => tag.attributes.get('src')), [DASHBOARD_JS.path], `${page.name}: one script, the hashed file`);
      assert.equal(page.html.match(/<script\b/gi)?.length, 1, `${page.name}: no other script element`);
      assert.ok(!/<style\b/i.test(page.html), `${page.name}: no <style>`);
      for (const tag of tags) {
        for (const name of tag.attributes.keys()) {
          assert.ok(name !== 'style' && !name.startsWith('on'), `${page.name}: <${tag.name} ${name}>`);
        }
      }
      assert.ok(tags.some((tag) => tag.name === 'link' && tag.attributes.get('href') === DASHBOARD_CSS.path), `${page.name}: links the hashed stylesheet`);
    }
  });

  it('link only to the dashboard paths, fragments and outside http(s) pages', () => {
    for (const page of [...pages, ...hostilePages]) {
      for (const tag of tagsOf(page.html)) {
        for (const attribute of URL_ATTRIBUTES) {
          const url = tag.attributes.get(attribute);
          if (url !== undefined) assert.ok(allowedUrl(url), `${page.name}: <${tag.name} ${attribute}="${url}">`);
        }
      }
    }
  });

  it('escape every value from outside: no markup, no script URL gets through', () => {
    for (const page of hostilePages) {
      assert.ok(!page.html.includes(HOSTILE), `${page.name}: the hostile string appears unescaped`);
      assert.ok(!/<img/i.test(page.html), `${page.name}: an <img> got through`);
      // These are rendered from fixed text in the hostile set too.
      if (!['sign-in-error', 'sites-empty', 'message-signed-out'].includes(page.name)) {
        assert.ok(page.html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${page.name}: the hostile text is shown, escaped`);
      }
      for (const tag of tagsOf(page.html)) {
        for (const attribute of URL_ATTRIBUTES) {
          const url = tag.attributes.get(attribute) ?? '';
          assert.ok(!/^\s*(javascript|data|vbscript):/i.test(url), `${page.name}: <${tag.name} ${attribute}="${url}">`);
        }
      }
    }
  });

  it('lead a back link that is not a path on this host to the sites instead', () => {
    const page = hostilePages.find((p) => p.name === 'message-signed-out')?.html ?? '';
    assert.match(page, /<p><a href="\/">Sites<\/a><\/p>/);
  });

  it('carry the CSRF token in every POST form except the sign-in forms', () => {
    for (const page of pages) {
      const forms = [...page.html.matchAll(/<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
      for (const [, action, body] of forms) {
        if (action === DASHBOARD_ROUTES.signIn) continue;
        assert.match(body ?? '', /<input type="hidden" name="csrf" value="[^"]+">/, `${page.name}: form to ${action ?? ''}`);
      }
    }
    for (const page of pages.filter((p) => !p.name.startsWith('sign-in') && p.name !== 'message-signed-out')) {
      assert.match(page.html, /<meta name="csrf-token" content="[^"]+">/, page.name);
    }
  });

  it('show the sign-in forms with the fields the app reads', () => {
    const signIn = pages.find((page) => page.name === 'sign-in')?.html ?? '';
    assert.match(signIn, /<form method="post" action="\/_berth\/sign-in"/);
    assert.match(signIn, /name="name"/);
    assert.match(signIn, /name="password" type="password"/);
    assert.match(signIn, /<button type="button" id="passkey-sign-in"[^>]* hidden>/);
    assert.match(signIn, /role="alert"/);
    const link = pages.find((page) => page.name === 'sign-in-link')?.html ?? '';
    assert.match(link, /<h1>Sign in as alice<\/h1>/);
    assert.match(link, /<input type="hidden" name="token" value="Yx3uVbq0m4pS7rZ1cT9wQe2Lk8HnJfA6dG5sB0oX-_4">/);
  });

  it('render a running deploy\'s log with numbered lines and where to follow it', () => {
    const running = pages.find((page) => page.name === 'deploy-running')?.html ?? '';
    assert.match(running, /<pre id="log" class="log" tabindex="0" data-follow="\/_berth\/api\/v1\/deploys\/d005000\/log" data-last="200">/);
    assert.equal(running.match(/<span data-n="\d+">/g)?.length, 200);
    assert.match(running, /Cancel this deploy/);
    const failed = pages.find((page) => page.name === 'deploy-failed')?.html ?? '';
    assert.ok(!failed.includes('data-follow'), 'a finished deploy is not followed');
    assert.match(failed, /E_BUILD_FAILED/);
    assert.ok(!failed.includes('Cancel this deploy'));
  });

  it('show times as <time> with the exact moment, and phases as a labelled bar', () => {
    const deploys = pages.find((page) => page.name === 'site-deploys')?.html ?? '';
    assert.match(deploys, /<time datetime="2026-12-04T11:58:00.000Z" title="2026-12-04 11:58:00 UTC">2 min ago<\/time>/);
    assert.match(deploys, /<svg class="phase-bar"[^>]* role="img" aria-label="queued 400 ms, fetch 1.2 s, build 8.0 s">/);
    assert.match(deploys, /<form method="get" action="\/sites\/blog"/);
    assert.match(deploys, /name="state"/);
    assert.match(deploys, /name="branch"/);
  });

  it('link a full page of deploys to the older ones, with its filter and the last id shown', () => {
    const links = (name: string): string[] =>
      tagsOf(pages.find((page) => page.name === name)?.html ?? '')
        .filter((tag) => tag.name === 'a' && (tag.attributes.get('href') ?? '').includes('before='))
        .map((tag) => tag.attributes.get('href') ?? '');
    const [full] = links('site-deploys');
    const query = new URLSearchParams(full?.split('?')[1]);
    const deployLinks = tagsOf(pages.find((page) => page.name === 'site-deploys')?.html ?? '')
      .map((tag) => tag.attributes.get('href') ?? '')
      .filter((href) => href.startsWith('/deploys/'));
    assert.equal(query.get('before'), deployLinks.at(-1)?.slice('/deploys/'.length), 'the last deploy on the page');
    assert.equal(query.get('state'), null);
    const [older] = links('site-deploys-older');
    const kept = new URLSearchParams(older?.split('?')[1]);
    assert.deepEqual([kept.get('state'), kept.get('branch')], ['live', 'main']);
    assert.deepEqual(links('site-deploys-filtered'), [], 'no link under an empty page');
    const hostileOlder = tagsOf(hostilePages.find((page) => page.name === 'site-deploys-older')?.html ?? '').find((tag) => tag.name === 'a' && (tag.attributes.get('href') ?? '').includes('before='));
    assert.equal(new URLSearchParams(hostileOlder?.attributes.get('href')?.split('?')[1]).get('branch'), HOSTILE, 'a hostile branch round-trips in the query, escaped');
  });

  it('ask before a rollback, naming the target and the live release', () => {
    const rollback = pages.find((page) => page.name === 'rollback')?.html ?? '';
    assert.match(rollback, /<form method="post" action="\/sites\/blog\/releases\/r20261204119500\/rollback"/);
    assert.match(rollback, /<input type="hidden" name="release" value="r20261204119500">/);
    assert.match(rollback, /instead of the live release <code>r20261204119900<\/code>/);
  });
});
