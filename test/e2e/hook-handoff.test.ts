import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { deploySocketPath } from '../../src/app/deploy-socket.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo, git, type TestRepo } from '../helpers/git.ts';
import { killServeTree } from '../helpers/serve-process.ts';
import { eventually, get } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { startReceiver } from '../notify/notify-fixtures.ts';
import { collectOutput } from '../helpers/collect-output.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Project {
  root: string;
  repo: TestRepo;
  config: string;
  data: string;
}

async function project(t: TestContext, files: Record<string, string> = { 'index.html': 'v1' }): Promise<Project> {
  const root = await tempDir(t, 'berth-handoff-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), files);
  const config = join(root, 'berth.toml');
  await writeFile(config, deployConfig({ repo: repo.bare, buildUidBase: uniqueBuildUidBase() }).replace('https_port = false', 'https_port = false\nworkers = 1'));
  return { root, repo, config, data: join(root, 'data') };
}

interface Serve {
  pid: number;
  port: Promise<number>;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** `berth serve` with one worker, ready once the worker has loaded the sites. */
function serve(t: TestContext, p: Project, env: Record<string, string> = {}): Serve {
  const child = spawn(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'sites ready') resolve(lines.find((seen) => seen.msg === 'listening')?.http as number);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { pid: child.pid as number, port, lines, exited, kill: (signal) => child.kill(signal) };
}

function installHook(p: Project): void {
  const installed = spawnSync(process.execPath, [cli, 'hook', 'install', '--config', p.config, '--repo', p.repo.bare], { cwd: p.root, encoding: 'utf8' });
  assert.equal(installed.status, 0, installed.stderr);
}

/** Commits `files` in the work clone and pushes with git itself; resolves with the commit and what the push printed. */
async function push(p: Project, files: Record<string, string>): Promise<{ sha: string; output: string }> {
  await writeTree(p.repo.work, files);
  git(p.repo.work, 'add', '-A');
  git(p.repo.work, 'commit', '--quiet', '-m', 'change');
  const pushed = spawnSync('git', ['push', 'origin', 'HEAD:refs/heads/main'], { cwd: p.repo.work, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: p.repo.work } });
  assert.equal(pushed.status, 0, pushed.stderr);
  return { sha: git(p.repo.work, 'rev-parse', 'HEAD'), output: pushed.stderr };
}

function deploys(p: Project): DeployRecord[] {
  const store = openStateStore(p.data);
  try {
    return store.listDeploys({ site: 'blog', limit: 50 });
  } finally {
    store.close();
  }
}

/** One exchange on the deploy socket: sends `data` (ending its side when `end`), resolves with the answer and whether the server closed. */
function exchange(p: Project, data: string | Buffer | undefined, end = true, timeoutMs = 15_000): Promise<{ answer: Record<string, unknown> | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(deploySocketPath(p.data));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms: ${text}`));
    }, timeoutMs);
    socket.on('connect', () => {
      if (data !== undefined) socket.write(data);
      if (end) socket.end();
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      let answer: Record<string, unknown> | undefined;
      try {
        answer = JSON.parse(text) as Record<string, unknown>;
      } catch {
        answer = undefined;
      }
      resolve({ answer, text });
    });
  });
}

async function ended(p: Project, id: string): Promise<DeployRecord> {
  let record: DeployRecord | undefined;
  const done = await eventually(async () => {
    record = deploys(p).find((deploy) => deploy.id === id);
    return record !== undefined && !['queued', 'building', 'publishing'].includes(record.state);
  }, 60_000);
  assert.ok(done && record !== undefined, `deploy ${id} ended: ${JSON.stringify(record)}`);
  return record;
}

test('a git push deploys in the hook with no server, and through the running server with one', async (t) => {
  const p = await project(t);
  installHook(p);
  const alone = await push(p, { 'index.html': 'no server' });
  assert.match(alone.output, /remote: Deploy \S+ of blog is live/, alone.output);
  assert.doesNotMatch(alone.output, /berth serve \(pid/);

  const s = serve(t, p);
  const port = await s.port;
  const socket = await lstat(deploySocketPath(p.data));
  assert.ok(socket.isSocket());
  assert.equal(socket.mode & 0o777, 0o600, 'the deploy socket is private');

  const { sha, output } = await push(p, { 'index.html': 'through the server' });
  assert.match(output, new RegExp(`remote: berth serve \\(pid ${s.pid}\\) runs deploy (\\S+); this shows its log`), output);
  assert.match(output, /remote: \[ *\d+\.\d+s\] deploy \S+: site blog, refs\/heads\/main at [0-9a-f]{40} \(hook\)/, 'the deploy log, as the server writes it');
  assert.match(output, /remote: \[ *\d+\.\d+s\] release \S+ is live/);
  assert.match(output, new RegExp(`remote: Deploy \\S+ of blog is live: release \\S+ from ${sha}`));
  assert.equal((await get(port, '/')).body.toString(), 'through the server');
  const [latest] = deploys(p);
  assert.equal(latest?.trigger, 'hook');
  assert.equal(latest?.sha, sha);
  assert.ok(s.lines.some((line) => line.msg === 'deploy handed over on the deploy socket' && line.deploy === latest?.id), 'the server took it');
  assert.ok(s.lines.some((line) => line.msg === 'deploy live' && line.deploy === latest?.id), 'the server ran it');

  // A site added to the file but not yet reloaded: the server refuses it, and the hook does not deploy it beside the server.
  await writeFile(p.config, `${await readFile(p.config, 'utf8')}\n[[sites]]\nname = "later"\ndomains = ["later.localhost"]\nrepo = ${JSON.stringify(p.repo.bare)}\n`);
  const refused = spawnSync(process.execPath, [cli, 'deploy', '--config', p.config, '--site', 'later', '--sha', sha, '--trigger', 'hook'], { cwd: p.root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /^berth deploy: No site named "later" in \S+; configured: blog \[E_SITE_UNKNOWN\]\nRun it again with: berth deploy --site later --ref refs\/heads\/main --sha [0-9a-f]{40} --config \S+\n$/);
  const store = openStateStore(p.data);
  assert.deepEqual(store.listDeploys({ site: 'later' }), [], 'nothing was deployed beside the server');
  store.close();

  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  await assert.rejects(lstat(deploySocketPath(p.data)), { code: 'ENOENT' }, 'the socket is removed at the stop');
});

test('a push hands its deploy to the server even when the config reads secrets only the server\'s environment has', async (t) => {
  const p = await project(t);
  const receiver = await startReceiver(t);
  const secret = `whsec_${Buffer.alloc(32, 4).toString('base64')}`;
  const channel = ['[[notify]]', 'name = "team"', 'type = "webhook"', 'url = "${TEAM_HOOK_URL}"', 'secret = "${TEAM_HOOK_SECRET}"', 'events = ["deploy.succeeded"]', 'allow_private = true'];
  await writeFile(p.config, `${await readFile(p.config, 'utf8')}\n${channel.join('\n')}\n`);
  installHook(p);
  const s = serve(t, p, { TEAM_HOOK_URL: receiver.url('/berth'), TEAM_HOOK_SECRET: secret });
  await s.port;
  // git push runs the hook in the pusher's environment, which has neither variable.
  const { sha, output } = await push(p, { 'index.html': 'secrets stay with the server' });
  assert.match(output, new RegExp(`remote: Deploy \\S+ of blog is live: release \\S+ from ${sha}`), output);
  assert.ok(await eventually(async () => receiver.requests.length === 1, 60_000), 'the server told the channel');
  const told = JSON.parse(receiver.requests[0]?.body ?? '{}') as { type: string; deploy: { sha: string; trigger: string } };
  assert.deepEqual([told.type, told.deploy.sha, told.deploy.trigger], ['deploy.succeeded', sha, 'hook']);
});

test('Ctrl-C while a hook follows the deploy stops the following; the server still makes it live', async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  const port = await s.port;
  // Pushed with no hook: the hook's command is run here, where a signal can be sent to it.
  const sha = await p.repo.commit({ 'index.html': 'slow', 'berth.toml': '[build]\ncommand = "echo started; sleep 3; echo done"\npublish = "."\n' });
  const child = spawn(process.execPath, [cli, 'deploy', '--config', p.config, '--site', 'blog', '--ref', 'refs/heads/main', '--sha', sha, '--trigger', 'hook'], {
    cwd: p.root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '' },
  });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const output = collectOutput(child.stderr, 'out| started');
  await output.reached;
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  const stderr = output.text();
  assert.equal(code, 0, stderr);
  const id = /runs deploy (\S+);/.exec(stderr)?.[1];
  assert.ok(id !== undefined, stderr);
  assert.ok(stderr.endsWith(`The deploy goes on in the server; follow it with: berth logs ${id} --follow --config ${p.config}\n`), stderr);
  assert.equal(stdout, '', 'no result: the command did not see the end');
  const record = await ended(p, id);
  assert.equal(record.state, 'live', JSON.stringify(record));
  assert.equal(record.trigger, 'hook');
  assert.equal((await get(port, '/')).body.toString(), 'slow');

  // The same from a real `git push`, Ctrl-C reaching its whole process group as a terminal's does.
  installHook(p);
  await writeTree(p.repo.work, { 'index.html': 'pushed, then Ctrl-C' });
  git(p.repo.work, 'commit', '--quiet', '-am', 'interrupted push');
  const pusher = spawn('git', ['push', 'origin', 'HEAD:refs/heads/main'], { cwd: p.repo.work, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: p.repo.work } });
  t.after(() => pusher.kill('SIGKILL'));
  const pushOutput = collectOutput(pusher.stderr, 'out| started');
  await pushOutput.reached;
  process.kill(-(pusher.pid as number), 'SIGINT');
  await once(pusher, 'exit');
  const pushed = pushOutput.text();
  const interrupted = /runs deploy (\S+);/.exec(pushed)?.[1];
  assert.ok(interrupted !== undefined, pushed);
  assert.equal((await ended(p, interrupted)).state, 'live', 'the deploy of the pushed commit went on in the server');
  assert.equal((await get(port, '/')).body.toString(), 'pushed, then Ctrl-C');
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('a server stopped or killed while a hook follows its deploy: the hook says so and prints the command that runs it again', async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  await s.port;
  const sha = await p.repo.commit({ 'index.html': 'never live', 'berth.toml': '[build]\ncommand = "echo started; sleep 30"\npublish = "."\n' });
  const child = spawn(process.execPath, [cli, 'deploy', '--config', p.config, '--sha', sha, '--trigger', 'hook'], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => child.kill('SIGKILL'));
  const output = collectOutput(child.stderr, 'out| started');
  await output.reached;
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  const [code] = (await once(child, 'exit')) as [number | null];
  const stderr = output.text();
  assert.equal(code, 1, stderr);
  assert.match(stderr, /berth deploy: deploy \S+ cancelled: .*\[E_BUILD_CANCELLED\]/);
  assert.ok(stderr.includes(`The deploy was interrupted before it finished; run it again with: berth deploy --site blog --ref refs/heads/main --sha ${sha} --config ${p.config}\n`), stderr);

  // Killed outright, the server records nothing: the hook notices it is gone instead of waiting for ever.
  const again = serve(t, p);
  await again.port;
  const follower = spawn(process.execPath, [cli, 'deploy', '--config', p.config, '--sha', sha, '--trigger', 'hook'], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => follower.kill('SIGKILL'));
  const following = collectOutput(follower.stderr, 'out| started');
  await following.reached;
  await killServeTree(again.pid);
  const [status] = (await once(follower, 'exit')) as [number | null];
  const said = following.text();
  assert.equal(status, 1, said);
  assert.match(said, new RegExp(`berth deploy: berth serve \\(pid ${again.pid}\\) stopped before deploy \\S+ ended; it is recorded as interrupted when the server starts again \\[E_DEPLOY_INTERRUPTED\\]`));
  assert.ok(said.includes(`Run it again with: berth deploy --site blog --ref refs/heads/main --sha ${sha} --config ${p.config}\n`), said);
});

test('hostile clients on the deploy socket get an error or are closed, and the server keeps deploying', async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  const port = await s.port;
  const tip = git(p.repo.work, 'rev-parse', 'HEAD');

  const oversized = await exchange(p, `{"site":"${'a'.repeat(5000)}"}\n`);
  assert.equal(oversized.answer?.code, 'E_HANDOFF_INVALID');
  assert.match(String(oversized.answer?.error), /longer than 4096 bytes/);
  const endless = await exchange(p, Buffer.alloc(64 * 1024, 'x'), false);
  assert.equal(endless.answer?.code, 'E_HANDOFF_INVALID', 'a request with no end is cut at the bound');
  const garbage = await exchange(p, 'not json\n');
  assert.equal(garbage.answer?.code, 'E_HANDOFF_INVALID');
  const array = await exchange(p, '[1,2]\n');
  assert.equal(array.answer?.code, 'E_HANDOFF_INVALID');
  const unknown = await exchange(p, `${JSON.stringify({ site: 'nope', ref: 'refs/heads/main', sha: tip })}\n`);
  assert.equal(unknown.answer?.code, 'E_SITE_UNKNOWN');
  const badSha = await exchange(p, `${JSON.stringify({ site: 'blog', ref: 'refs/heads/main', sha: 'HEAD; rm -rf /' })}\n`);
  assert.equal(badSha.answer?.code, 'E_HANDOFF_INVALID');
  assert.match(String(badSha.answer?.error), /not a full commit id/);
  const badRef = await exchange(p, `${JSON.stringify({ site: 'blog', ref: '--upload-pack=touch /tmp/x', sha: tip })}\n`);
  assert.equal(badRef.answer?.code, 'E_HANDOFF_INVALID');
  const extra = await exchange(p, `${JSON.stringify({ site: 'blog', ref: 'refs/heads/main', trigger: 'webhook' })}\n`);
  assert.equal(extra.answer?.code, 'E_HANDOFF_INVALID');
  // Connects and sends nothing: answered when the server's wait runs out.
  const silentStart = Date.now();
  const silent = await exchange(p, undefined, false);
  assert.equal(silent.answer?.code, 'E_HANDOFF_INVALID');
  assert.match(String(silent.answer?.error), /no request within 5 seconds/);
  assert.ok(Date.now() - silentStart < 10_000);

  // Many at once, holding their connections: those past the bound are closed, and none ends the server.
  const crowd = await Promise.all(
    Array.from({ length: 60 }, () =>
      new Promise<ReturnType<typeof connect>>((resolve) => {
        const socket = connect(deploySocketPath(p.data));
        socket.on('error', () => undefined);
        socket.once('connect', () => resolve(socket));
        socket.once('close', () => resolve(socket));
      }),
    ),
  );
  assert.ok(await eventually(async () => crowd.filter((socket) => socket.destroyed || socket.readableEnded).length >= 40, 10_000), 'connections past the bound are closed');
  for (const socket of crowd) socket.destroy();

  const sha = await p.repo.commit({ 'index.html': 'still deploying' });
  const good = await exchange(p, `${JSON.stringify({ site: 'blog', ref: 'refs/heads/main', sha })}\n`);
  assert.equal(typeof good.answer?.deploy, 'string', good.text);
  assert.equal((await ended(p, good.answer?.deploy as string)).state, 'live');
  assert.equal((await get(port, '/')).body.toString(), 'still deploying');
  assert.deepEqual(
    s.lines.filter((line) => String(line.msg).endsWith('exited; starting another') || line.level === 'fatal'),
    [],
    'no process died',
  );

  // A socket left by a server killed outright is replaced by the next one.
  await killServeTree(s.pid);
  await s.exited;
  assert.ok((await lstat(deploySocketPath(p.data))).isSocket(), 'the killed server left its socket');
  const again = serve(t, p);
  await again.port;
  const next = await p.repo.commit({ 'index.html': 'after a restart' });
  const after = await exchange(p, `${JSON.stringify({ site: 'blog', ref: 'refs/heads/main', sha: next })}\n`);
  assert.equal(typeof after.answer?.deploy, 'string', after.text);
  assert.equal((await ended(p, after.answer?.deploy as string)).state, 'live');
  again.kill('SIGTERM');
  assert.equal(await again.exited, 0);
});

test('a link planted at deploy.sock is neither followed nor removed; the hook then deploys in its own process', async (t) => {
  const p = await project(t);
  installHook(p);
  await mkdir(p.data, { mode: 0o700 });
  const elsewhere = join(p.root, 'elsewhere');
  await symlink(elsewhere, deploySocketPath(p.data));
  const s = serve(t, p);
  await s.port;
  assert.ok(s.lines.some((line) => String(line.msg).startsWith('cannot take deploys on') && String(line.msg).includes('is not a socket')), JSON.stringify(s.lines));
  assert.equal(await readlink(deploySocketPath(p.data)), elsewhere, 'the link is left as it was');
  await assert.rejects(stat(elsewhere), { code: 'ENOENT' }, 'nothing was created where it points');

  const { sha, output } = await push(p, { 'index.html': 'deployed by the hook itself' });
  assert.match(output, /remote: berth serve \(pid \d+\) takes no deploys on its socket \(\S+ is not a socket\); deploying in this process/, output);
  assert.match(output, new RegExp(`remote: Deploy \\S+ of blog is live: release \\S+ from ${sha}`));
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
  assert.equal(await readlink(deploySocketPath(p.data)), elsewhere);
});

test('deploys handed over while a reload replaces the control plane are all queued, by the old control plane or the new one', async (t) => {
  const p = await project(t, { 'index.html': 'v1', 'berth.toml': '[build]\ncommand = "echo build running; sleep 3"\npublish = "."\n' });
  const s = serve(t, p);
  await s.port;
  const head = git(p.repo.work, 'rev-parse', 'HEAD');
  const request = `${JSON.stringify({ site: 'blog', ref: 'refs/heads/main', sha: head })}\n`;
  const first = await exchange(p, request);
  const id = first.answer?.deploy;
  assert.equal(typeof id, 'string', first.text);
  assert.ok(await eventually(async () => (await readFile(deployLogPath(p.data, id as string), 'utf8').catch(() => '')).includes('| build running'), 60_000), 'the build runs');

  // A changed worker count: new workers, then a new control plane once the build has ended.
  await writeFile(p.config, (await readFile(p.config, 'utf8')).replace('workers = 1', 'workers = 2'));
  let reloaded = false;
  const reload = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, 'reload', '--config', p.config], { timeout: 180_000 }, (error, _stdout, stderr) => {
      reloaded = true;
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr });
    });
  });
  const answers: Array<Record<string, unknown> | undefined> = [];
  while (!reloaded) {
    answers.push((await exchange(p, request)).answer);
    await sleep(300);
  }
  answers.push((await exchange(p, request)).answer);
  const { code, stderr } = await reload;
  assert.equal(code, 0, stderr);
  assert.equal(s.lines.filter((line) => line.msg === 'control plane ready').length, 2, 'the control plane was replaced');
  assert.ok(answers.length >= 3, `handed over during the reload: ${answers.length}`);
  for (const answer of answers) assert.equal(typeof answer?.deploy, 'string', `every handoff was queued: ${JSON.stringify(answers)}`);
  for (const answer of [first.answer, ...answers]) {
    const record = await ended(p, answer?.deploy as string);
    assert.ok(['live', 'skipped', 'superseded'].includes(record.state), JSON.stringify(record));
  }
  assert.equal((await ended(p, id as string)).state, 'live');
  const ids = new Set(answers.map((answer) => answer?.deploy));
  const planes = new Set(s.lines.filter((line) => line.msg === 'deploy started' && ids.has(line.deploy)).map((line) => line.controlPlane));
  assert.equal(planes.size, 2, 'some were run by the old control plane, the others by the new one');
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('a push to a locked site is kept in the repository and not deployed, by the server or by the hook itself', async (t) => {
  const p = await project(t);
  const first = await push(p, { 'index.html': 'one' });
  const hand = spawnSync(process.execPath, [cli, 'deploy', '--config', p.config, '--site', 'blog', '--sha', first.sha], { cwd: p.root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(hand.status, 0, hand.stderr);
  const store = openStateStore(p.data);
  t.after(() => store.close());
  store.lockSite('blog', { by: 'alice', at: new Date().toISOString(), reason: 'rolled back' });
  const before = store.listDeploys({ site: 'blog' }).length;
  const second = await push(p, { 'index.html': 'two' });
  // No server: the hook's own deploy is refused.
  const alone = spawnSync(process.execPath, [cli, 'deploy', '--config', p.config, '--site', 'blog', '--sha', second.sha, '--trigger', 'hook'], { cwd: p.root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(alone.status, 1, alone.stderr);
  assert.match(alone.stderr, /locked by alice .*\[E_DEPLOYS_LOCKED\]/);
  // With a server: it refuses the handed-over deploy, and the hook does not deploy beside it.
  const s = serve(t, p);
  await s.port;
  const handed = spawnSync(process.execPath, [cli, 'deploy', '--config', p.config, '--site', 'blog', '--sha', second.sha, '--trigger', 'hook'], { cwd: p.root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  assert.equal(handed.status, 1, handed.stderr);
  assert.match(handed.stderr, /locked by alice .*\[E_DEPLOYS_LOCKED\]/);
  assert.equal(store.listDeploys({ site: 'blog' }).length, before, 'nothing was deployed');
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});
