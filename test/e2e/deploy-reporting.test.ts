import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createSiteService } from '../../src/api/site-service.ts';
import { startControlPlane } from '../../src/deploy/control-plane.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo } from '../helpers/git.ts';
import { eventually } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';
import { startReceiver, type Receiver } from '../notify/notify-fixtures.ts';
import { captureLogs, sendJson, startFakeForge, type FakeForge } from '../status/fake-forge.ts';

const TOKEN = 'status-token-e2e-7d1f0c2b9a';
const WHSEC = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const STATUS_PATH = /^\/repos\/alice\/blog\/statuses\/([0-9a-f]{40})$/;

interface Status {
  sha: string;
  state: string;
  description: string;
  context: string;
}

/** A fake GitHub that takes statuses for alice/blog with the right token, or answers `status` to every one. */
async function fakeGithub(t: TestContext, status = 201): Promise<FakeForge> {
  return startFakeForge(
    t,
    (request) => [
      ...(request.method === 'POST' ? [] : [`method ${request.method}`]),
      ...(STATUS_PATH.test(request.url) ? [] : [`path ${request.url}`]),
      ...(request.headers.authorization === `Bearer ${TOKEN}` ? [] : ['no or wrong token']),
    ],
    (_request, response) => sendJson(response, status, status === 201 ? { id: 1, state: 'pending' } : { message: 'Server Error', documentation_url: 'https://docs.github.com/rest' }),
  );
}

function statuses(forge: FakeForge, sha: string): Status[] {
  return forge.requests.flatMap((request) => {
    const match = STATUS_PATH.exec(request.url);
    if (match?.[1] !== sha) return [];
    const body = JSON.parse(request.body) as Status;
    return [{ sha, state: body.state, description: body.description, context: body.context }];
  });
}

