import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { it, type TestContext } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { createRepo } from '../helpers/git.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { get } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * The dashboard end to end: Chromium (Debian's, through playwright-core)
 * against a real `berth serve` child over its TLS listener, with a real git
 * repository pushed to and a signed GitHub webhook. Signs in with a password
 * and with a passkey from Chromium's virtual authenticator, follows a
 * deploy's log live, rolls back, meets the lock, unlocks, redeploys and
 * cancels; then screenshots every page in both schemes at phone and
 * desktop widths and runs axe-core's WCAG 2.1 A and AA rules on each.
 */

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'dashboard');
const ADMIN_DOMAIN = 'admin.localhost';
const PASSWORD = 'alice types a long passphrase';
const SECRET = 'dashboard-e2e-webhook-secret';
/** Waits for what a loaded machine may take a while to do: a deploy, a page. */
const SLOW = Number(process.env.E2E_WAIT ?? 120_000);
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * The build: while the file `follow` in the commit is not empty, it prints a line
 * every 0.2 s until the file `follow` names exists (the test creates it once
 * it has seen lines arrive on the page), so the deploy is still running
 * whatever the machine's load; then five steps; and with `slow` in the
 * commit, it sleeps until it is cancelled.
 */
const BUILD = [
  'if [ -s follow ]; then n=0; while [ ! -e "$(cat follow)" ] && [ $n -lt 1500 ]; do n=$((n+1)); echo "waiting $n"; sleep 0.2; done; fi',
  'for i in 1 2 3 4 5; do echo step $i; sleep 0.3; done',
  'if [ -f slow ]; then echo sleeping; sleep 600; fi',
].join('; ');

/** The SHA-256 of the server's certificate's public key, base64: Chromium trusts it as if a CA had signed it, so WebAuthn (which refuses pages with certificate errors) works. */
function spkiHash(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: ADMIN_DOMAIN, rejectUnauthorized: false }, () => {
      const certificate = new X509Certificate(socket.getPeerCertificate().raw);
      socket.end();
      resolve(createHash('sha256').update(certificate.publicKey.export({ type: 'spki', format: 'der' })).digest('base64'));
    });
    socket.on('error', reject);
  });
}

