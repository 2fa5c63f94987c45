import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { before, describe, test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { BLOG_DIR, buildBlog } from '../helpers/blog.ts';

/** The `site` the test build uses (astro.config.mjs's default, no SITE_URL). */
const SITE = 'https://blog.example.com';

interface Source {
  slug: string;
  title: string;
  draft: boolean;
}

/** The posts, read straight from the Markdown front matter. */
async function readPosts(): Promise<Source[]> {
  const dir = join(BLOG_DIR, 'src/content/blog');
  const posts: Source[] = [];
  for (const name of (await readdir(dir)).filter((file) => file.endsWith('.md'))) {
    const text = await readFile(join(dir, name), 'utf8');
    const front = /^---\n([\s\S]*?)\n---/.exec(text)?.[1];
    assert.ok(front !== undefined, `${name} has front matter`);
    const title = /^title:\s*(.+)$/m.exec(front)?.[1]?.replace(/^["']|["']$/g, '');
    assert.ok(title !== undefined, `${name} has a title`);
    posts.push({ slug: name.slice(0, -'.md'.length), title, draft: /^draft:\s*true\s*$/m.test(front) });
  }
  return posts;
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

/** The URL a file in dist/ is served at: `blog/a/index.html` → `/blog/a/`. */
function pageUrl(file: string): URL {
  return new URL(file.endsWith('index.html') ? file.slice(0, -'index.html'.length) : file, `${SITE}/`);
}

/** The file in dist/ that answers `pathname`, if any. */
function targetFile(dist: string, pathname: string): string | undefined {
  const path = join(dist, decodeURIComponent(pathname));
  if (pathname.endsWith('/')) return existsSync(join(path, 'index.html')) ? join(path, 'index.html') : undefined;
  if (!existsSync(path)) return undefined;
  if (statSync(path).isDirectory()) return existsSync(join(path, 'index.html')) ? join(path, 'index.html') : undefined;
  return path;
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Every URL an HTML page points at: href, src, srcset, and content of og:/twitter: URL metas. */
function linksIn(html: string): string[] {
  const links: string[] = [];
  for (const match of html.matchAll(/\s(href|src|srcset)=(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
    const value = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
    if (match[1]?.toLowerCase() === 'srcset') {
      for (const candidate of value.split(',')) {
        const url = candidate.trim().split(/\s+/)[0];
        if (url) links.push(url);
      }
    } else links.push(value);
  }
  for (const match of html.matchAll(/<meta\s+(?:property|name)="(?:og:url|og:image|twitter:image)"\s+content="([^"]*)"/gi)) {
    links.push(decodeEntities(match[1] ?? ''));
  }
  return links;
}

describe('the example blog, built', () => {
  let dist = '';
  let files: string[] = [];
  let htmlFiles: string[] = [];
  let posts: Source[] = [];
  let published: Source[] = [];
  let drafts: Source[] = [];

  before(async () => {
    dist = await buildBlog();
    files = await listFiles(dist);
    htmlFiles = files.filter((file) => file.endsWith('.html'));
    posts = await readPosts();
    published = posts.filter((post) => !post.draft);
    drafts = posts.filter((post) => post.draft);
  });

  test('has the pages a blog needs, with at least 6 published posts and a draft', () => {
    assert.ok(published.length >= 6, `${published.length} published posts`);
    assert.ok(drafts.length >= 1, 'a draft post proves drafts are left out');
    for (const page of ['index.html', '404.html', 'about/index.html', 'blog/index.html', 'blog/2/index.html', 'tags/index.html', 'rss.xml', 'robots.txt', 'sitemap-index.xml']) {
      assert.ok(files.includes(page), `dist/${page} exists`);
    }
    for (const post of published) assert.ok(files.includes(`blog/${post.slug}/index.html`), `the page of post ${post.slug}`);
    assert.ok(files.some((file) => /^tags\/[^/]+\/index\.html$/.test(file)), 'a page per tag');
    assert.ok(files.some((file) => /^_astro\/.+\.webp$/.test(file)), 'images optimised by Astro into WebP');
  });

  test('every HTML page is valid according to the Nu HTML Checker', async () => {
    const jar = join(dirname(createRequire(import.meta.url).resolve('vnu-jar')), 'build/dist/vnu.jar');
    const output = await new Promise<string>((resolve, reject) => {
      // vnu prints its JSON report on stderr and exits 1 when it found errors.
      execFile('java', ['-jar', jar, '--format', 'json', '--skip-non-html', dist], { maxBuffer: 64 * 1024 * 1024 }, (error, _stdout, stderr) => {
        if (error !== null && stderr.trim() === '') reject(error);
        else resolve(stderr);
      });
    });
    const report = JSON.parse(output) as { messages: Array<{ type: string; subType?: string; message: string; url?: string; lastLine?: number }> };
    const errors = report.messages.filter((message) => message.type === 'error' || message.type === 'non-document-error');
    assert.deepEqual(
      errors.map((error) => `${error.url ?? ''}:${error.lastLine ?? ''} ${error.message}`),
      [],
    );
  });

  test('no HTML page contains a script', async () => {
    for (const file of htmlFiles) {
      const html = await readFile(join(dist, file), 'utf8');
      assert.ok(!/<script/i.test(html), `dist/${file} has a <script>`);
    }
  });

  test('every internal link, image and fragment points at something that exists', async () => {
    let checked = 0;
    const problems: string[] = [];
    const idsCache = new Map<string, Set<string>>();
    const idsOf = async (file: string): Promise<Set<string>> => {
      let ids = idsCache.get(file);
      if (ids === undefined) {
        const html = await readFile(file, 'utf8');
        ids = new Set([...html.matchAll(/\sid="([^"]+)"/g)].map((match) => decodeEntities(match[1] ?? '')));
        idsCache.set(file, ids);
      }
      return ids;
    };
    for (const file of htmlFiles) {
      const html = await readFile(join(dist, file), 'utf8');
      const base = pageUrl(file);
      for (const link of linksIn(html)) {
        if (/^mailto:/i.test(link)) continue;
        const url = new URL(link, base);
        if (url.origin !== SITE) {
          assert.match(url.protocol, /^https?:$/, `dist/${file}: unexpected link ${link}`);
          continue; // an external site
        }
        checked++;
        const target = targetFile(dist, url.pathname);
        if (target === undefined) {
          problems.push(`dist/${file}: ${link} → ${url.pathname} does not exist`);
          continue;
        }
        if (url.hash !== '' && !(await idsOf(target)).has(decodeURIComponent(url.hash.slice(1)))) {
          problems.push(`dist/${file}: ${link} → no element with id ${url.hash} in ${relative(dist, target)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked >= htmlFiles.length * 5, `checked ${checked} internal links`);
    console.log(`# checked ${checked} internal links in ${htmlFiles.length} HTML pages`);
  });

  test('every page has a language, one h1, landmarks, a skip link, a description and a canonical URL', async () => {
    for (const file of htmlFiles) {
      const html = await readFile(join(dist, file), 'utf8');
      const where = `dist/${file}`;
      assert.match(html, /<html lang="en"/, `${where}: lang`);
      assert.equal(html.match(/<h1[\s>]/g)?.length, 1, `${where}: exactly one h1`);
      for (const landmark of ['<header', '<nav', '<main id="main"', '<footer']) assert.ok(html.includes(landmark), `${where}: ${landmark}`);
      assert.match(html, /<a class="skip-link" href="#main">/, `${where}: skip link`);
      const description = /<meta name="description" content="([^"]+)"/.exec(html)?.[1];
      assert.ok(description !== undefined && description.length >= 30, `${where}: a meta description`);
      if (file === '404.html') assert.match(html, /<meta name="robots" content="noindex"/, `${where}: not indexed`);
      else assert.match(html, /<link rel="canonical" href="https:\/\/blog\.example\.com\//, `${where}: canonical URL`);
      for (const meta of ['og:title', 'og:description', 'og:image']) assert.ok(html.includes(`property="${meta}"`), `${where}: ${meta}`);
      assert.ok(html.includes('name="twitter:card"'), `${where}: twitter:card`);
      for (const img of html.match(/<img\s[^>]*>/g) ?? []) assert.match(img, /\salt="[^"]+"/, `${where}: ${img} has alt text`);
      assert.doesNotMatch(html, /fonts\.googleapis|@font-face|@import url\(/, `${where}: no web fonts`);
    }
  });

  test('the blog index is paginated by 5, newest first, and posts link to their neighbours', async () => {
    const first = await readFile(join(dist, 'blog/index.html'), 'utf8');
    const second = await readFile(join(dist, 'blog/2/index.html'), 'utf8');
    const slugsOn = (html: string): string[] => [...html.matchAll(/<a href="\/blog\/([^/"]+)\/">/g)].map((match) => match[1] ?? '');
    assert.equal(slugsOn(first).length, 5);
    assert.deepEqual([...slugsOn(first), ...slugsOn(second)].sort(), published.map((post) => post.slug).sort());
    assert.match(first, /href="\/blog\/2\/" rel="next"/);
    assert.match(second, /href="\/blog\/" rel="prev"/);
    const dates = [...first.matchAll(/<time datetime="([^"]+)"/g)].map((match) => match[1] ?? '');
    assert.deepEqual(dates, [...dates].sort().reverse(), 'newest first');

    const long = await readFile(join(dist, 'blog/deploying-with-berth/index.html'), 'utf8');
    assert.match(long, /<nav class="toc"/, 'the long post has a table of contents');
    assert.match(long, /\d+ min read/);
    assert.match(long, /rel="prev"/);
    assert.match(long, /rel="next"/);
    assert.match(long, /class="astro-code[^"]*"[^>]*style="[^"]*--shiki-dark/, 'code highlighted at build time in both themes');
    const short = await readFile(join(dist, 'blog/welcome/index.html'), 'utf8');
    assert.doesNotMatch(short, /<nav class="toc"/, 'a short post has no table of contents');
  });

  test('the RSS feed is well-formed XML and lists every published post, not the draft', async () => {
    const xml = await readFile(join(dist, 'rss.xml'), 'utf8');
    assert.equal(XMLValidator.validate(xml), true);
    const feed = new XMLParser({ isArray: (name) => name === 'item' }).parse(xml) as { rss: { channel: { title: string; item: Array<{ link: string; title: string }> } } };
    const links = feed.rss.channel.item.map((item) => item.link).sort();
    assert.deepEqual(links, published.map((post) => `${SITE}/blog/${post.slug}/`).sort());
    for (const draft of drafts) assert.ok(!xml.includes(draft.slug), `the feed mentions draft ${draft.slug}`);
  });

  test('the sitemap is well-formed XML and lists every page but the 404 and no draft; robots.txt points at it', async () => {
    const index = await readFile(join(dist, 'sitemap-index.xml'), 'utf8');
    assert.equal(XMLValidator.validate(index), true);
    const parser = new XMLParser({ isArray: (name) => name === 'sitemap' || name === 'url' });
    const sitemaps = (parser.parse(index) as { sitemapindex: { sitemap: Array<{ loc: string }> } }).sitemapindex.sitemap.map((entry) => entry.loc);
    assert.ok(sitemaps.length >= 1);
    const urls: string[] = [];
    for (const loc of sitemaps) {
      assert.ok(loc.startsWith(`${SITE}/`), loc);
      const xml = await readFile(join(dist, new URL(loc).pathname), 'utf8');
      assert.equal(XMLValidator.validate(xml), true, `${loc} is well-formed`);
      urls.push(...(parser.parse(xml) as { urlset: { url: Array<{ loc: string }> } }).urlset.url.map((entry) => entry.loc));
    }
    const pages = htmlFiles.filter((file) => file !== '404.html').map((file) => pageUrl(file).href);
    assert.deepEqual(urls.sort(), pages.sort());
    for (const post of published) assert.ok(urls.includes(`${SITE}/blog/${post.slug}/`), `sitemap lists ${post.slug}`);

    const robots = await readFile(join(dist, 'robots.txt'), 'utf8');
    assert.match(robots, /^Sitemap: https:\/\/blog\.example\.com\/sitemap-index\.xml$/m);
  });

  test('drafts never reach the production build', async () => {
    for (const draft of drafts) {
      assert.ok(!existsSync(join(dist, 'blog', draft.slug)), `dist/blog/${draft.slug} exists`);
      for (const file of files.filter((name) => /\.(html|xml|txt)$/.test(name))) {
        const text = await readFile(join(dist, file), 'utf8');
        assert.ok(!text.includes(`/blog/${draft.slug}/`), `dist/${file} links to draft ${draft.slug}`);
        assert.ok(!text.includes(draft.title), `dist/${file} shows the title of draft ${draft.slug}`);
      }
    }
  });
});