/** The Standard Webhooks check a receiver makes: HMAC-SHA256 of "id.timestamp.body" with the decoded secret. */
function signatureValid(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const key = Buffer.from(WHSEC.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`).digest('base64');
  return String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}

function events(receiver: Receiver): Array<{ type: string; deploy?: { id: string; sha?: string; errorCode?: string; message?: string } }> {
  return receiver.requests.map((request) => JSON.parse(request.body) as { type: string; deploy?: { id: string } });
}

async function setUp(t: TestContext, forgeApi: string, receiverUrl: string, admin?: string) {
  const root = await tempDir(t, 'berth-report-');
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': '<h1>one</h1>' });
  const file = join(root, 'berth.toml');
  await writeFile(
    file,
    deployConfig({
      repo: repo.bare,
      buildUidBase: uniqueBuildUidBase(),
      more: [
        '[sites.status]',
        'token = "${STATUS_TOKEN}"',
        'forge = "github"',
        'repo = "https://github.com/alice/blog"',
        `api = "${forgeApi}"`,
        '[[notify]]',
        'name = "hook"',
        'type = "webhook"',
        `url = "${receiverUrl}"`,
        'secret = "${HOOK_SECRET}"',
        'events = ["deploy.failed", "deploy.succeeded", "deploy.recovered"]',
        'allow_private = true',
        ...(admin === undefined ? [] : ['[admin]', `domain = "${admin}"`]),
      ],
    }).replace('http_port = 0', admin === undefined ? 'http_port = 0' : 'http_port = 8080'),
  );
  const env = { STATUS_TOKEN: TOKEN, HOOK_SECRET: WHSEC };
  const config = await loadConfig(file, env);
  const logs = captureLogs();
  const control = await startControlPlane(config, logs.logger);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await control.stop();
  };
  t.after(stop);
  const deploy = async (sha: string): Promise<DeployRecord> => {
    const record = control.deployer.submit({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main', sha });
    await control.deployer.idle();
    return control.store.getDeploy(record.id) as DeployRecord;
  };
  return { root, repo, file, env, config, control, logs, deploy, stop };
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  const code = await main(args, { stdout, stderr: new PassThrough(), env, cwd: '/' });
  return { code, stdout: Buffer.concat(chunks).toString('utf8') };
}

test('a deploy is reported on its commit and to the channels: pending then success, a failure, then a recovery', async (t) => {
  const forge = await fakeGithub(t);
  const receiver = await startReceiver(t);
  const s = await setUp(t, forge.base, receiver.url('/berth'));

  const first = await s.repo.commit({ 'index.html': '<h1>two</h1>' }, 'Second page');
  const live = await s.deploy(first);
  assert.equal(live.state, 'live');
  assert.ok(await eventually(async () => statuses(forge, first).at(-1)?.state === 'success'));
  const told = statuses(forge, first);
  assert.equal(told[0]?.state, 'pending');
  assert.equal(told[0]?.description, 'Waiting to deploy');
  assert.ok(told.every((status) => status.context === 'berth/blog'));
  assert.match(told.at(-1)?.description ?? '', /^Live in .*: release /);
  assert.ok(await eventually(async () => events(receiver).length === 1));
  assert.deepEqual(events(receiver).map((event) => event.type), ['deploy.succeeded']);
  assert.equal(events(receiver)[0]?.deploy?.sha, first);
  assert.equal(events(receiver)[0]?.deploy?.message, 'Second page');
  assert.ok(signatureValid(receiver.requests[0]?.headers ?? {}, receiver.requests[0]?.body ?? ''));
  assert.equal(receiver.requests[0]?.headers['user-agent'], 'Berth-Notify/1');

  const broken = await s.repo.commit({ 'berth.toml': '[build]\ncommand = "echo building; exit 3"\npublish = "."\n' }, 'Break the build');
  assert.equal((await s.deploy(broken)).state, 'failed');
  assert.ok(await eventually(async () => statuses(forge, broken).at(-1)?.state === 'failure'));
  assert.match(statuses(forge, broken).at(-1)?.description ?? '', /^Failed in .*: E_BUILD_FAILED; the live site is unchanged$/);
  assert.ok(await eventually(async () => events(receiver).length === 2));
  assert.equal(events(receiver)[1]?.type, 'deploy.failed');
  assert.equal(events(receiver)[1]?.deploy?.errorCode, 'E_BUILD_FAILED');

  const fixed = await s.repo.commit({ 'berth.toml': '[build]\ncommand = "echo fixed"\npublish = "."\n' }, 'Fix the build');
  assert.equal((await s.deploy(fixed)).state, 'live');
  assert.ok(await eventually(async () => statuses(forge, fixed).at(-1)?.state === 'success'));
  assert.ok(await eventually(async () => events(receiver).length === 4));
  assert.deepEqual(events(receiver).slice(2).map((event) => event.type).sort(), ['deploy.recovered', 'deploy.succeeded']);
  assert.ok(receiver.requests.every((request) => signatureValid(request.headers, request.body)));
  assert.deepEqual(forge.problems, []);

  const status = await cli(['notify', 'status', '--config', s.file, '--json'], s.env);
  assert.equal(status.code, 0);
  const [channel] = JSON.parse(status.stdout) as Array<{ name: string; last: { ok: boolean; eventType: string }; failuresSinceSuccess: number }>;
  assert.equal(channel?.name, 'hook');
  assert.equal(channel?.last.ok, true);
  assert.equal(channel?.failuresSinceSuccess, 0);
  const table = await cli(['notify', 'status', '--config', s.file], s.env);
  assert.match(table.stdout, /^CHANNEL\s+TYPE\s+EVENTS\s+LAST SENT\s+RESULT/);
  assert.match(table.stdout, /\nhook\s+webhook\s+deploy\.failed,deploy\.succeeded,deploy\.recovered\s+.*ok deploy\./);

  // A rollback (the dashboard's) posts no status and tells nobody: after it, the next deploy's are the only news.
  const service = createSiteService(s.config, s.control.store, s.control.deployer, s.logs.logger);
  const statusesBefore = forge.requests.length;
  const rolled = await service.rollback('blog', live.releaseId as string, 'alice');
  assert.equal(rolled.deploy?.trigger, 'rollback');
  assert.equal(rolled.deploy?.sha, first);
  service.unlock('blog', 'alice');
  const next = await s.repo.commit({ 'index.html': '<h1>three</h1>' }, 'Third page');
  assert.equal((await s.deploy(next)).state, 'live');
  assert.ok(await eventually(async () => statuses(forge, next).at(-1)?.state === 'success'));
  assert.ok(await eventually(async () => events(receiver).length === 5));
  assert.deepEqual(
    forge.requests.slice(statusesBefore).map((request) => STATUS_PATH.exec(request.url)?.[1]),
    forge.requests.slice(statusesBefore).map(() => next),
    'every status after the rollback is the next deploy\'s',
  );
  // Not a recovery, and not hidden by the rollback: the deploy before it was live too.
  assert.equal(events(receiver)[4]?.type, 'deploy.succeeded');
  assert.equal(events(receiver)[4]?.deploy?.sha, next);
});

test('with the dashboard on, each status links to the deploy\'s page there; without it, to nothing', async (t) => {
  const forge = await fakeGithub(t);
  const receiver = await startReceiver(t);
  const s = await setUp(t, forge.base, receiver.url('/berth'), 'admin.example.test');
  const sha = await s.repo.commit({ 'index.html': '<h1>linked</h1>' }, 'Linked');
  const record = await s.deploy(sha);
  assert.equal(record.state, 'live');
  assert.ok(await eventually(async () => statuses(forge, sha).at(-1)?.state === 'success'));
  const targets = forge.requests.filter((request) => request.url.endsWith(sha)).map((request) => (JSON.parse(request.body) as { target_url?: string }).target_url);
  assert.ok(targets.length >= 2);
  assert.deepEqual(new Set(targets), new Set([`http://admin.example.test:8080/deploys/${record.id}`]));
  assert.deepEqual(forge.problems, []);

  const plain = await fakeGithub(t);
  const without = await setUp(t, plain.base, receiver.url('/berth'));
  const other = await without.repo.commit({ 'index.html': '<h1>unlinked</h1>' }, 'Unlinked');
  assert.equal((await without.deploy(other)).state, 'live');
  assert.ok(await eventually(async () => statuses(plain, other).at(-1)?.state === 'success'));
  assert.ok(plain.requests.every((request) => !('target_url' in (JSON.parse(request.body) as object))));
});

