import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { runBuild } from '../../src/deploy/build-runner.ts';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import { buildUids } from '../../src/deploy/build-user.ts';
import { countTasks, withProcessLimit } from '../../src/deploy/process-limit.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { createRepo, type TestRepo } from '../helpers/git.ts';
import { eventually, get } from '../helpers/server.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { tempDir } from '../helpers/temp.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const SECRET = 'limits-webhook-secret-9c41e7';
const STATIC_BUILD = '[build]\ncommand = "mkdir -p dist && cp index.html dist/ && cp -r files dist/ 2>/dev/null; true"\npublish = "dist"\n';

interface Project {
  root: string;
  /** `[deploy] build_uid_base`: the site builds as a uid from it. */
  uidBase: number;
  config: string;
  repo: TestRepo;
}

async function project(t: TestContext, build: string): Promise<Project> {
  const root = await tempDir(t, 'berth-limits-');
  await chmod(root, 0o755); // builds enter the data dir below it
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': 'v1', 'berth.toml': STATIC_BUILD });
  const config = join(root, 'berth.toml');
  const uidBase = uniqueBuildUidBase();
  await writeFile(
    config,
    deployConfig({ repo: repo.bare, buildUidBase: uidBase, more: ['[sites.build]', build, '[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`] }),
    { mode: 0o600 },
  );
  return { root, uidBase, config, repo };
}

function berth(p: Project, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args, '--config', p.config], { cwd: p.root, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function githubPush(port: number, sha: string, delivery: string): Promise<number> {
  return githubPushTo(port, SECRET, { ref: 'refs/heads/main', after: sha, repository: { full_name: 'x/y' } }, delivery).then((reply) => reply.status);
}

describe('withProcessLimit()', () => {
  it('starts the command, quotes and all, with the process limit set hard and soft', async (t) => {
    const work = await tempDir(t, 'berth-nproc-');
    const lines: string[] = [];
    await runBuild({
      command: withProcessLimit(`echo 'it'"'"'s "quoted"' && grep 'Max processes' /proc/self/limits`, 40),
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 10_000,
      log: (_stream, line) => lines.push(line),
    });
    assert.equal(lines[0], 'it\'s "quoted"');
    assert.match(lines[1] ?? '', /^Max processes\s+40\s+40\s+processes\s*$/);
  });

  it('refuses to build without prlimit, saying what to install', () => {
    assert.throws(
      () => withProcessLimit('true', 40, ['/nonexistent/prlimit']),
      (error) => error instanceof BerthError && error.code === 'E_BUILD_CONFIG' && error.message.includes('util-linux'),
    );
  });
});

describe('build limits', () => {
  it('ends a fork bomb at the process limit with a clear error; the server keeps serving the live site', async (t) => {
    const p = await project(t, 'max_processes = 40\ntimeout = "5m"');
    const child = spawn(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    t.after(() => child.kill('SIGKILL'));
    const exited = once(child, 'exit');
    const lines: Array<Record<string, unknown>> = [];
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        lines.push(entry);
        if (entry.msg === 'listening') resolve(entry.http as number);
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    const v1 = await p.repo.commit({ 'index.txt': 'first' });
    assert.equal(await githubPush(port, v1, 'd-1'), 202);
    assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'v1', 30_000), 'the first commit went live');

    const bomb = await p.repo.commit({ 'berth.toml': '[build]\ncommand = "sh bomb.sh"\npublish = "dist"\n', 'bomb.sh': 'b() { b | b & }\nb\nsleep 600\n' });
    assert.equal(await githubPush(port, bomb, 'd-2'), 202);
    const store = openStateStore(join(p.root, 'data'));
    t.after(() => store.close());
    const ended = async (): Promise<boolean> => store.listDeploys({ site: 'blog', limit: 1 }).some((deploy) => deploy.sha === bomb && deploy.state === 'failed');
    if (!(await eventually(ended, 120_000))) {
      const [latest] = store.listDeploys({ site: 'blog', limit: 1 });
      const log = latest === undefined ? '' : await readFile(deployLogPath(join(p.root, 'data'), latest.id), 'utf8').catch(() => '');
      assert.fail(`the fork bomb's deploy did not end: ${JSON.stringify(latest)}\n${log.split('\n').slice(-30).join('\n')}\n${lines.slice(-20).map((line) => JSON.stringify(line)).join('\n')}`);
    }
    const [failed] = store.listDeploys({ site: 'blog', limit: 1 });
    assert.equal(failed?.errorCode, 'E_BUILD_PROCESS_LIMIT');
    assert.match(failed?.errorMessage ?? '', /40 processes and threads at once, the limit set by \[sites\.build\] max_processes/);

    assert.equal((await get(port, '/')).body.toString(), 'v1', 'the server answers with the live site');
    assert.equal(child.exitCode, null);
    // Killed processes whose parent died are zombies until init reaps them; they still count, briefly.
    const uid = buildUids(['blog'], p.uidBase).get('blog') ?? -1;
    assert.ok(await eventually(async () => (await countTasks(uid)) === 0, 30_000), 'no process of the bomb is left');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  it('fails a deploy whose publish directory is over max_output_size and leaves the live site as it was', async (t) => {
    const p = await project(t, 'max_output_size = "64KiB"');
    // Exactly at the limit: index.html (2 bytes) and the rest in one file.
    await p.repo.commit({ 'files/pad.bin': 'x'.repeat(64 * 1024 - 2) });
    const first = berth(p, 'deploy');
    assert.equal(first.status, 0, first.stderr);
    const current = await readlink(join(p.root, 'data', 'sites', 'blog', 'current'));
    const releases = await readdir(join(p.root, 'data', 'sites', 'blog', 'releases'));

    await p.repo.commit({ 'files/pad.bin': 'x'.repeat(64 * 1024 - 1), 'index.html': 'v2' });
    const second = berth(p, 'deploy');
    assert.equal(second.status, 1);
    assert.match(second.stderr, /The publish directory "dist" holds more than 64KiB, the limit set by \[sites\.build\] max_output_size; nothing was published.* \[E_BUILD_OUTPUT_SIZE\]/);
    assert.equal(await readlink(join(p.root, 'data', 'sites', 'blog', 'current')), current);
    assert.deepEqual(await readdir(join(p.root, 'data', 'sites', 'blog', 'releases')), releases);
  });
});
