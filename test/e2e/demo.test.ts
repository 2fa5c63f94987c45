import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { freePort } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const DEMO = join(ROOT, 'scripts', 'demo.ts');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

interface Demo {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the demo has ended. */
  exited: Promise<number | null>;
}

function startDemo(t: TestContext, dir: string, ports: { http: number; https: number }): Demo {
  const child = spawn(process.execPath, [DEMO], {
    cwd: ROOT,
    env: { ...process.env, BERTH_DEMO_DIR: dir, BERTH_DEMO_HTTP_PORT: String(ports.http), BERTH_DEMO_HTTPS_PORT: String(ports.https) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await exited;
    }
  });
  return { child, output: () => output, exited };
}

async function page(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

/** A request to the demo's dashboard host over HTTPS (its self-signed certificate), wherever admin.localhost resolves. */
function adminRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolveAnswer, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, servername: 'admin.localhost', method, path, headers: { host: `admin.localhost:${port}`, ...headers }, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the demo (`npm start`)', () => {
  it('deploys the starter blog, serves it and its dashboard (signed in with the printed link), deploys a push, rolls back, stops on Ctrl-C, and reuses it all on the next start', async (t) => {
    const root = await tempDir(t);
    // Builds run as an unprivileged user when the tests run as root: it must reach the data dir.
    await chmod(root, 0o755);
    const dir = join(root, 'demo');
    const ports = { http: await freePort(), https: await freePort() };

    const first = startDemo(t, dir, ports);
    await waitFor(() => (first.output().includes('Berth is serving the starter blog') ? true : undefined), 'the demo to serve', 300_000, 200);
    const block = first.output();
    assert.match(block, new RegExp(`http://localhost:${ports.http}/`));
    assert.match(block, new RegExp(`https://localhost:${ports.https}/`));
    assert.match(block, new RegExp(`Repository: ${join(dir, 'blog.git').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // A clone target outside Berth's checkout, whatever directory npm start ran in.
    assert.ok(block.includes(`git clone ${join(dir, 'blog.git')} ~/my-blog && cd ~/my-blog`), block);
    assert.match(block, /git commit -am .* && git push/);
    assert.match(block, /rollback --site blog --config /);

    const home = await page(ports.http, '/');
    assert.equal(home.status, 200);

    // The dashboard, with the demo admin's one-time link, over HTTPS on the admin host.
    const link = new RegExp(`https://admin\\.localhost:${ports.https}(/_berth/sign-in\\?token=([A-Za-z0-9_-]{43}))`).exec(block);
    assert.ok(link, block);
    const linkPage = await adminRequest(ports.https, 'GET', link[1] as string);
    assert.equal(linkPage.status, 200);
    assert.match(linkPage.body, /Sign in as demo/);
    const signedIn = await adminRequest(ports.https, 'POST', '/_berth/sign-in', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${link[2] as string}`);
    assert.equal(signedIn.status, 303);
    const cookie = String(signedIn.headers['set-cookie']).split(';', 1)[0] as string;
    const sites = await adminRequest(ports.https, 'GET', '/', { cookie });
    assert.equal(sites.status, 200);
    assert.match(sites.body, /href="\/sites\/blog"/);
    assert.equal((await adminRequest(ports.https, 'POST', '/_berth/sign-in', { 'content-type': 'application/x-www-form-urlencoded' }, `token=${link[2] as string}`)).status, 401, 'the link works once');
    const posts = (await readdir(join(ROOT, 'examples', 'blog', 'src', 'content', 'blog'))).filter((name) => name.endsWith('.md'));
    assert.ok(posts.length > 0);

    // Push a change to a post, as the printed instructions say.
    const clone = join(root, 'my-blog');
    await run('git', ['clone', '--quiet', join(dir, 'blog.git'), clone]);
    const post = posts.find((name) => name.startsWith('welcome')) ?? posts[0] ?? '';
    const postFile = join(clone, 'src', 'content', 'blog', post);
    const marker = `Edited by a push at ${Date.now()}`;
    await writeFile(postFile, `${await readFile(postFile, 'utf8')}\n${marker}\n`);
    await run('git', ['-c', 'user.name=Demo Test', '-c', 'user.email=demo@example.com', 'commit', '--quiet', '-am', 'Edit a post'], { cwd: clone });
    const pushed = await run('git', ['push', 'origin', 'main'], { cwd: clone });
    assert.match(pushed.stderr, /is live/, 'the push shows the deploy');
    const slug = post.replace(/\.md$/, '');
    const postPath = `/blog/${slug}/`;
    const edited = await waitFor(async () => {
      const seen = await page(ports.http, postPath);
      return seen.body.includes(marker) ? seen : undefined;
    }, 'the pushed change to be served', 30_000);
    assert.equal(edited.status, 200);

    // Roll back: the change is gone.
    const rolled = await run(process.execPath, [CLI, 'rollback', '--site', 'blog', '--config', join(dir, 'berth.toml')]);
    assert.match(rolled.stdout, /blog is now on release/);
    await waitFor(async () => ((await page(ports.http, postPath)).body.includes(marker) ? undefined : true), 'the rollback to be served', 60_000);

    // What a reader sees, in a real browser.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    onCleanup(t, () => browser.close());
    const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await tab.goto(`http://127.0.0.1:${ports.http}/`);
    assert.ok((await tab.title()).length > 0);
    const homeShot = await tab.screenshot({ fullPage: true });
    assert.ok(homeShot.length > 10_000, 'a real screenshot of the home page');
    await writeFile(join(root, 'home.png'), homeShot);
    const listed = await tab.locator('main a[href^="/blog/"]').count();
    assert.ok(listed >= 3, `the home page lists posts (${listed} links)`);
    const codePost = await findPostWithCode(clone);
    await tab.goto(`http://127.0.0.1:${ports.http}/blog/${codePost.slug}/`);
    assert.equal(await tab.locator('h1').first().innerText(), codePost.title);
    const code = tab.locator('pre code').first();
    assert.ok(await code.isVisible(), 'a code block is rendered');
    // Highlighted at build time: tokens carry their own colours.
    assert.ok((await code.locator('span[style*="color"]').count()) > 0, 'the code block is highlighted');
    const postShot = await tab.screenshot({ fullPage: true });
    assert.ok(postShot.length > 10_000);
    await writeFile(join(root, 'post.png'), postShot);

    // Ctrl-C stops it cleanly.
    first.child.kill('SIGINT');
    assert.equal(await first.exited, 0);
    await assert.rejects(page(ports.http, '/'));

    // A second start reuses the repository and the release: no new deploy.
    const releasesBefore = await readdir(join(dir, 'data', 'sites', 'blog', 'releases'));
    const second = startDemo(t, dir, ports);
    await waitFor(() => (second.output().includes('Berth is serving the starter blog') ? true : undefined), 'the second start to serve', 60_000, 100);
    assert.doesNotMatch(second.output(), /Made the repository|First deploy/);
    assert.deepEqual(await readdir(join(dir, 'data', 'sites', 'blog', 'releases')), releasesBefore);
    assert.equal((await page(ports.http, '/')).status, 200);
    assert.ok((await stat(join(dir, 'blog.git', 'hooks', 'post-receive'))).mode & 0o100);
    // A third start while this one runs, with other ports: refused before it writes anything.
    const configBefore = await readFile(join(dir, 'berth.toml'), 'utf8');
    const third = startDemo(t, dir, { http: await freePort(), https: await freePort() });
    assert.equal(await third.exited, 1);
    assert.match(third.output(), /already running \(berth serve, pid \d+\); stop it with Ctrl-C in its terminal first, or set BERTH_DEMO_DIR/);
    assert.equal(await readFile(join(dir, 'berth.toml'), 'utf8'), configBefore, 'the running demo\'s config is untouched');
    assert.equal((await page(ports.http, '/')).status, 200);
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
  });
});

/** A published post whose Markdown has a fenced code block, with its title. */
async function findPostWithCode(clone: string): Promise<{ slug: string; title: string }> {
  const dir = join(clone, 'src', 'content', 'blog');
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.md')) continue;
    const text = await readFile(join(dir, name), 'utf8');
    if (!text.includes('\n```') || /\ndraft:\s*true/.test(text)) continue;
    const title = /\ntitle:\s*["']?(.+?)["']?\s*\n/.exec(text)?.[1];
    if (title !== undefined) return { slug: name.replace(/\.md$/, ''), title };
  }
  throw new Error('no published post with a code block');
}
