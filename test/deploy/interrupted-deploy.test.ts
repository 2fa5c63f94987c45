import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { watch } from 'node:fs';
import { access, chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openStateStore } from '../../src/state/state-store.ts';
import { createRepo, git, type TestRepo } from '../helpers/git.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { eventually } from '../helpers/server.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const STARTED = 'berth-test-build-started';
/** Bound on how long the server may take to notice; it looks every few seconds. */
const NOTICE_MS = 60_000;

interface Project {
  root: string;
  dataDir: string;
  config: string;
  repo: TestRepo;
}

/**
 * A site whose build prints a line and then sleeps (with a second sleeper in
 * the background, so the build is a group of processes) while the commit has
 * a `slow` file, and builds at once when it has none.
 */
async function project(t: TestContext): Promise<Project> {
  const root = await tempDir(t, 'berth-crash-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': 'v1', slow: 'yes' });
  const config = join(root, 'berth.toml');
  // `sleep 601` leaves the build's process group, as a daemonising tool would.
  const command = `if [ -f slow ]; then (setsid sleep 601 &); (sleep 600 &); echo ${STARTED}; sleep 600; fi; mkdir -p dist && cp index.html dist/`;
  await writeFile(
    config,
    deployConfig({
      repo: repo.bare,
      buildUidBase: uniqueBuildUidBase(),
      more: ['[sites.build]', `command = ${JSON.stringify(command)}`, 'publish = "dist"'],
    }),
  );
  return { root, dataDir: join(root, 'data'), config, repo };
}

const env = { PATH: process.env.PATH ?? '' };

interface Serve {
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  child: ChildProcess;
}

async function serve(t: TestContext, p: Project): Promise<Serve> {
  const child = spawn(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'listening') resolve();
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { lines, exited, child };
}

/** Starts `berth deploy` and resolves once its build has started, with the deploy's id. */
async function deployUntilBuilding(t: TestContext, p: Project): Promise<{ child: ChildProcess; id: string }> {
  const child = spawn(process.execPath, [cli, 'deploy', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'ignore', 'pipe'], env });
  t.after(() => child.kill('SIGKILL'));
  let id: string | undefined;
  const exited = once(child, 'exit');
  const building = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      id ??= /\] deploy (\S+): site blog/.exec(line)?.[1];
      if (line.includes(`out| ${STARTED}`) && id !== undefined) resolve(id);
    });
    void exited.then(() => reject(new Error('berth deploy ended before its build started')));
  });
  return { child, id: await building };
}

/** Pids of the running (not zombie) processes of a process group. */
async function runningMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(entry));
  }
  return members;
}

/** The process group of the build running in `workDir`: the group of its shell, found by working directory. */
async function buildGroupIn(workDir: string): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => undefined);
    if (cwd !== workDir) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue;
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  }
  throw new Error(`no build process runs in ${workDir}`);
}

/** Running processes started as `sleep 601`: the build's process that left its group. */
async function escapees(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline !== 'sleep\u0000601\u0000') continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state !== undefined && state !== '' && state !== 'Z' && state !== 'X') found.push(Number(entry));
  }
  return found;
}

/**
 * The escapee once it runs: `setsid` forks and then execs `sleep 601` on its
 * own, so it may not be a `sleep 601` yet when the build says it started.
 */
async function escapeeStarted(): Promise<number[]> {
  let found: number[] = [];
  await eventually(async () => (found = await escapees()).length > 0, 10_000);
  return found;
}

/** Leaves no sleeper behind when a test fails. */
function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test('a running server cleans up after a berth deploy killed mid-build, without a restart', { timeout: 180_000 }, async (t) => {
  const p = await project(t);
  const server = await serve(t, p);
  const { child, id } = await deployUntilBuilding(t, p);

  const store = openStateStore(p.dataDir);
  t.after(() => store.close());
  assert.equal(store.getDeploy(id)?.state, 'building');
  const workDir = join(p.dataDir, 'sites', 'blog', 'work', id);
  const build = await buildGroupIn(workDir);
  t.after(() => killGroup(build));
  // The shell, the sleep it waits for and the one in the background.
  assert.ok((await runningMembers(build)).length >= 3);
  const escaped = await escapeeStarted();
  assert.equal(escaped.length, 1, 'the build has a process outside its group');
  t.after(() => escaped.forEach((pid) => killPid(pid)));

  const killed = once(child, 'exit');
  child.kill('SIGKILL');
  await killed;

  const said = (): boolean => server.lines.some((line) => line.msg === 'deploy was interrupted: the process running it stopped or crashed; marked failed' && line.deploy === id);
  const cleaned = await eventually(async () => {
    const deploy = store.getDeploy(id);
    return deploy?.state === 'failed' && !(await exists(workDir)) && (await runningMembers(build)).length === 0 && (await escapees()).length === 0 && said();
  }, NOTICE_MS);
  const deploy = store.getDeploy(id);
  assert.ok(cleaned, `cleaned up: state ${deploy?.state}, work dir ${await exists(workDir)}, build ${(await runningMembers(build)).join(' ')}, outside its group ${(await escapees()).join(' ')}`);
  assert.equal(deploy?.errorCode, 'E_DEPLOY_INTERRUPTED');
  assert.equal(server.child.exitCode, null, 'the server kept running');

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});

