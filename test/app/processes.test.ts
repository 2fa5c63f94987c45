import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { toWire } from '../../src/app/config-wire.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import { createRepo, git } from '../helpers/git.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { eventually, get } from '../helpers/server.ts';
import { childPids, killServeTree, startServeProcess } from '../helpers/serve-process.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { listenersOfPort, listeningInodes, openFilesOf } from '../helpers/listening-sockets.ts';
import { tempDir } from '../helpers/temp.ts';
import { serviceUserRepo } from '../helpers/service-user-repo.ts';
import { serviceAccount } from '../helpers/service-account.ts';
import { buildUids } from '../../src/deploy/build-user.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const workerMain = join(import.meta.dirname, '..', '..', 'src', 'app', 'worker-main.ts');
const recordModules = join(import.meta.dirname, '..', 'helpers', 'record-modules.ts');
const SECRET = 'processes-secret-for-tests';

/** The pids of `berth serve`'s children, split into the workers (they said `listening`) and the rest. */
/** The nice value in a /proc stat file (field 19; the command name in field 2 may hold spaces). */
async function niceOf(statFile: string): Promise<number> {
  const text = await readFile(statFile, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[16]);
}

async function tree(supervisor: number, workers: readonly number[]): Promise<{ control: number[]; workers: number[] }> {
  const children = await childPids(supervisor);
  return { control: children.filter((pid) => !workers.includes(pid)), workers: children.filter((pid) => workers.includes(pid)) };
}

test('each serving worker listens on its own socket for every port, the supervisor and control plane on none, and several workers answer', async (t) => {
  const server = await startServeProcess(t, { files: { 'index.html': 'spread' }, server: 'workers = 3' });
  const supervisor = server.child.pid as number;
  const processes = await tree(supervisor, server.servingPids);
  assert.equal(processes.workers.length, 3);
  assert.equal(processes.control.length, 1, 'one control plane besides the workers');
  for (const port of [server.httpPort, server.httpsPort]) {
    const owners = await listenersOfPort(port, [supervisor, ...processes.control, ...processes.workers]);
    assert.equal((await listeningInodes(port)).length, 3, `three listening sockets on port ${port}`);
    for (const worker of processes.workers) assert.equal(owners.get(worker)?.length, 1, `worker ${worker} holds one socket of port ${port}`);
    assert.equal(new Set(processes.workers.flatMap((worker) => owners.get(worker) ?? [])).size, 3, 'each its own');
    assert.deepEqual(owners.get(supervisor), [], 'the supervisor kept no copy');
    assert.deepEqual(owners.get(processes.control[0] as number), [], 'the control plane listens on nothing');
  }
  // Deploys yield the CPU to serving: every thread of the control plane runs at nice 10, the workers' at the supervisor's.
  for (const tid of await readdir(`/proc/${processes.control[0] as number}/task`)) assert.equal(await niceOf(`/proc/${processes.control[0] as number}/task/${tid}/stat`), 10, `control plane thread ${tid}`);
  for (const worker of processes.workers) assert.equal(await niceOf(`/proc/${worker}/stat`), await niceOf(`/proc/${supervisor}/stat`), `worker ${worker}`);
  // New connections are spread by the kernel (by a hash of the client's port): with 60 of them, all on one worker would be a 3^-59 chance.
  for (let i = 0; i < 60; i++) assert.equal((await get(server.httpPort, '/')).body.toString(), 'spread');
  const access = (): Array<Record<string, unknown>> => server.lines.filter((line) => line.kind === 'access' && line.url === '/');
  await server.waitForLine(() => access().length >= 60);
  const answered = new Set(access().map((line) => line.worker));
  assert.ok(answered.size >= 2, `requests were answered by ${answered.size} worker(s)`);
  for (const pid of answered) assert.ok(processes.workers.includes(pid as number), 'only workers answer');
});

