import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo, git } from '../helpers/git.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { readReloadStatus, reloadStatusPath } from '../../src/app/reload-status.ts';
import { childPids, startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { eventually, get, getH2 } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const supervise = join(import.meta.dirname, 'fixtures', 'supervise.ts');
const failingWorker = join(import.meta.dirname, 'fixtures', 'worker-failing-on-marker.ts');
const SECRET = 'config-reload-secret-for-tests';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `berth ARGS` as its own process, as a user runs it. */
function berth(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, cwd, timeout: 180_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

async function publish(config: string, dir: string, site: string): Promise<void> {
  const sink = new PassThrough();
  let said = '';
  sink.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const code = await main(['publish', dir, '--config', config, '--site', site], { stdout: sink, stderr: sink, env: {}, cwd: dir });
  assert.equal(code, 0, said);
}

const configOf = (server: ServeProcess): string => join(server.root, 'berth.toml');

async function edit(server: ServeProcess, change: (text: string) => string): Promise<void> {
  const file = configOf(server);
  await writeFile(file, change(await readFile(file, 'utf8')));
}

/** Requests `/` on new connections until stopped; returns every status, or the error of one that failed. */
function keepRequesting(port: number): { stop(): Promise<Array<number | string>> } {
  const seen: Array<number | string> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        seen.push((await get(port, '/')).status);
      } catch (error) {
        seen.push(String((error as NodeJS.ErrnoException).code ?? error));
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** The supervisor's children now, once those a reload stopped have exited: `workers` serving workers and one control plane. */
async function settledChildren(server: ServeProcess, workers: number): Promise<number[]> {
  let children: number[] = [];
  const settled = await eventually(async () => {
    children = await childPids(server.child.pid as number);
    const serving = new Set(server.lines.filter((line) => line.msg === 'listening').map((line) => Number(line.worker)));
    return children.length === workers + 1 && children.filter((pid) => serving.has(pid)).length === workers;
  }, 30_000);
  assert.ok(settled, `${workers} workers and a control plane, found children ${children.join(', ')}`);
  return children;
}

async function startWithTwoWorkers(t: TestContext, extra: Partial<Parameters<typeof startServeProcess>[1]> = {}): Promise<ServeProcess> {
  return startServeProcess(t, { files: { 'index.html': 'site one', 'big.bin': Buffer.alloc(16 * 1024 * 1024, 7) }, server: 'workers = 2', ...extra });
}

test('berth reload adds a site, changes a header and the worker count while every request is answered, and a download in flight completes', async (t) => {
  const server = await startWithTwoWorkers(t);
  const supervisor = server.child.pid as number;
  const before = await settledChildren(server, 2);
  assert.equal((await getH2(server.httpsPort, '/')).headers['strict-transport-security'], undefined);

  // A download started before the reload, read slowly across it.
  const download = new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.httpPort, path: '/big.bin', headers: { host: 'localhost' }, agent: false }, (res) => {
      let length = 0;
      res.pause();
      setTimeout(() => res.resume(), 2_000);
      res.on('data', (chunk: Buffer) => (length += chunk.length));
      res.on('end', () => resolve(length));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });

  const docs = await tempDir(t);
  await writeTree(docs, { 'index.html': 'the docs' });
  await edit(server, (text) => `${text.replace('workers = 2', 'workers = 3')}\nhsts = true\n[[sites]]\nname = "docs"\ndomains = ["docs.localhost"]\n`);
  await publish(configOf(server), docs, 'docs');

  const load = keepRequesting(server.httpPort);
  const reload = await berth(['reload', '--config', configOf(server)]);
  const statuses = await load.stop();
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /runs the new config/);
  assert.match(reload.stdout, /sites added: docs/);
  assert.match(reload.stdout, /sites changed: site/);
  assert.match(reload.stdout, /tables changed: \[server\]/);
  assert.ok(statuses.length > 0);
  assert.deepEqual(statuses.filter((status) => status !== 200), [], `every request during the reload was answered 200 (${statuses.length} requests)`);
  assert.equal(await download, 16 * 1024 * 1024, 'the download in flight completed');

  assert.equal(server.exited(), false);
  assert.equal(server.child.pid, supervisor, 'the same supervisor');
  const after = await settledChildren(server, 3);
  for (const pid of after) assert.ok(!before.includes(pid), `process ${pid} is new: every child was replaced`);
  assert.deepEqual(server.workerDeaths(), [], 'no child counted as crashed');
  const docsPage = await get(server.httpPort, '/', { host: 'docs.localhost' });
  assert.equal(docsPage.body.toString(), 'the docs');
  assert.match(String((await getH2(server.httpsPort, '/')).headers['strict-transport-security']), /max-age=31536000/);
  const status = await readReloadStatus(join(server.root, 'data'));
  assert.equal(status?.state, 'applied');
  assert.equal(status?.generation, 1);
});