test('a running server removes what a berth publish killed mid-copy stored, without a restart', { timeout: 180_000 }, async (t) => {
  const p = await project(t);
  const server = await serve(t, p);
  // Enough files that the publish is still copying when the kill arrives.
  const site = join(p.root, 'site');
  const files: Record<string, string> = { 'index.html': 'published' };
  for (let i = 0; i < 4000; i++) files[`page-${i}.html`] = `<p>page ${i}</p>`.repeat(20);
  await writeTree(site, files);
  const releases = join(p.dataDir, 'sites', 'blog', 'releases');
  const objects = join(p.dataDir, 'sites', 'blog', 'objects');
  await mkdir(objects, { recursive: true });

  const child = spawn(process.execPath, [cli, 'publish', site, '--config', p.config], { cwd: p.root, stdio: 'ignore', env });
  t.after(() => child.kill('SIGKILL'));
  const exited = once(child, 'exit');
  const watcher = watch(objects);
  t.after(() => watcher.close());
  // Killed once it has stored some objects and is writing more.
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    watcher.on('change', (_event, name) => {
      if (String(name).startsWith('.tmp-') && ++seen === 200) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    void exited.then(() => reject(new Error('berth publish ended before it had stored 200 objects')));
  });
  await exited;
  watcher.close();
  assert.deepEqual(await readdir(releases).catch(() => []), [], 'the killed publish made no release');
  assert.ok((await storedObjects(objects)).length > 0, 'the killed publish left objects');

  // The log line comes after the removal: wait for it, then look.
  const said = (): boolean => server.lines.some((line) => line.msg === 'removed what interrupted deploys and publishes left behind');
  assert.ok(await eventually(async () => said(), NOTICE_MS), 'the server says it removed what the publish left');
  assert.deepEqual(await storedObjects(objects), [], 'no object is left: no release names any');
  assert.deepEqual((await readdir(objects)).filter((name) => name.startsWith('.tmp-')), []);
  assert.equal(await exists(join(p.dataDir, 'sites', 'blog', '.lock')), false, 'the dead publish\'s site lock is gone too');
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});

test('the next berth deploy stops the build a killed one left running and goes live', { timeout: 180_000 }, async (t) => {
  const p = await project(t);
  const { child, id } = await deployUntilBuilding(t, p);
  const store = openStateStore(p.dataDir);
  t.after(() => store.close());
  const build = await buildGroupIn(join(p.dataDir, 'sites', 'blog', 'work', id));
  t.after(() => killGroup(build));
  const killed = once(child, 'exit');
  child.kill('SIGKILL');
  await killed;
  assert.ok((await runningMembers(build)).length > 0, 'the build outlived its deploy');
  const escaped = await escapeeStarted();
  assert.equal(escaped.length, 1);
  t.after(() => escaped.forEach((pid) => killPid(pid)));

  // A commit without the `slow` file builds at once.
  await writeFile(join(p.repo.work, 'index.html'), 'v2');
  git(p.repo.work, 'rm', '-q', 'slow');
  git(p.repo.work, 'commit', '-qam', 'fast');
  git(p.repo.work, 'push', '-q', 'origin', 'HEAD:refs/heads/main');
  const next = spawnSync(process.execPath, [cli, 'deploy', '--config', p.config], { cwd: p.root, encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(next.status, 0, next.stderr);
  assert.match(next.stdout, /is live/);

  assert.deepEqual(await runningMembers(build), []);
  assert.deepEqual(await escapees(), [], 'the process that left the group is gone too');
  assert.equal(store.getDeploy(id)?.state, 'failed');
  assert.equal(store.getDeploy(id)?.errorCode, 'E_DEPLOY_INTERRUPTED');
  assert.deepEqual(await readdir(join(p.dataDir, 'sites', 'blog', 'work')), []);
});

/** The objects under a store's directory (not its temporary files). */
async function storedObjects(objects: string): Promise<string[]> {
  const names: string[] = [];
  for (const shard of await readdir(objects)) {
    if (!shard.startsWith('.')) names.push(...(await readdir(join(objects, shard))));
  }
  return names;
}