test('where SO_REUSEPORT is refused, the workers share one socket per port, a warning says so once, and every request is answered by a worker', async (t) => {
  const supervise = join(import.meta.dirname, 'fixtures', 'supervise.ts');
  const server = await startServeProcess(t, { files: { 'index.html': 'shared' }, server: 'workers = 2', command: (config) => [supervise, config, '-', 'no-reuseport'] });
  const supervisor = server.child.pid as number;
  const processes = await tree(supervisor, server.servingPids);
  assert.equal(processes.workers.length, 2);
  assert.equal(server.lines.filter((line) => String(line.msg).includes('refuses SO_REUSEPORT')).length, 1, 'one warning');
  assert.equal(server.lines.find((line) => line.msg === 'started the control plane and the serving workers')?.sockets, 'shared');
  for (const port of [server.httpPort, server.httpsPort]) {
    assert.equal((await listeningInodes(port)).length, 1, `one listening socket on port ${port}`);
    const owners = await listenersOfPort(port, [supervisor, ...processes.workers]);
    // The supervisor keeps its copy for replacements, so it accepts some connections and passes them on.
    for (const pid of [supervisor, ...processes.workers]) assert.equal(owners.get(pid)?.length, 1, `process ${pid} holds the shared socket of port ${port}`);
  }
  for (let i = 0; i < 60; i++) assert.equal((await get(server.httpPort, '/')).body.toString(), 'shared');
  const access = (): Array<Record<string, unknown>> => server.lines.filter((line) => line.kind === 'access' && line.url === '/');
  await server.waitForLine(() => access().length >= 60);
  for (const line of access()) assert.ok(processes.workers.includes(line.worker as number), 'only workers answer');
  assert.equal(server.exited(), false);
});

test('a worker killed under load is replaced, every request started after its death was noticed is answered, and none is answered 503 while the replacement loads', async (t) => {
  const server = await startServeProcess(t, { files: { 'index.html': 'steady' }, server: 'workers = 2' });
  const [victim, survivor] = server.servingPids as [number, number];
  let running = true;
  let deathSeen = false;
  const after = { ok: 0, failed: [] as string[] };
  let before = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const counted = deathSeen;
      try {
        const res = await get(server.httpPort, '/');
        assert.equal(res.body.toString(), 'steady');
        if (counted) after.ok++;
        else before++;
      } catch (error) {
        // A connection waiting in the killed worker's queue is reset with it: only those started before count as allowed.
        if (counted) after.failed.push(String(error));
      }
    }
  };
  const loops = Array.from({ length: 4 }, loop);
  await eventually(async () => before >= 40);
  process.kill(victim, 'SIGKILL');
  const death = await server.waitForLine((line) => line.msg === 'worker exited; starting another' && line.pid === victim);
  assert.ok(death !== undefined && death.signal === 'SIGKILL', 'the supervisor noticed the death');
  deathSeen = true;
  const replacement = await server.waitForLine((line) => line.msg === 'listening' && line.worker !== victim && line.worker !== survivor);
  assert.ok(replacement !== undefined, 'a replacement worker serves');
  await eventually(async () => after.ok >= 40);
  running = false;
  await Promise.all(loops);
  assert.deepEqual(after.failed, [], 'no request failed once the death was noticed');
  assert.ok(after.ok >= 40);
  // The replacement got its socket only once its release was loaded: no request was answered 503 "starting".
  assert.deepEqual(server.lines.filter((line) => line.kind === 'access' && line.status !== 200), []);
  const loaded = server.lines.findIndex((line) => line.msg === 'sites ready' && line.worker === replacement.worker);
  const listened = server.lines.findIndex((line) => line.msg === 'listening' && line.worker === replacement.worker);
  assert.ok(loaded !== -1 && loaded < listened, 'the replacement loaded its sites before it listened');
  const owners = await listenersOfPort(server.httpPort, [survivor, replacement.worker as number]);
  assert.equal(owners.get(replacement.worker as number)?.length, 1, 'the replacement has a socket of its own');
  assert.equal((await listeningInodes(server.httpPort)).length, 2, "the dead worker's socket is gone, not kept by anyone");
  assert.equal(server.exited(), false);
});

