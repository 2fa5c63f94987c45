import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import { adminSocketPath } from '../../src/admin/admin-socket.ts';
import { openAdminStore } from '../../src/admin/admin-store.ts';
import { createApiTokens } from '../../src/admin/api-tokens.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { createSessions } from '../../src/admin/sessions.ts';
import { startAdmin } from '../../src/admin/start-admin.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { startControlPlane } from '../../src/deploy/control-plane.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo, type TestRepo } from '../helpers/git.ts';
import { eventually } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';
import { captureLogs } from '../status/fake-forge.ts';
import type { ApiCertificate, ApiDeploy, ApiRelease, ApiSite } from '../../src/api/api-types.ts';

const PASSWORD = 'alice has a long password';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): Record<string, unknown>;
}

interface Call {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request to the admin app's socket, as a worker forwards it. */
function call(socketPath: string, path: string, options: Call = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path,
        method: options.method ?? 'GET',
        headers: { host: 'admin.test', 'x-berth-client-address': '192.0.2.7', 'x-berth-client-proto': 'https', ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A control plane with the admin app, one site deployed from a real repository. */
async function setUp(t: TestContext, build?: string) {
  const root = await tempDir(t, 'berth-api-');
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo: TestRepo = await createRepo(join(root, 'git'), { 'index.html': '<h1>one</h1>' });
  const file = join(root, 'berth.toml');
  const more = build === undefined ? [] : ['[sites.build]', `command = ${JSON.stringify(build)}`, 'publish = "."'];
  await writeFile(file, `${deployConfig({ repo: repo.bare, buildUidBase: uniqueBuildUidBase(), more: [...more, '[[sites]]', 'name = "docs"', 'domains = ["docs.test"]'] })}\n[admin]\ndomain = "admin.test"\n`);
  const config = await loadConfig(file, {});
  const logs = captureLogs();
  const control = await startControlPlane(config, logs.logger);
  const admin = await startAdmin(config, control, logs.logger);
  assert.ok(admin !== undefined, logs.text());
  t.after(async () => {
    await admin.close();
    await control.stop();
  });
  const socket = adminSocketPath(config.dataDir);
  const store = openAdminStore(config.dataDir);
  t.after(() => store.close());
  return { root, repo, config, control, socket, store, logs };
}

async function addAlice(store: ReturnType<typeof openAdminStore>): Promise<void> {
  store.addAdmin({ name: 'alice', passwordHash: await hashPassword(PASSWORD), createdAt: Date.now() });
}

/** Signs in with the form, as the browser does; returns the cookie and the session's CSRF token. */
async function signIn(socket: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const answer = await call(socket, '/_berth/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ name: 'alice', password: PASSWORD }).toString(),
  });
  assert.equal(answer.status, 303, answer.body);
  const setCookie = String(answer.headers['set-cookie']);
  const cookie = setCookie.split(';', 1)[0] as string;
  const session = await call(socket, '/_berth/api/v1/session', { headers: { cookie } });
  assert.equal(session.status, 200, session.body);
  return { cookie, csrf: String(session.json().csrfToken), setCookie };
}

function post(socket: string, path: string, auth: Record<string, string>, body: Record<string, string> = {}): Promise<Answer> {
  return call(socket, path, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify(body) });
}

describe('the admin app and API', () => {
  it('answers nothing, not even sign-in, until an admin exists', async (t) => {
    const { socket } = await setUp(t);
    for (const path of ['/', '/_berth/sign-in', '/_berth/api/v1/sites', '/sites/blog']) {
      const answer = await call(socket, path);
      assert.equal(answer.status, 404, path);
      assert.match(answer.body, /E_ADMIN_NONE/);
      assert.doesNotMatch(answer.body, /blog/);
    }
    const posted = await call(socket, '/_berth/sign-in', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=admin&password=whatever-long-pass' });
    assert.equal(posted.status, 404);
  });

  it('asks every route for a session or a token, and a token only for its own sites and rights', async (t) => {
    const { socket, store } = await setUp(t);
    await addAlice(store);
    for (const path of ['/_berth/api/v1/sites', '/_berth/api/v1/sites/blog/deploys', '/_berth/api/v1/certificates', '/_berth/api/v1/session']) {
      const answer = await call(socket, path);
      assert.equal(answer.status, 401, path);
      assert.equal((answer.json().error as { code: string }).code, 'E_ADMIN_SESSION');
    }
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { authorization: 'Bearer berth_nope' } })).status, 401);
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { authorization: 'Basic YTpi' } })).status, 401);
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { cookie: '__Host-berth_session=forged' } })).status, 401);
    const tokens = createApiTokens(store);
    const docsRead = tokens.create({ name: 'docs-reader', sites: ['docs'], rights: 'read' }).token;
    const bearer = { authorization: `Bearer ${docsRead}` };
    const sites = await call(socket, '/_berth/api/v1/sites', { headers: bearer });
    assert.equal(sites.status, 200);
    assert.deepEqual((sites.json().sites as ApiSite[]).map((site) => site.name), ['docs']);
    const other = await call(socket, '/_berth/api/v1/sites/blog/deploys', { headers: bearer });
    assert.equal(other.status, 403);
    assert.equal((other.json().error as { code: string }).code, 'E_ADMIN_TOKEN_SCOPE');
    assert.doesNotMatch(other.body, /refs\/heads/);
    const write = await post(socket, '/_berth/api/v1/sites/docs/lock', bearer);
    assert.equal(write.status, 403);
    assert.match(write.body, /may only read/);
    tokens.revoke('docs-reader');
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: bearer })).status, 401);
  });

  it('signs in with a password into a new session with a __Host- cookie, refuses a wrong one, and locks after five', async (t) => {
    const { socket, store } = await setUp(t);
    await addAlice(store);
    const planted = '__Host-berth_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const { setCookie, cookie } = await signIn(socket);
    assert.match(setCookie, /^__Host-berth_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict; Max-Age=\d+$/);
    assert.notEqual(cookie, planted);
    for (let i = 0; i < 5; i++) {
      const wrong = await call(socket, '/_berth/sign-in', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ name: 'alice', password: `wrong password ${i}` }) });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers['set-cookie'], undefined);
    }
    const locked = await call(socket, '/_berth/sign-in', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ name: 'alice', password: PASSWORD }) });
    assert.equal(locked.status, 429);
    assert.equal((locked.json().error as { code: string }).code, 'E_ADMIN_LOCKED');
    // The session from before the lock goes on; revoked, it stops at its next request.
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { cookie } })).status, 200);
    createSessions(store).revokeAll('alice');
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { cookie } })).status, 401);
  });

  it('takes a one-time link once, never from a GET, and not after its end', async (t) => {
    const { socket, store } = await setUp(t);
    await addAlice(store);
    const link = createSessions(store).createSignInLink('alice');
    const token = new URL(link.path, 'https://admin.test').searchParams.get('token') as string;
    const body = JSON.stringify({ token });
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    // Opening the link (a mail scanner, a prefetch) only shows a button.
    for (let i = 0; i < 2; i++) {
      const shown = await call(socket, link.path);
      assert.equal(shown.status, 200);
      assert.match(shown.body, /Sign in as alice/);
    }
    const first = await call(socket, '/_berth/sign-in', { method: 'POST', headers, body });
    assert.equal(first.status, 200, first.body);
    assert.deepEqual(first.json(), { redirect: '/' });
    const again = await call(socket, '/_berth/sign-in', { method: 'POST', headers, body });
    assert.equal(again.status, 401);
    assert.equal((again.json().error as { code: string }).code, 'E_ADMIN_LINK_USED');
    // A link past its end (made here with a 1 ms life) is refused, and shows no sign-in button.
    const late = createSessions(store, { linkMs: 1 }).createSignInLink('alice');
    await new Promise((resolve) => setTimeout(resolve, 10));
    const lateToken = new URL(late.path, 'https://admin.test').searchParams.get('token') as string;
    const latePage = await call(socket, late.path);
    assert.equal(latePage.status, 401);
    assert.doesNotMatch(latePage.body, /Sign in as alice/);
    const expired = await call(socket, '/_berth/sign-in', { method: 'POST', headers, body: JSON.stringify({ token: lateToken }) });
    assert.equal(expired.status, 401);
    assert.equal((expired.json().error as { code: string }).code, 'E_ADMIN_LINK_EXPIRED');
    assert.equal(expired.headers['set-cookie'], undefined);
  });

  it('lists sites, deploys with their phases and commit, a log as text and as events that resume, and nothing for a made-up id', async (t) => {
    const { socket, store, control, repo } = await setUp(t);
    await addAlice(store);
    const sha = await repo.commit({ 'index.html': '<h1>two</h1>' }, 'Second post\n\nWith a body.');
    const record = control.deployer.submit({ site: 'blog', trigger: 'webhook', forge: 'github', ref: 'refs/heads/main', sha, author: 'Alice', message: 'Second post\n\nWith a body.' });
    await control.deployer.idle();
    const { cookie } = await signIn(socket);
    const auth = { cookie };
    const site = (await call(socket, '/_berth/api/v1/sites/blog', { headers: auth })).json().site as ApiSite;
    assert.equal(site.liveDeploy?.id, record.id);
    assert.equal(site.lock, null);
    assert.equal(site.repo, repo.bare);
    const deploys = (await call(socket, '/_berth/api/v1/sites/blog/deploys', { headers: auth })).json().deploys as ApiDeploy[];
    const deploy = deploys[0] as ApiDeploy;
    assert.equal(deploy.id, record.id);
    assert.equal(deploy.trigger, 'push');
    assert.equal(deploy.state, 'live');
    assert.equal(deploy.live, true);
    assert.equal(deploy.sha, sha);
    assert.equal(deploy.title, 'Second post');
    assert.equal(deploy.branch, 'main');
    assert.deepEqual(deploy.phases.map((phase) => phase.name), ['queued', 'fetch', 'build', 'publish', 'check', 'activate']);
    for (const phase of deploy.phases) assert.ok(Date.parse(phase.finishedAt) >= Date.parse(phase.startedAt));
    assert.deepEqual(((await call(socket, '/_berth/api/v1/sites/blog/deploys?state=failed', { headers: auth })).json().deploys as ApiDeploy[]), []);
    assert.equal((await call(socket, '/_berth/api/v1/sites/blog/deploys?branch=other', { headers: auth })).json().deploys instanceof Array, true);
    assert.equal((await call(socket, '/_berth/api/v1/sites/blog/deploys?state=bogus', { headers: auth })).status, 400);
    assert.equal((await call(socket, '/_berth/api/v1/sites/blog/deploys?limit=100000', { headers: auth })).status, 400);
    const certificates = (await call(socket, '/_berth/api/v1/certificates', { headers: auth })).json().certificates as ApiCertificate[];
    assert.deepEqual(certificates.map((certificate) => [certificate.sites, certificate.names, certificate.state]), [
      [['blog'], ['localhost'], 'self-signed'],
      [['docs'], ['docs.test'], 'self-signed'],
      [['[admin]'], ['admin.test'], 'self-signed'],
    ]);

    const text = await call(socket, `/_berth/api/v1/deploys/${record.id}/log`, { headers: auth });
    assert.equal(text.status, 200);
    const lines = text.body.trimEnd().split('\n');
    assert.ok(lines.length >= 3, text.body);
    assert.match(text.body, /is live/);
    const events = await call(socket, `/_berth/api/v1/deploys/${record.id}/log`, { headers: { ...auth, accept: 'text/event-stream' } });
    assert.equal(events.headers['content-type'], 'text/event-stream; charset=utf-8');
    const ids = [...events.body.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
    assert.deepEqual(ids, lines.map((_line, i) => i + 1));
    assert.match(events.body, /event: end\ndata: \{"state":"live"/);
    const resumed = await call(socket, `/_berth/api/v1/deploys/${record.id}/log`, { headers: { ...auth, accept: 'text/event-stream', 'last-event-id': String(lines.length - 1) } });
    assert.deepEqual([...resumed.body.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1])), [lines.length]);
    for (const bad of ['-1', '1.5', 'x', String(lines.length + 1)]) {
      const refused = await call(socket, `/_berth/api/v1/deploys/${record.id}/log`, { headers: { ...auth, accept: 'text/event-stream', 'last-event-id': bad } });
      assert.equal(refused.status, 416, bad);
      assert.equal((refused.json().error as { code: string }).code, 'E_API_LOG_POSITION');
    }
    for (const id of ['20990101T000000Z-abcdef', '..%2F..%2Fstate.db', '..', '%2e%2e', 'x/../../etc/passwd']) {
      const missing = await call(socket, `/_berth/api/v1/deploys/${id}/log`, { headers: auth });
      assert.equal(missing.status, 404, id);
      assert.doesNotMatch(missing.body, /SQLite|root:/);
    }
  });

  it('locks deploys: a push is not deployed, a redeploy is refused, until unlocked; changes need the CSRF token and this origin', async (t) => {
    const { socket, store, control, repo } = await setUp(t);
    await addAlice(store);
    const { cookie, csrf } = await signIn(socket);
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/lock', { cookie })).status, 403);
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/lock', { cookie, 'x-csrf-token': 'A'.repeat(43) })).status, 403);
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/lock', { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' })).status, 403);
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/lock', { cookie, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' })).status, 403);
    const locked = await post(socket, '/_berth/api/v1/sites/blog/lock', { cookie, 'x-csrf-token': csrf, origin: 'https://admin.test' }, { reason: 'holding' });
    assert.equal(locked.status, 200, locked.body);
    assert.deepEqual({ ...(locked.json().lock as object), at: 'x' }, { by: 'alice', at: 'x', reason: 'holding' });
    const sha = await repo.commit({ 'index.html': 'three' });
    const push = control.deployer.receivePush({ site: 'blog', forge: 'github', delivery: 'd-1', ref: 'refs/heads/main', sha, author: 'a', message: 'm' } as never);
    assert.equal(push.body.status, 'locked');
    assert.equal(control.store.listDeploys({ site: 'blog' }).length, 0);
    const refused = await post(socket, '/_berth/api/v1/sites/blog/deploys', { cookie, 'x-csrf-token': csrf });
    assert.equal(refused.status, 409);
    assert.equal((refused.json().error as { code: string }).code, 'E_DEPLOYS_LOCKED');
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/unlock', { cookie, 'x-csrf-token': csrf })).status, 200);
    const queued = await post(socket, '/_berth/api/v1/sites/blog/deploys', { cookie, 'x-csrf-token': csrf }, { ref: 'main' });
    assert.equal(queued.status, 202, queued.body);
    const deploy = queued.json().deploy as ApiDeploy;
    assert.equal(deploy.trigger, 'api');
    await control.deployer.idle();
    const finished = await post(socket, `/_berth/api/v1/deploys/${deploy.id}/cancel`, { cookie, 'x-csrf-token': csrf });
    assert.equal(finished.status, 409);
    assert.equal((finished.json().error as { code: string }).code, 'E_DEPLOY_NOT_CANCELLABLE');
    for (const ref of ['-x', 'a..b', 'refs/heads/../../x', 'x'.repeat(300)]) {
      assert.equal((await post(socket, '/_berth/api/v1/sites/blog/deploys', { cookie, 'x-csrf-token': csrf }, { ref })).status, 400, ref);
    }
    const big = await call(socket, '/_berth/api/v1/sites/blog/lock', { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ reason: 'x'.repeat(70_000) }) });
    assert.equal(big.status, 413);
    const twice = await call(socket, '/_berth/api/v1/sites/blog/lock', { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}&csrf=${csrf}` });
    assert.equal(twice.status, 400);
  });

  it('rolls back to a named release and locks, refuses while a deploy runs, and two rollbacks at once end on one of them', async (t) => {
    const { socket, store, control, repo } = await setUp(t);
    await addAlice(store);
    const { cookie, csrf } = await signIn(socket);
    const auth = { cookie, 'x-csrf-token': csrf };
    for (const text of ['one', 'two', 'three']) {
      const sha = await repo.commit({ 'index.html': text }, text);
      control.deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main', sha });
      await control.deployer.idle();
    }
    const releases = (await call(socket, '/_berth/api/v1/sites/blog/releases', { headers: { cookie } })).json().releases as ApiRelease[];
    assert.ok(releases.length >= 3, JSON.stringify(releases));
    assert.equal(releases[0]?.live, true);
    assert.ok(releases.every((release) => release.deployId !== null && release.sha !== null));
    const [, second, third] = releases as [ApiRelease, ApiRelease, ApiRelease];
    const back = await post(socket, '/_berth/api/v1/sites/blog/rollback', auth, { release: second.id });
    assert.equal(back.status, 200, back.body);
    assert.equal((back.json().release as ApiRelease).live, true);
    assert.match(String((back.json().lock as { reason: string }).reason), new RegExp(second.id));
    const site = (await call(socket, '/_berth/api/v1/sites/blog', { headers: { cookie } })).json().site as ApiSite;
    assert.equal(site.liveRelease, second.id);
    assert.equal(site.lock?.by, 'alice');
    // The rollback is a deploy of its own, the live one; the deploy that made the release is superseded by it.
    const rolled = back.json().deploy as ApiDeploy;
    assert.equal(rolled.trigger, 'rollback');
    assert.equal(rolled.releaseId, second.id);
    assert.equal(rolled.sha, second.sha);
    assert.equal(rolled.title, 'two');
    assert.deepEqual(rolled.phases.map((phase) => phase.name), ['activate']);
    assert.equal(site.liveDeploy?.id, rolled.id);
    const states = (await call(socket, '/_berth/api/v1/sites/blog/deploys', { headers: { cookie } })).json().deploys as ApiDeploy[];
    assert.deepEqual(states.map((deploy) => [deploy.trigger, deploy.state, deploy.live]).slice(0, 3), [
      ['rollback', 'live', true],
      ['cli', 'rolled back', false],
      ['cli', 'superseded', false],
    ]);
    assert.equal(states[2]?.id, second.deployId);
    assert.equal(((await call(socket, '/_berth/api/v1/sites/blog/releases', { headers: { cookie } })).json().releases as ApiRelease[])[1]?.deployId, second.deployId, 'a release is still the deploy\'s that made it');
    const rollbackLog = await call(socket, `/_berth/api/v1/deploys/${rolled.id}/log`, { headers: { cookie } });
    assert.match(rollbackLog.body, new RegExp(`made live again by alice \\(it was ${releases[0]?.id ?? '-'}\\)`));
    for (const release of ['nope', '../current', '20990101T000000Z-00000000']) {
      assert.equal((await post(socket, '/_berth/api/v1/sites/blog/rollback', auth, { release })).status, 404, release);
    }
    const both = await Promise.all([post(socket, '/_berth/api/v1/sites/blog/rollback', auth, { release: third.id }), post(socket, '/_berth/api/v1/sites/blog/rollback', auth, { release: second.id })]);
    assert.deepEqual(both.map((answer) => answer.status), [200, 200]);
    const live = ((await call(socket, '/_berth/api/v1/sites/blog', { headers: { cookie } })).json().site as ApiSite).liveRelease;
    assert.ok(live === second.id || live === third.id, String(live));
    // A deploy under way would replace the release rolled back to once published.
    assert.equal((await post(socket, '/_berth/api/v1/sites/blog/unlock', auth)).status, 200);
    const running = control.store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });
    const during = await post(socket, '/_berth/api/v1/sites/blog/rollback', auth, { release: third.id });
    assert.equal(during.status, 409);
    assert.equal((during.json().error as { code: string }).code, 'E_DEPLOY_RUNNING');
    control.store.updateDeploy(running.id, { state: 'failed', finishedAt: new Date().toISOString() });

    // Paged back with before = the last id of a page: the same list as one long page.
    const all = ((await call(socket, '/_berth/api/v1/sites/blog/deploys?limit=200', { headers: { cookie } })).json().deploys as ApiDeploy[]).map((deploy) => deploy.id);
    assert.ok(all.length >= 5, String(all.length));
    const paged: string[] = [];
    for (let before: string | undefined; ; ) {
      const page = (await call(socket, `/_berth/api/v1/sites/blog/deploys?limit=2${before === undefined ? '' : `&before=${before}`}`, { headers: { cookie } })).json().deploys as ApiDeploy[];
      if (page.length === 0) break;
      paged.push(...page.map((deploy) => deploy.id));
      before = page.at(-1)?.id;
    }
    assert.deepEqual(paged, all);
    for (const before of ['nope', '20990101T000000Z-abcdef', '..%2F..%2Fstate.db']) {
      const refused = await call(socket, `/_berth/api/v1/sites/blog/deploys?before=${before}`, { headers: { cookie } });
      assert.equal(refused.status, 400, before);
      assert.equal((refused.json().error as { code: string }).code, 'E_API_BAD_REQUEST');
    }
  });

  it('cancels a slow build, which ends cancelled with the live site unchanged', async (t) => {
    const { socket, store, control, repo } = await setUp(t, 'sleep 120');
    await addAlice(store);
    const { cookie, csrf } = await signIn(socket);
    const sha = await repo.commit({ 'index.html': 'slow' });
    const record = control.deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main', sha });
    assert.ok(await eventually(async () => control.store.getDeploy(record.id)?.state === 'building', 60_000));
    const events = call(socket, `/_berth/api/v1/deploys/${record.id}/log`, { headers: { cookie, accept: 'text/event-stream' } });
    const cancel = await post(socket, `/_berth/api/v1/deploys/${record.id}/cancel`, { cookie, 'x-csrf-token': csrf });
    assert.equal(cancel.status, 202, cancel.body);
    await control.deployer.idle();
    assert.equal(control.store.getDeploy(record.id)?.state, 'cancelled');
    const followed = await events;
    assert.match(followed.body, /event: end\ndata: \{"state":"cancelled"/);
  });
});

describe('the dashboard pages', () => {
  it('send a visitor without a session to sign-in, refuse an API token, and render with a strict policy once signed in', async (t) => {
    const { socket, store } = await setUp(t);
    await addAlice(store);
    for (const path of ['/', '/sites/blog', '/sites/blog/releases', '/certificates', '/deploys/20990101T000000Z-abcdef']) {
      const answer = await call(socket, path);
      assert.equal(answer.status, 303, path);
      assert.equal(answer.headers.location, '/_berth/sign-in');
      assert.doesNotMatch(answer.body, /blog/);
    }
    const token = createApiTokens(store).create({ name: 'reader', sites: 'all', rights: 'read' }).token;
    // The pages are for people: a script's token is sent to sign-in like no credentials at all.
    const withToken = await call(socket, '/', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(withToken.status, 303);
    assert.doesNotMatch(withToken.body, /href="\/sites\/blog"/);
    const signInPage = await call(socket, '/_berth/sign-in');
    assert.equal(signInPage.status, 200);
    assert.match(String(signInPage.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    const { cookie, csrf } = await signIn(socket);
    const sites = await call(socket, '/', { headers: { cookie } });
    assert.equal(sites.status, 200);
    assert.equal(sites.headers['cache-control'], 'no-store');
    assert.equal(sites.headers['x-frame-options'], 'DENY');
    assert.match(sites.body, new RegExp(`<meta name="csrf-token" content="${csrf}">`));
    const zipped = await new Promise<Buffer>((resolve, reject) => {
      request({ socketPath: socket, path: '/', headers: { host: 'admin.test', cookie, 'accept-encoding': 'gzip, br', 'x-berth-client-proto': 'https' } }, (res) => {
        assert.equal(res.headers['content-encoding'], 'gzip');
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      }).on('error', reject).end();
    });
    assert.equal(gunzipSync(zipped).toString(), sites.body);
    const asset = /<script src="(\/_berth\/assets\/dashboard\.[0-9a-f]+\.js)"/.exec(sites.body)?.[1] as string;
    const script = await call(socket, asset);
    assert.equal(script.status, 200);
    assert.match(String(script.headers['cache-control']), /immutable/);
    assert.equal((await call(socket, '/sites/nosuch', { headers: { cookie } })).status, 404);
    assert.equal((await call(socket, '/sites/..%2F..%2Fetc', { headers: { cookie } })).status, 404);
    assert.equal((await call(socket, '/_berth/assets/dashboard.00000000.js')).status, 303, 'an asset that is not one is no page either');
  });

  it('act on a form POST only with the session CSRF field, then send the browser on', async (t) => {
    const { socket, store, control } = await setUp(t);
    await addAlice(store);
    const { cookie, csrf } = await signIn(socket);
    const form = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    const refused = await call(socket, '/sites/blog/lock', { method: 'POST', headers: form, body: 'reason=x' });
    assert.equal(refused.status, 403);
    assert.match(refused.body, /E_ADMIN_CSRF/);
    assert.equal(control.store.siteLock('blog'), undefined);
    const locked = await call(socket, '/sites/blog/lock', { method: 'POST', headers: form, body: `csrf=${csrf}&reason=holding` });
    assert.equal(locked.status, 303);
    assert.equal(locked.headers.location, '/sites/blog');
    assert.equal(control.store.siteLock('blog')?.reason, 'holding');
    const page = await call(socket, '/sites/blog', { headers: { cookie } });
    assert.match(page.body, /holding/);
    const blocked = await call(socket, '/sites/blog/deploy', { method: 'POST', headers: form, body: `csrf=${csrf}` });
    assert.equal(blocked.status, 409);
    assert.match(blocked.body, /E_DEPLOYS_LOCKED/);
    assert.equal((await call(socket, '/sites/blog/unlock', { method: 'POST', headers: form, body: `csrf=${csrf}` })).status, 303);
    assert.equal(control.store.siteLock('blog'), undefined);
    // Signing out ends the session: its cookie signs nobody in after.
    const out = await call(socket, '/_berth/sign-out', { method: 'POST', headers: form, body: `csrf=${csrf}` });
    assert.equal(out.status, 303);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await call(socket, '/', { headers: { cookie } })).status, 303);
  });

  it('starts a new session at every sign-in and ends the one the browser had (no fixation)', async (t) => {
    const { socket, store } = await setUp(t);
    await addAlice(store);
    const first = await signIn(socket);
    const again = await call(socket, '/_berth/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: first.cookie },
      body: new URLSearchParams({ name: 'alice', password: PASSWORD }).toString(),
    });
    assert.equal(again.status, 303);
    const second = String(again.headers['set-cookie']).split(';', 1)[0] as string;
    assert.notEqual(second, first.cookie);
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { cookie: first.cookie } })).status, 401);
    assert.equal((await call(socket, '/_berth/api/v1/sites', { headers: { cookie: second } })).status, 200);
  });
});