async function startServer(t: TestContext): Promise<{ serve: ServeProcess; gate: string; repo: Awaited<ReturnType<typeof createRepo>> }> {
  const root = await tempDir(t, 'berth-dashboard-e2e-');
  // The build runs as a uid of its own and reads the gate file from here.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': '<h1>one</h1>' });
  const serve = await startServeProcess(t, {
    server: 'workers = 1',
    files: { 'index.html': 'the other site' },
    tables: [
      '[deploy]',
      `build_uid_base = ${uniqueBuildUidBase()}`,
      '[admin]',
      `domain = "${ADMIN_DOMAIN}"`,
      '[[sites]]',
      'name = "blog"',
      'domains = ["blog.localhost"]',
      `repo = ${JSON.stringify(repo.bare)}`,
      '[sites.build]',
      `command = ${JSON.stringify(BUILD)}`,
      'publish = "."',
      '[sites.webhook]',
      'forge = "github"',
      `secret = "${SECRET}"`,
    ].join('\n'),
  });
  // The build's uid passes through the data dir's parent to its own directories.
  await chmod(serve.root, 0o755);
  execFileSync(process.execPath, [cli, 'admin', 'add', 'alice', '--password-stdin', '--config', join(serve.root, 'berth.toml')], { input: `${PASSWORD}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  return { serve, gate: join(root, 'gate'), repo };
}

/** The deploy id in a webhook's answer. */
function deployOf(answer: { status: number; text: string }): string {
  assert.equal(answer.status, 202, answer.text);
  const deploy = (JSON.parse(answer.text) as { deploy?: string }).deploy;
  assert.ok(deploy !== undefined, answer.text);
  return deploy;
}

it('drives the dashboard in Chromium against berth serve: sign-in, passkeys, a live log, rollback, lock, redeploy, cancel, and every page accessible', { timeout: 900_000 }, async (t) => {
  const { serve, gate, repo } = await startServer(t);
  const origin = `https://${ADMIN_DOMAIN}:${serve.httpsPort}`;
  const browser: Browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', `--ignore-certificate-errors-spki-list=${await spkiHash(serve.httpsPort)}`],
  });
  onCleanup(t, () => browser.close());
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(SLOW);
  const page: Page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`script error: ${error.message}`));
  const site = (path: string): Promise<string> => get(serve.httpPort, path, { host: 'blog.localhost' }).then((answer) => answer.body.toString());
  let delivery = 0;
  const push = async (files: Record<string, string>, message: string): Promise<{ sha: string; answer: { status: number; text: string } }> => {
    const sha = await repo.commit(files, message);
    const answer = await githubPushTo(serve.httpPort, SECRET, { ref: 'refs/heads/main', after: sha }, `delivery-${++delivery}`);
    return { sha, answer };
  };
  const pages: Record<string, string> = {};
  /**
   * Waits for what `locator` finds; when it never comes, the error says what
   * the page showed instead. (Not waitForFunction: it evaluates a string in
   * the page, which the dashboard's content security policy refuses.)
   */
  const shows = async (locator: Locator): Promise<void> => {
    try {
      await locator.first().waitFor();
    } catch (error) {
      const main = await page.locator('body').innerText().catch(() => '(no body)');
      throw new Error(`${String(error)}\nthe page ${page.url()} showed:\n${main.slice(-4000)}`, { cause: error });
    }
  };
  // Each step builds on the one before: after a failure the rest are skipped, not failed again for the same cause.
  let failed = false;
  const step = (name: string, fn: () => Promise<void>): Promise<void> =>
    t.test(name, { skip: failed ? 'an earlier step failed' : false }, async () => {
      try {
        await fn();
      } catch (error) {
        failed = true;
        throw error;
      }
    });

  await step('a page without a session sends the browser to sign in', async () => {
    await page.goto(`${origin}/certificates`);
    assert.equal(new URL(page.url()).pathname, '/_berth/sign-in');
    await shows(page.getByRole('heading', { name: 'Sign in' }));
  });

  await step('a wrong password shows the alert; the right one lands on the sites page, with a cookie scripts cannot read', async () => {
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await shows(page.locator('#sign-in-error', { hasText: /\S/ }));
    assert.match(await page.locator('#sign-in-error').innerText(), /\S/);
    assert.equal(await page.getByLabel('Name').inputValue(), 'alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await shows(page.getByRole('heading', { name: 'Sites' }));
    assert.equal(new URL(page.url()).pathname, '/');
    await shows(page.getByRole('link', { name: 'blog' }).first());
    const cookies = await context.cookies(origin);
    const session = cookies.find((cookie) => cookie.name === '__Host-berth_session');
    assert.ok(session !== undefined, JSON.stringify(cookies.map((cookie) => cookie.name)));
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true);
    assert.equal(session.sameSite, 'Strict');
    assert.doesNotMatch(String(await page.evaluate('document.cookie')), /berth_session/);
  });

  await step('adds a passkey with the header button, signs out, and signs in again with the passkey', async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await shows(page.locator('#passkey-add-status', { hasText: /^Passkey added/ }));
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]?.rpId, ADMIN_DOMAIN);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await shows(page.getByRole('heading', { name: 'Sign in' }));
    assert.equal((await context.cookies(origin)).some((cookie) => cookie.name === '__Host-berth_session'), false);
    await page.goto(`${origin}/`);
    assert.equal(new URL(page.url()).pathname, '/_berth/sign-in');

    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('heading', { name: 'Sites' }).waitFor().catch(async (error: unknown) => {
      throw new Error(`the passkey did not sign in: ${await page.locator('#sign-in-error').innerText().catch(() => '')}`, { cause: error });
    });
    assert.equal(new URL(page.url()).pathname, '/');
    const { credentials: after } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.ok((after[0]?.signCount ?? 0) >= 1);
    await cdp.detach();
  });

  await step('a pushed commit\'s deploy page follows the log live and shows the end', async () => {
    const { answer } = await push({ 'index.html': '<h1>two</h1>', follow: gate }, 'Two, followed');
    const deploy = deployOf(answer);
    pages.deploy = `/deploys/${deploy}`;
    await page.goto(`${origin}/deploys/${deploy}`);
    // Marks this document: still there at the end means nothing reloaded the page.
    await page.evaluate('window.notReloaded = true');
    await page.locator('#log[data-follow]').waitFor({ state: 'attached' });
    // The build prints "waiting N" until the gate file exists: the lines keep coming while the page is open.
    await shows(page.locator('#log > span', { hasText: /waiting \d+/ }));
    const before = await page.locator('#log > span').count();
    await shows(page.locator(`#log > span:nth-child(${before + 3})`));
    assert.equal(await page.locator('#log-status').innerText(), '');
    await writeFile(gate, '');
    await shows(page.locator('#log-status', { hasText: 'The deploy ended: live.' }));
    assert.match(await page.locator('#log').innerText(), /step 5/);
    assert.equal(await page.evaluate('window.notReloaded'), true);
    assert.equal(await page.locator('#log[data-follow]').count(), 0);
    // The summary was swapped in for the finished deploy: no cancel button, the state is live.
    await shows(page.locator('#deploy-summary', { hasText: 'live' }));
    assert.equal(await page.getByRole('button', { name: 'Cancel this deploy' }).count(), 0);
    assert.match(await site('/'), /two/);
  });

  await step('rolls back from the releases page, after a page that names the release, and the site is locked', async () => {
    const { answer } = await push({ 'index.html': '<h1>three</h1>', follow: '' }, 'Three');
    const deploy = deployOf(answer);
    await page.goto(`${origin}/deploys/${deploy}`);
    await shows(page.locator('#log-status', { hasText: 'The deploy ended: live.' }));
    assert.match(await site('/'), /three/);

    await page.goto(`${origin}/sites/blog/releases`);
    pages.releases = '/sites/blog/releases';
    const rollBack = page.getByRole('link', { name: /^Roll back to / });
    assert.equal(await rollBack.count(), 1);
    const target = ((await rollBack.innerText()).replace('Roll back to ', '')).trim();
    await rollBack.click();
    await shows(page.getByRole('heading', { name: `Roll back blog to ${target}?` }));
    pages.rollback = new URL(page.url()).pathname;
    assert.match(await page.locator('main').innerText(), new RegExp(`blog will serve release ${target} .*instead of the live release`));
    await page.getByRole('button', { name: `Roll back to ${target}` }).click();
    await page.waitForURL(`${origin}/sites/blog/releases`);
    assert.match(await site('/'), /two/);
    await page.goto(`${origin}/sites/blog`);
    pages.site = '/sites/blog';
    await shows(page.getByText(/Auto-deploy: locked by alice/));
    assert.equal(await page.getByRole('button', { name: 'Unlock auto-deploy' }).count(), 1);
    // The rollback is the newest deploy, and the live one.
    const newest = await page.locator('tbody tr').first().innerText();
    assert.match(newest, /\blive\b/);
    assert.match(newest, /\brollback\b/);
  });

  await step('a push while locked is answered "locked" and deploys nothing; unlocked, the button deploys the branch', async () => {
    const rows = await page.locator('tbody tr').count();
    const { answer } = await push({ 'index.html': '<h1>four</h1>' }, 'Four, while locked');
    assert.equal(answer.status, 200, answer.text);
    assert.equal((JSON.parse(answer.text) as { status: string }).status, 'locked');
    await page.reload();
    assert.equal(await page.locator('tbody tr').count(), rows);
    assert.match(await site('/'), /two/);

    await page.getByRole('button', { name: 'Unlock auto-deploy' }).click();
    await shows(page.getByText('Auto-deploy: on'));
    await page.getByRole('button', { name: 'Deploy main now' }).click();
    await page.waitForURL(/\/deploys\/[^/]+$/);
    await shows(page.locator('#log-status', { hasText: 'The deploy ended: live.' }));
    assert.match(await page.locator('#deploy-summary').innerText(), /Four, while locked/);
    assert.match(await site('/'), /four/);
  });

  await step('cancels a slow build from its page and the page shows it cancelled', async () => {
    const { answer } = await push({ 'index.html': '<h1>five</h1>', slow: 'yes' }, 'Five, slow');
    const deploy = deployOf(answer);
    await page.goto(`${origin}/deploys/${deploy}`);
    await shows(page.locator('#log span', { hasText: 'sleeping' }));
    await page.getByRole('button', { name: 'Cancel this deploy' }).click();
    await shows(page.locator('#log-status', { hasText: 'The deploy ended: cancelled.' }));
    await shows(page.locator('#deploy-summary', { hasText: 'cancelled' }));
    assert.equal(await page.getByRole('button', { name: 'Cancel this deploy' }).count(), 0);
    assert.match(await site('/'), /four/);
  });

  await step('every page: screenshots in both schemes at phone and desktop widths, and no WCAG 2.1 A or AA violation', async () => {
    const axe = await readFile(createRequire(import.meta.resolve('lighthouse')).resolve('axe-core/axe.min.js'), 'utf8');
    const session = await context.storageState();
    await mkdir(ARTIFACTS, { recursive: true });
    t.diagnostic(`screenshots in ${ARTIFACTS}`);
    const shown: Array<[string, string]> = [
      ['sign-in', '/_berth/sign-in'],
      ['sites', '/'],
      ['site-deploys', pages.site ?? '/sites/blog'],
      ['deploy', pages.deploy ?? '/'],
      ['releases', pages.releases ?? '/sites/blog/releases'],
      ['rollback', pages.rollback ?? '/sites/blog/releases'],
      ['certificates', '/certificates'],
    ];
    const failures: string[] = [];
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const [size, viewport] of [['phone', { width: 390, height: 844 }], ['desktop', { width: 1280, height: 800 }]] as const) {
        for (const [name, path] of shown) {
          const signedIn = name !== 'sign-in';
          const look = await browser.newContext({ viewport, colorScheme, ...(signedIn ? { storageState: session } : {}) });
          look.setDefaultTimeout(SLOW);
          const view = await look.newPage();
          await view.addInitScript(axe);
          view.on('pageerror', (error) => failures.push(`${name}: script error: ${error.message}`));
          await view.goto(`${origin}${path}`);
          assert.equal(new URL(view.url()).pathname, path, `${name} was answered by another page`);
          await view.screenshot({ path: join(ARTIFACTS, `${name}-${colorScheme}-${size}.png`), fullPage: true });
          const violations = (await view.evaluate(`axe.run(document, { runOnly: ${JSON.stringify(WCAG)} })
            .then((result) => result.violations.map((violation) => violation.id + ' at ' + violation.nodes.map((node) => node.target.join(' ')).join(', ')))`)) as string[];
          failures.push(...violations.map((violation) => `${name}, ${colorScheme}, ${size}: ${violation}`));
          await look.close();
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  assert.deepEqual(problems, []);
  assert.deepEqual(serve.workerDeaths(), []);
});