test('a worker sent a config it cannot use says so in one line, and the supervisor stops with exit 1 instead of restarting it', async (t) => {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(config, deployConfig({ more: [] }).replace('https_port = false', 'https_port = false\nworkers = 2'));
  const entry = join(import.meta.dirname, 'fixtures', 'worker-of-another-version.ts');
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'supervise.ts'), config, entry], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1, stdout + stderr);
  assert.equal(
    stderr,
    'berth serve (worker): Cannot use the configuration the supervisor sent: it is not config version 1 (got 2); run the supervisor and its children from the same Berth installation [E_CONFIG_WIRE]\n',
    'one line, from the one worker started',
  );
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const fatal = lines.filter((line) => line.level === 'fatal');
  assert.equal(fatal.length, 1);
  assert.match(String(fatal[0]?.msg), /^the worker \(pid \d+\) cannot run with the configuration it was given, and would fail the same way again; stopping/);
  assert.ok(!lines.some((line) => String(line.msg).endsWith('exited; starting another')), 'nothing was restarted');
  assert.equal(lines.at(-1)?.msg, 'stopped');
});

test('a worker started with an unusable first message, or not by berth serve, exits 78 with one line on standard error', async (t) => {
  const root = await tempDir(t);
  const file = join(root, 'berth.toml');
  await writeFile(file, deployConfig({}));
  const wire = toWire(await loadConfig(file, {}));
  const run = async (messages: unknown[]): Promise<{ code: number | null; stderr: string }> => {
    const child = fork(workerMain, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    for (const message of messages) child.send(message as object);
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stderr };
  };
  const cases: Array<[unknown[], RegExp]> = [
    [[{ berth: 'config', wire: { berthConfig: 1, config: 'all of it' } }], /Cannot use the configuration the supervisor sent: config is not an object \(string\)/],
    [[{ berth: 'config' }], /the message is not an object \(undefined\)/],
    [[{ berth: 'config', wire, sockets: ['http', 'ftp'] }], /its list of sockets is not a list of "http" and "https"/],
    [[{ berth: 'config', wire, sockets: 'http' }], /its list of sockets is not a list/],
    // Anything before the config is ignored; the first config decides.
    [[{ berth: 'socket', kind: 'http' }, [1, 2, 3], 'config', { berth: 'config', wire: { ...wire, berthConfig: 0 } }, { berth: 'config', wire }], /not config version 1 \(got 0\)/],
  ];
  for (const [messages, reason] of cases) {
    const { code, stderr } = await run(messages);
    assert.equal(code, 78, stderr);
    assert.match(stderr, /^berth serve \(worker\): .*\[E_CONFIG_WIRE\]\n$/);
    assert.match(stderr, reason);
  }
  const alone = spawn(process.execPath, [workerMain], { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  alone.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const [code] = (await once(alone, 'exit')) as [number | null];
  assert.equal(code, 78);
  assert.equal(said, 'berth serve (worker): this program is started by `berth serve`, which passes it its configuration; run `berth serve` instead\n');
});

interface Running {
  root: string;
  repo: Awaited<ReturnType<typeof createRepo>>;
  child: ReturnType<typeof spawn>;
  lines: Array<Record<string, unknown>>;
  modules: string;
  port: number;
  seen(match: (line: Record<string, unknown>) => boolean): Promise<boolean>;
  push(sha: string, delivery: string): Promise<number>;
  head(): string;
}

/** `berth serve` with two workers and a site deployed from a git repository by webhook; every module each process loads is recorded. */
async function serveRepo(t: import('node:test').TestContext): Promise<Running> {
  const root = await tempDir(t, 'berth-proc-');
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': 'v1' });
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    deployConfig({ repo: repo.bare, buildUidBase: uniqueBuildUidBase(), more: ['[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`] }).replace('https_port = false', 'https_port = false\nworkers = 2'),
  );
  const modules = join(root, 'modules');
  await mkdir(modules);
  const child = spawn(process.execPath, ['--import', recordModules, cli, 'serve', '--config', config], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', BERTH_TEST_MODULES_DIR: modules },
  });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const seen = (match: (line: Record<string, unknown>) => boolean): Promise<boolean> => eventually(async () => lines.some(match), 60_000);
  assert.ok(await seen((line) => line.msg === 'listening') && (await seen((line) => line.msg === 'listening' && lines.filter((other) => other.msg === 'listening').length === 2)), stderr);
  const port = lines.find((line) => line.msg === 'listening')?.http as number;
  return {
    root,
    repo,
    child,
    lines,
    modules,
    port,
    seen,
    push: async (sha, delivery) => (await githubPushTo(port, SECRET, { ref: 'refs/heads/main', after: sha }, delivery)).status,
    head: () => git(repo.work, 'rev-parse', 'HEAD').trim(),
  };
}

test('the control plane killed during a build: serving goes on, a new one records the deploy interrupted, and workers never open state.db or load sqlite, git or deploy code', async (t) => {
  const { root, repo, child, lines, modules, port, seen, push, head } = await serveRepo(t);
  // A first deploy goes live through the control plane, so its code has run.
  assert.equal(await push(head(), 'first'), 202);
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'v1', 60_000), 'the first deploy went live');
  const sha = await repo.commit({ 'index.html': 'never live', 'berth.toml': '[build]\ncommand = "echo build running; sleep 60"\npublish = "."\n' });
  assert.equal(await push(sha, 'second'), 202);
  const store = openStateStore(join(root, 'data'));
  t.after(() => store.close());
  const id = (): string | undefined => store.listDeploys({ site: 'blog' }).find((deploy) => deploy.sha === sha)?.id;
  assert.ok(
    await eventually(async () => id() !== undefined && (await readFile(deployLogPath(join(root, 'data'), id() as string), 'utf8').catch(() => '')).includes('| build running'), 60_000),
    'the build runs',
  );

  const workers = [...new Set(lines.filter((line) => line.msg === 'listening').map((line) => line.worker as number))];
  const { control } = await tree(child.pid as number, workers);
  const [controlPlane] = control as [number];
  for (const worker of workers) {
    const open = await openFilesOf(worker);
    assert.ok(!open.some((file) => file.includes('state.db')), `worker ${worker} has no state.db open: ${open.join(', ')}`);
    const loaded = await readFile(join(modules, `${worker}.txt`), 'utf8');
    for (const forbidden of ['node:sqlite', 'node:child_process', '/src/deploy/', '/src/state/', '/src/acme/certificate-manager.ts', '/src/acme/acme-session.ts']) {
      assert.ok(!loaded.includes(forbidden), `worker ${worker} did not load ${forbidden}`);
    }
    assert.ok(loaded.includes('/src/app/start-server.ts'), 'the record is of a worker');
  }
  assert.ok((await openFilesOf(controlPlane)).some((file) => file.endsWith('state.db')), 'the control plane has state.db open: the check above can see it');
  assert.ok((await readFile(join(modules, `${controlPlane}.txt`), 'utf8')).includes('node:sqlite'), 'the control plane loads sqlite: the check above can see it');

  process.kill(controlPlane, 'SIGKILL');
  assert.ok(await seen((line) => line.msg === 'control plane exited; starting another' && line.pid === controlPlane), 'the death was noticed');
  // Serving does not wait for the new control plane.
  for (let i = 0; i < 20; i++) assert.equal((await get(port, '/')).body.toString(), 'v1');
  assert.ok(
    await seen((line) => line.msg === 'deploy was interrupted: the process running it stopped or crashed; marked failed' && line.deploy === id() && line.controlPlane !== controlPlane),
    'a new control plane recorded the deploy interrupted',
  );
  const record = store.listDeploys({ site: 'blog' }).find((deploy) => deploy.sha === sha);
  assert.equal(record?.state, 'failed');
  assert.equal(record?.errorCode, 'E_DEPLOY_INTERRUPTED');
  // And it takes deploys again: a push is answered by the new control plane.
  assert.equal(await push(head(), 'third'), 202);

  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
  assert.equal((await readdir(join(root, 'data'))).includes('serve.lock'), false, 'the data dir lock was released');
});

test('a deploy is recorded live only once every worker serves its release: with one worker stopped it waits, and goes live when it continues', async (t) => {
  const { root, repo, lines, seen, push, head } = await serveRepo(t);
  assert.equal(await push(head(), 'first'), 202);
  const store = openStateStore(join(root, 'data'));
  t.after(() => store.close());
  const stateOf = (sha: string): string | undefined => store.listDeploys({ site: 'blog' }).find((deploy) => deploy.sha === sha)?.state;
  assert.ok(await eventually(async () => stateOf(head()) === 'live', 60_000), 'the first deploy went live');
  const [stopped, running] = [...new Set(lines.filter((line) => line.msg === 'listening').map((line) => line.worker as number))] as [number, number];
  // The build waits for a file, so that the worker is stopped before the switch whatever the timing.
  const go = join(root, 'go');
  const sha = await repo.commit({ 'index.html': 'v2', 'berth.toml': `[build]\ncommand = "until [ -e ${go} ]; do sleep 0.1; done"\npublish = "."\n` });
  // Sent while both workers run: the kernel may hand the connection to either.
  assert.equal(await push(sha, 'second'), 202);
  process.kill(stopped, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(stopped, 'SIGCONT');
    } catch {
      // Gone already.
    }
  });
  await writeFile(go, '');
  const id = (): string => store.listDeploys({ site: 'blog' }).find((deploy) => deploy.sha === sha)?.id ?? '';
  // The control plane has switched the link and asked; the running worker has loaded the release.
  assert.ok(await eventually(async () => (await readFile(deployLogPath(join(root, 'data'), id()), 'utf8').catch(() => '')).includes('waiting for the serving workers to answer with it'), 60_000));
  const release = (): unknown => store.listDeploys({ site: 'blog' }).find((deploy) => deploy.sha === sha)?.releaseId;
  assert.ok(await seen((line) => line.msg === 'release active' && line.worker === running && line.release !== lines.find((first) => first.msg === 'release active')?.release));
  assert.notEqual(stateOf(sha), 'live', 'not live while a worker still serves the old release');
  assert.equal(release(), undefined);
  process.kill(stopped, 'SIGCONT');
  assert.ok(await eventually(async () => stateOf(sha) === 'live', 60_000), 'live once the stopped worker caught up');
  const live = String(release());
  assert.ok(lines.some((line) => line.msg === 'release active' && line.worker === stopped && line.release === live), 'the stopped worker loaded it');
  assert.ok(lines.some((line) => line.msg === 'release active' && line.worker === running && line.release === live));
});