test('a forge that is down and a channel that fails change nothing about the deploy, are logged once each, and never show the token', async (t) => {
  // A port that refuses: bound, then closed.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const receiver = await startReceiver(t, (_request, response) => {
    response.statusCode = 500;
    response.end('down for maintenance');
  });
  const s = await setUp(t, `http://127.0.0.1:${port}`, receiver.url('/berth'));

  const sha = await s.repo.commit({ 'index.html': '<h1>still deployed</h1>' }, 'Deploy anyway');
  const record = await s.deploy(sha);
  assert.equal(record.state, 'live');
  assert.equal(record.errorCode, undefined);
  assert.ok(await eventually(async () => s.logs.lines.some((line) => line.site === 'blog' && line.forge === 'github' && line.sha === sha)));
  assert.ok(await eventually(async () => receiver.requests.length >= 1));
  assert.ok(await eventually(async () => s.logs.lines.some((line) => line.kind === 'notify' && line.level === 'warn')), s.logs.text());
  await s.stop();
  // One warning per update sent (queued, fetching, building, publishing, live may collapse), never one per retry of the same.
  const forgeWarnings = s.logs.lines.filter((line) => line.forge === 'github' && line.level === 'warn');
  assert.ok(forgeWarnings.length >= 1);
  assert.ok(new Set(forgeWarnings.map((line) => `${String(line.sha)} ${String(line.state)}`)).size === forgeWarnings.length, 'an update is warned about once');
  assert.equal(s.logs.text().includes(TOKEN), false);
  assert.equal(s.logs.text().includes(WHSEC.slice(6)), false);

  const status = await cli(['notify', 'status', '--config', s.file, '--json'], s.env);
  const [channel] = JSON.parse(status.stdout) as Array<{ last: { ok: boolean; httpStatus?: number; willRetry: boolean }; failuresSinceSuccess: number }>;
  assert.equal(channel?.last.ok, false);
  assert.equal(channel?.last.httpStatus, 500);
  assert.ok((channel?.failuresSinceSuccess ?? 0) >= 1);
});

test('berth deploy with no server reports the same, and its notification is delivered before the command exits', async (t) => {
  const forge = await fakeGithub(t);
  const receiver = await startReceiver(t);
  const s = await setUp(t, forge.base, receiver.url('/berth'));
  // The command runs alone, as on a server with no `berth serve`: the control plane's lock is let go first.
  await s.stop();
  const sha = await s.repo.commit({ 'index.html': '<h1>by hand</h1>' }, 'Deploy by hand');
  const result = await cli(['deploy', '--config', s.file, '--sha', sha, '--quiet'], s.env);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /is live/);
  // No waiting here: the command waited for the deliveries itself.
  assert.deepEqual(events(receiver).map((event) => [event.type, event.deploy?.sha]), [['deploy.succeeded', sha]]);
  assert.equal(statuses(forge, sha).at(-1)?.state, 'success');
  assert.deepEqual(forge.problems, []);
});