test('a config that is not valid is refused before anything is signalled, and the server serves on unchanged', async (t) => {
  const server = await startWithTwoWorkers(t);
  const before = await settledChildren(server, 2);
  await edit(server, (text) => `${text}\n[[sites]]\nname = "site"\ndomains = ["other.example"]\n`);
  const reload = await berth(['reload', '--config', configOf(server)]);
  assert.equal(reload.code, 1);
  assert.match(reload.stderr, /E_CONFIG_INVALID/);
  assert.match(reload.stderr, /Nothing was reloaded: a running berth serve keeps its config/);
  assert.deepEqual(await settledChildren(server, 2), before, 'no process was replaced');
  assert.equal((await readReloadStatus(join(server.root, 'data')))?.generation, 0, 'the server was not asked');
  assert.equal((await get(server.httpPort, '/')).body.toString(), 'site one');
});

test('the server refuses a config whose secret its own environment lacks, keeps running, and a later fixed config applies', async (t) => {
  const server = await startWithTwoWorkers(t);
  const before = await settledChildren(server, 2);
  // The command's environment has the secret; berth serve's has not.
  await edit(server, (text) => `${text}\n[sites.webhook]\nforge = "github"\nsecret = "\${RELOAD_TEST_SECRET}"\n`);
  const refused = await berth(['reload', '--config', configOf(server)], { RELOAD_TEST_SECRET: 'only-in-the-shell-of-the-command' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refused the config and keeps running the one it has/);
  assert.match(refused.stderr, /RELOAD_TEST_SECRET/);
  assert.match(refused.stderr, /E_RELOAD_REFUSED/);
  assert.doesNotMatch(refused.stderr + refused.stdout, /only-in-the-shell-of-the-command/, 'no secret value printed');
  assert.deepEqual(await settledChildren(server, 2), before, 'no process was replaced');
  const logged = server.lines.find((line) => String(line.msg).startsWith('reload refused'));
  assert.ok(logged !== undefined, 'the server logs the refusal');
  assert.equal((await get(server.httpPort, '/')).body.toString(), 'site one');

  await edit(server, (text) => text.replace('[sites.webhook]\nforge = "github"\nsecret = "${RELOAD_TEST_SECRET}"\n', '').replace('workers = 2', 'workers = 1'));
  const applied = await berth(['reload', '--config', configOf(server)]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /runs the new config/);
  await settledChildren(server, 1);
  assert.equal((await get(server.httpPort, '/')).body.toString(), 'site one');
});

test('data_dir and server.user are named as needing a restart and keep their running values; the rest applies', async (t) => {
  const server = await startWithTwoWorkers(t);
  await edit(server, (text) => text.replace('workers = 2', 'workers = 1\nuser = "root"'));
  const reload = await berth(['reload', '--config', configOf(server)]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /server\.user: "berth" -> "root" takes effect when berth serve restarts \(until then it stays "berth"\)/);
  await settledChildren(server, 1);
  assert.equal((await get(server.httpPort, '/')).body.toString(), 'site one');
});

test('a reload moves the listeners: a port turned off closes, a port that stays keeps every connection, a new port serves, and a port in use is refused', async (t) => {
  const server = await startWithTwoWorkers(t);
  // HTTPS off; HTTP stays, and its sockets pass from the old workers to the new ones.
  await edit(server, (text) => text.replace('https_port = 0', 'https_port = false'));
  const load = keepRequesting(server.httpPort);
  const off = await berth(['reload', '--config', configOf(server)]);
  const statuses = await load.stop();
  assert.equal(off.code, 0, off.stderr);
  assert.doesNotMatch(off.stdout, /restart/);
  assert.deepEqual(statuses.filter((status) => status !== 200), [], `every request on the port that stays was answered (${statuses.length})`);
  await settledChildren(server, 2);
  assert.ok(await eventually(() => isRefused(server.httpsPort), 30_000), `HTTPS is closed: ${await connectOutcome(server.httpsPort)}`);

  // Another HTTP port: a free one now.
  const free = await moveHttpPort(server);

  // A port something else holds: refused, and the running port serves on.
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const taken = (holder.address() as AddressInfo).port;
  await edit(server, (text) => text.replace(`http_port = ${free}`, `http_port = ${taken}`));
  const refused = await berth(['reload', '--config', configOf(server)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`${taken}.*The running config is kept.*\\[E_RELOAD_FAILED\\]`, 's'));
  assert.equal((await get(free, '/')).body.toString(), 'site one');
  assert.deepEqual(server.workerDeaths(), []);
});

/** Reloads with `http_port` moved from 0 to a free port; checks that the new port serves and the old one closes. Returns the new port. */
async function moveHttpPort(server: ServeProcess): Promise<number> {
  const free = await freePort();
  await edit(server, (text) => text.replace('http_port = 0', `http_port = ${free}`));
  const moved = await berth(['reload', '--config', configOf(server)]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal((await get(free, '/')).body.toString(), 'site one');
  assert.ok(await eventually(() => isRefused(server.httpPort), 30_000), `the old port is closed: ${await connectOutcome(server.httpPort)}`);
  return free;
}

/** How a TCP connection to the port ends: `connected`, or the error code. */
function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
}

async function isRefused(port: number): Promise<boolean> {
  return (await connectOutcome(port)) === 'ECONNREFUSED';
}

/** A TCP port nothing listens on at this moment. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test('a config that has not changed replaces no process', async (t) => {
  const server = await startWithTwoWorkers(t);
  const before = await settledChildren(server, 2);
  const reload = await berth(['reload', '--config', configOf(server)]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stdout, /already runs this config; nothing to apply/);
  assert.deepEqual(await settledChildren(server, 2), before);
});

test('when a new worker cannot start, the reload fails, the running workers serve on with the running config, and a reload after the fault applies', async (t) => {
  const marker = join(await tempDir(t), 'fail');
  const server = await startWithTwoWorkers(t, { env: { BERTH_TEST_FAIL_MARKER: marker }, command: (config) => [supervise, config, failingWorker] });
  const before = await settledChildren(server, 2);
  await writeFile(marker, '');
  await edit(server, (text) => text.replace('workers = 2', 'workers = 3'));
  const load = keepRequesting(server.httpPort);
  const failed = await berth(['reload', '--config', configOf(server)]);
  const statuses = await load.stop();
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /a serving worker could not start with the new config .* the running config is kept \[E_RELOAD_FAILED\]/);
  assert.deepEqual(statuses.filter((status) => status !== 200), []);
  assert.equal(server.exited(), false, 'the server did not give up');
  assert.deepEqual(await settledChildren(server, 2), before, 'the running processes stay');

  assert.equal(existsSync(marker), false, 'the failing worker took the marker away');
  const applied = await berth(['reload', '--config', configOf(server)]);
  assert.equal(applied.code, 0, applied.stderr);
  await settledChildren(server, 3);
});

test('two reloads at once both end, and the server runs the config of the file', async (t) => {
  const server = await startWithTwoWorkers(t);
  await edit(server, (text) => text.replace('workers = 2', 'workers = 1'));
  const [first, second] = await Promise.all([berth(['reload', '--config', configOf(server)]), berth(['reload', '--config', configOf(server)])]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(second.code, 0, second.stderr);
  await settledChildren(server, 1);
  assert.deepEqual(server.workerDeaths(), []);
});

test('reload.json: a symbolic link in its place is replaced, not written through, and is not taken as an answer', async (t) => {
  const server = await startWithTwoWorkers(t);
  const dataDir = join(server.root, 'data');
  const target = join(await tempDir(t), 'target');
  await writeFile(target, 'untouched');
  await rm(reloadStatusPath(dataDir));
  await symlink(target, reloadStatusPath(dataDir));
  const unanswered = await berth(['reload', '--config', configOf(server)]);
  assert.equal(unanswered.code, 1);
  assert.match(unanswered.stderr, /has not said it takes reloads/);
  assert.match(unanswered.stderr, /E_RELOAD_UNANSWERED/);

  // The server writes it when a reload comes (here by the signal itself).
  process.kill(server.child.pid as number, 'SIGUSR2');
  await server.waitForLine((line) => line.msg === 'reload: nothing to apply');
  // The line is logged just before the file is written.
  assert.ok(await eventually(async () => (await lstat(reloadStatusPath(dataDir))).isFile(), 10_000), 'a file replaced the link');
  assert.equal(await readFile(target, 'utf8'), 'untouched');
  assert.equal(((await lstat(reloadStatusPath(dataDir))).mode & 0o777).toString(8), '600');
});

test('berth reload with no server running, with another config file than the server reads, and with a bad --wait says what to do', async (t) => {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(config, 'data_dir = "data"\n[acme]\ndirectory = "off"\n[[sites]]\nname = "site"\ndomains = ["localhost"]\n');
  const none = await berth(['reload', '--config', config]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no berth serve is running with the data dir .*; start it with: berth serve --config .* \[E_NOT_SERVING\]/);

  const badWait = await berth(['reload', '--config', config, '--wait', 'soon']);
  assert.equal(badWait.code, 2);
  assert.match(badWait.stderr, /--wait "soon" is not a number of seconds/);

  const server = await startWithTwoWorkers(t);
  const copy = join(server.root, 'copy.toml');
  await writeFile(copy, await readFile(configOf(server), 'utf8'));
  const other = await berth(['reload', '--config', copy]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, new RegExp(`reads ${configOf(server).replaceAll('/', '\\/')}, not .*copy\\.toml; edit that file, then run: berth reload --config`));
});

test('a deploy under way when the reload comes ends live, and only then does the control plane take the new config', async (t) => {
  const root = await tempDir(t, 'berth-reload-');
  // Builds run as the site's own uid: it walks in from here.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': 'v1', 'berth.toml': '[build]\ncommand = "echo build running; sleep 4"\npublish = "."\n' });
  const config = join(root, 'berth.toml');
  const text = deployConfig({ repo: repo.bare, more: ['[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`] }).replace('https_port = false', 'https_port = false\nworkers = 1');
  await writeFile(config, text);
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  assert.ok(await eventually(async () => lines.some((line) => line.msg === 'control plane ready') && lines.some((line) => line.msg === 'listening'), 60_000));
  const port = lines.find((line) => line.msg === 'listening')?.http as number;
  const head = git(repo.work, 'rev-parse', 'HEAD').trim();

  assert.equal((await githubPushTo(port, SECRET, { ref: 'refs/heads/main', after: head }, 'during-reload')).status, 202);
  const store = openStateStore(join(root, 'data'));
  t.after(() => store.close());
  const deploy = (): { id: string; state: string } | undefined => store.listDeploys({ site: 'blog' }).find((record) => record.sha === head);
  assert.ok(
    await eventually(async () => deploy() !== undefined && (await readFile(deployLogPath(join(root, 'data'), deploy()?.id as string), 'utf8').catch(() => '')).includes('| build running'), 60_000),
    'the build runs',
  );

  await writeFile(config, text.replace('workers = 1', 'workers = 2'));
  const reload = await berth(['reload', '--config', config]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.match(reload.stderr, /the control plane takes the new config once no deploy runs or waits/);
  assert.equal(deploy()?.state, 'live', 'the deploy ended live, not interrupted');
  assert.equal((await get(port, '/')).body.toString(), 'v1');
  const ended = lines.findIndex((line) => line.msg === 'control plane stopping; waiting for deploys to end');
  const wentLive = lines.findIndex((line) => line.deploy === deploy()?.id && String(line.msg).includes('live'));
  assert.ok(wentLive >= 0 && ended > wentLive, 'the old control plane was stopped after the deploy went live');
});

test('where SO_REUSEPORT is refused (one shared socket per port), a reload also answers every request and moves a port', async (t) => {
  const server = await startWithTwoWorkers(t, { command: (config) => [supervise, config, '-', 'no-reuseport'] });
  assert.equal(server.lines.find((line) => line.msg === 'started the control plane and the serving workers')?.sockets, 'shared');
  await edit(server, (text) => text.replace('workers = 2', 'workers = 3'));
  const load = keepRequesting(server.httpPort);
  const reload = await berth(['reload', '--config', configOf(server)]);
  const statuses = await load.stop();
  assert.equal(reload.code, 0, reload.stderr);
  assert.deepEqual(statuses.filter((status) => status !== 200), [], `every request was answered (${statuses.length})`);
  await settledChildren(server, 3);

  await moveHttpPort(server);
  assert.equal((await getH2(server.httpsPort, '/')).body.toString(), 'site one', 'the HTTPS port that stays still serves');
  assert.deepEqual(server.workerDeaths(), []);
});

test('when a later new worker cannot start after the old ones were replaced, workers of the running config take over before the new ones stop, and every request is answered', async (t) => {
  const marker = join(await tempDir(t), 'fail');
  const server = await startServeProcess(t, {
    files: { 'index.html': 'site one' },
    server: 'workers = 1',
    env: { BERTH_TEST_FAIL_MARKER: marker },
    command: (config) => [supervise, config, failingWorker],
  });
  const before = await settledChildren(server, 1);
  // The first new worker starts (and replaces the only old one); the second cannot.
  await writeFile(marker, '1');
  await edit(server, (text) => text.replace('workers = 1', 'workers = 2'));
  const load = keepRequesting(server.httpPort);
  const failed = await berth(['reload', '--config', configOf(server)]);
  const statuses = await load.stop();
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /a serving worker could not start with the new config/);
  assert.deepEqual(statuses.filter((status) => status !== 200), [], `every request was answered (${statuses.length})`);
  const after = await settledChildren(server, 1);
  assert.equal(after.filter((pid) => !before.includes(pid)).length, 1, 'one new worker, of the running config; the control plane stayed');
  assert.equal(server.exited(), false);
  assert.deepEqual(server.workerDeaths(), []);
});