/** The real, effective, saved and filesystem uids of a process (/proc/PID/status). */
async function uidsOf(pid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
}

test('started as root with a service user, the control plane and the workers run as that user, and a build still runs as its site\'s uid through the supervisor', async (t) => {
  const account = await serviceAccount(t);
  const { root, repo } = await serviceUserRepo(t, account, 'berth-proc-user-', { 'build.sh': 'mkdir -p dist && id -u > dist/uid.txt && echo built > dist/index.html\n' });
  const base = uniqueBuildUidBase();
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    deployConfig({ repo: repo.bare, buildUidBase: base, more: ['[sites.build]', 'command = "sh build.sh"', 'publish = "dist"', '[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`] }).replace(
      'https_port = false',
      `https_port = false\nworkers = 2\nuser = ${JSON.stringify(account.name)}`,
    ),
    { mode: 0o644 },
  );
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  const exited = once(child, 'exit');
  // Before the account is removed (clean-ups run last first): userdel refuses while its processes run.
  onCleanup(t, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    await killServeTree(child.pid as number);
    await exited;
  });
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = await eventually(async () => lines.filter((line) => line.msg === 'sites ready').length === 2 && lines.some((line) => line.msg === 'control plane ready'), 60_000);
  assert.ok(ready, `${stderr}${JSON.stringify(lines)}`);
  const port = lines.find((line) => line.msg === 'listening')?.http as number;
  const workers = [...new Set(lines.filter((line) => line.msg === 'listening').map((line) => line.worker as number))];
  const { control } = await tree(child.pid as number, workers);
  const [controlPlane] = control as [number];

  assert.deepEqual(await uidsOf(child.pid as number), [0, 0, 0, 0], 'the supervisor keeps root');
  for (const pid of [controlPlane, ...workers]) assert.deepEqual(await uidsOf(pid), [account.uid, account.uid, account.uid, account.uid], `process ${pid} runs as ${account.name}`);
  const environ = async (pid: number): Promise<string[]> => (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  assert.ok((await environ(controlPlane)).includes('BERTH_BUILD_HOST=parent'), 'the control plane asks the supervisor for builds');
  for (const worker of workers) assert.ok(!(await environ(worker)).some((entry) => entry.startsWith('BERTH_BUILD_HOST=')), 'a worker has no build host');
  assert.equal((await stat(join(root, 'data', 'state.db'))).uid, account.uid, 'the data dir was handed to the service user');
  // Node's compile cache for the children is in the data dir, which only the service user writes (cached code is code Berth runs).
  const cache = join(root, 'data', 'node-compile-cache');
  for (const pid of [controlPlane, ...workers]) assert.ok((await environ(pid)).includes(`NODE_COMPILE_CACHE=${cache}`), `process ${pid} keeps a compile cache`);

  const head = git(repo.work, 'rev-parse', 'HEAD').trim();
  assert.equal((await githubPushTo(port, SECRET, { ref: 'refs/heads/main', after: head }, 'as-user')).status, 202);
  const store = openStateStore(join(root, 'data'));
  t.after(() => store.close());
  const live = await eventually(async () => store.listDeploys({ site: 'blog' }).some((deploy) => deploy.sha === head && deploy.state === 'live'), 60_000);
  assert.ok(live, JSON.stringify(store.listDeploys({ site: 'blog' })));
  const built = (await get(port, '/uid.txt')).body.toString().trim();
  assert.equal(Number(built), buildUids(['blog'], base).get('blog'), "the build ran as the site's own uid, neither root nor the service user");
  // The deploy socket is the service user's: a hook run as that user hands its deploy to the server.
  const socket = await lstat(join(root, 'data', 'deploy.sock'));
  assert.deepEqual([socket.isSocket(), socket.uid, socket.mode & 0o777], [true, account.uid, 0o600]);
  const hook = spawnSync(process.execPath, [cli, 'deploy', '--config', config, '--ref', 'refs/heads/main', '--sha', head, '--trigger', 'hook'], {
    cwd: root,
    encoding: 'utf8',
    uid: account.uid,
    gid: account.gid,
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });
  assert.equal(hook.status, 0, hook.stderr);
  assert.match(hook.stderr, new RegExp(`berth serve \\(pid ${child.pid}\\) runs deploy`));
  assert.match(hook.stdout, new RegExp(`^Deploy \\S+: ${head} is already live on blog; nothing to do\n$`));

  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0);
  // Written as the children exit: the next start runs their code without stripping its types again.
  const cached = await readdir(cache);
  assert.ok(cached.some((entry) => entry.endsWith(`-${account.uid}`)), `the service user's cache: ${cached.join(', ')}`);
  for (const entry of [cache, ...cached.map((name) => join(cache, name))]) {
    const info = await stat(entry);
    assert.equal(info.uid, account.uid, `${entry} belongs to the service user`);
    assert.equal(info.mode & 0o022, 0, `${entry} is not writable by others`);
  }
});
