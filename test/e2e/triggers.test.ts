import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { readManifest } from '../../src/releases/read-manifest.ts';
import { readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import type { DeployRecord } from '../../src/deploy/deploy-types.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { createRepo, git, type TestRepo } from '../helpers/git.ts';
import { eventually, get } from '../helpers/server.ts';
import { killServeTree } from '../helpers/serve-process.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { collectOutput } from '../helpers/collect-output.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const SECRET = 'trigger-secret-for-tests';

interface Project {
  root: string;
  repo: TestRepo;
  config: string;
}

async function project(t: TestContext, extraSite = '', files: Record<string, string> = { 'index.html': 'v1' }): Promise<Project> {
  const root = await tempDir(t, 'berth-trig-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), files);
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    deployConfig({
      repo: repo.bare,
      buildUidBase: uniqueBuildUidBase(),
      more: [extraSite, '[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`],
    }),
  );
  return { root, repo, config };
}

function berth(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Serve {
  pid: number;
  port: Promise<number>;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

function serve(t: TestContext, p: Project): Serve {
  const child = spawn(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Every worker (server.workers, default one per core) has loaded the sites: the ports open before that.
  const workers = Number(/^workers = (\d+)$/m.exec(readFileSync(p.config, 'utf8'))?.[1] ?? availableParallelism());
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      const ready = lines.filter((seen) => seen.msg === 'sites ready').length;
      if (entry.msg === 'sites ready' && ready === workers) resolve(lines.find((seen) => seen.msg === 'listening')?.http as number);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { pid: child.pid as number, port, lines, exited, kill: (signal) => child.kill(signal) };
}

function githubPush(port: number, payload: object, delivery: string): Promise<number> {
  return githubPushReply(port, payload, delivery).then((reply) => reply.status);
}

/** A signed GitHub push; resolves with the status and the JSON answer. */
async function githubPushReply(port: number, payload: object, delivery: string): Promise<{ status: number; body: { deploy?: string; status?: string; message?: string } }> {
  const reply = await githubPushTo(port, SECRET, payload, delivery);
  return { status: reply.status, body: JSON.parse(reply.text) as { deploy?: string } };
}

test('berth deploy, deploys and logs work from the command line', async (t) => {
  const p = await project(t);
  const deployed = berth(['deploy', '--config', p.config], p.root);
  assert.equal(deployed.status, 0, deployed.stderr);
  assert.match(deployed.stdout, /^Deploy \S+ of blog is live: release \S+ from [0-9a-f]{40}\n$/);
  assert.match(deployed.stderr, /build settings from static files/, 'progress is shown while it runs');
  const again = berth(['deploy', '--config', p.config], p.root);
  assert.equal(again.status, 0);
  assert.match(again.stdout, /already live/);
  const list = berth(['deploys', '--config', p.config, '--json'], p.root);
  const records = JSON.parse(list.stdout) as Array<{ id: string; state: string; trigger: string }>;
  assert.deepEqual(records.map((r) => r.state), ['skipped', 'live']);
  const log = berth(['logs', (records[1] as { id: string }).id.slice(0, 18), '--config', p.config], p.root);
  assert.equal(log.status, 0);
  assert.match(log.stdout, /fetched [0-9a-f]{40}/);
  assert.match(log.stdout, /no build: read 1 changed of 1 files from git/, 'a site with nothing to build is read from the commit');
  assert.match(log.stdout, /is live/);
  const bad = berth(['deploy', '--config', p.config, '--sha', 'nothex'], p.root);
  assert.equal(bad.status, 2);
  const missing = berth(['logs', 'nope', '--config', p.config], p.root);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /E_DEPLOY_NOT_FOUND/);
  // --site: the site's latest deploy (the skipped one), not an id.
  const latest = berth(['logs', '--site', 'blog', '--config', p.config], p.root);
  assert.equal(latest.status, 0, latest.stderr);
  assert.match(latest.stdout, /is already live; nothing to do/);
  const noSite = berth(['logs', '--site', 'nope', '--config', p.config], p.root);
  assert.equal(noSite.status, 2);
  assert.match(noSite.stderr, /No site "nope" in the config; the sites are blog/);
  const both = berth(['logs', (records[1] as { id: string }).id, '--site', 'blog', '--config', p.config], p.root);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /one deploy id .* or --site S .*, not both/);
});

test('a first deploy that fails says no release is live, and prints a logs command that works as printed', async (t) => {
  // The output's marker, unclosed-42, is not in the command's own text (which the log shows too).
  const build = 'echo \\"$PWD/src/pages/about.astro:2:53 unclosed-$((40 + 2))\\" >&2; exit 3';
  const p = await project(t, '', { 'index.html': 'v1', 'berth.toml': `[build]\ncommand = "${build}"\npublish = "."\n` });
  const failed = berth(['deploy', '--config', p.config], p.root);
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /blog has no live release yet\./);
  // The build's output once (not again in the failure lines), with the repository's own paths.
  assert.equal(failed.stderr.split('unclosed-42').length - 1, 1, failed.stderr);
  assert.match(failed.stderr, /err\| src\/pages\/about\.astro:2:53 unclosed-42/);
  assert.doesNotMatch(failed.stderr, /\/work\/[^/\s]+\/src\/pages/);
  assert.match(failed.stderr, /deploy \S+ failed: .*exited with code 3 \(its output is above\) \[E_BUILD_FAILED\]/);
  assert.doesNotMatch(failed.stderr, /unchanged/);
  const hint = /Full log: berth (logs \S+ --config \S+)/.exec(failed.stderr);
  assert.ok(hint !== null, failed.stderr);
  // Run from another directory, as printed.
  const shown = berth((hint[1] as string).split(' '), tmpdir());
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, /blog has no live release yet/);
});

test('a post-receive hook makes a plain git push deploy', async (t) => {
  const p = await project(t);
  const installed = berth(['hook', 'install', '--config', p.config, '--repo', p.repo.bare], p.root);
  assert.equal(installed.status, 0, installed.stderr);
  const s = serve(t, p);
  const port = await s.port;
  const sha = await p.repo.commit({ 'index.html': 'pushed with git' });
  assert.equal((await get(port, '/')).body.toString(), 'pushed with git');
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  const [latest] = store.listDeploys({ site: 'blog', limit: 1 });
  assert.equal(latest?.trigger, 'hook');
  assert.equal(latest?.sha, sha);
  // A push to a branch the site does not deploy says so, and which branch it deploys.
  const other = spawnSync('git', ['push', 'origin', 'HEAD:refs/heads/feature-2'], { cwd: p.repo.work, encoding: 'utf8' });
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stderr, /berth: refs\/heads\/feature-2 is not deployed; the site blog deploys refs\/heads\/main/);
  assert.equal(store.listDeploys({ site: 'blog', limit: 1 })[0]?.sha, sha, 'nothing was deployed for it');
  assert.equal(berth(['hook', 'install', '--config', p.config, '--repo', join(p.root, 'nowhere')], p.root).status, 1);
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('a GitHub push through a running server deploys; a second server on the data dir refuses', async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  const port = await s.port;
  const sha = await p.repo.commit({ 'index.html': 'from github' });
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha, head_commit: { message: 'm', author: { name: 'A' } }, repository: { full_name: 'x/y' } }, 'g-1'), 202);
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'from github', 20_000), 'the push went live');
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'g-1'), 200, 'a replayed delivery');

  const second = spawnSync(process.execPath, [cli, 'serve', '--config', p.config], { cwd: p.root, encoding: 'utf8', timeout: 20_000 });
  assert.equal(second.status, 1);
  assert.match(second.stderr, /E_DATA_DIR_LOCKED/);
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('SIGKILL during a build leaves the live site, and a restart records the deploy as interrupted', async (t) => {
  const p = await project(t);
  assert.equal(berth(['deploy', '--config', p.config], p.root).status, 0);
  const first = serve(t, p);
  const port = await first.port;
  assert.equal((await get(port, '/')).body.toString(), 'v1');
  const sha = await p.repo.commit({ 'index.html': 'never live', 'berth.toml': '[build]\ncommand = "echo build running; sleep 30"\npublish = "."\n' });
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'k-1'), 202);
  // Killed once the build's own output is in its deploy log: the build is running.
  const running = await eventually(async () => {
    const store = openStateStore(join(p.root, 'data'));
    const id = store.listDeploys({ site: 'blog' }).find((d) => d.sha === sha)?.id;
    store.close();
    if (id === undefined) return false;
    const log = await readFile(deployLogPath(join(p.root, 'data'), id), 'utf8').catch(() => '');
    return log.includes('| build running');
  }, 30_000);
  assert.ok(running, 'the build started');
  await killServeTree(first.pid);
  await first.exited;

  const second = serve(t, p);
  const port2 = await second.port;
  assert.equal((await get(port2, '/')).body.toString(), 'v1', 'the last good release still serves');
  // Recorded by the new control plane, which starts beside the workers.
  assert.ok(await eventually(async () => second.lines.some((line) => line.msg === 'deploy was interrupted: the process running it stopped or crashed; marked failed'), 30_000));
  const workDir = join(p.root, 'data', 'sites', 'blog', 'work');
  await eventually(async () => (await readdir(workDir).catch(() => [])).length === 0, 30_000);
  assert.deepEqual(await readdir(workDir).catch(() => []), []);
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  const interrupted = store.listDeploys({ site: 'blog' }).find((d) => d.sha === sha);
  assert.equal(interrupted?.state, 'failed');
  assert.equal(interrupted?.errorCode, 'E_DEPLOY_INTERRUPTED');
});

test('polling deploys a new commit with no webhook', async (t) => {
  const p = await project(t, 'poll = "1s"');
  const s = serve(t, p);
  const port = await s.port;
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'v1', 20_000), 'the first poll deploys the branch');
  await p.repo.commit({ 'index.html': 'polled' });
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'polled', 30_000), 'the next poll finds the commit');
  // Locked (from the dashboard): polls leave the site on what it serves; unlocked, the next poll deploys.
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  store.lockSite('blog', { by: 'alice', at: new Date().toISOString(), reason: undefined });
  const count = store.listDeploys({ site: 'blog' }).length;
  await p.repo.commit({ 'index.html': 'while locked' });
  // Several polls' time (1 s each, plus a fetch): none deploys.
  await new Promise((resolve) => setTimeout(resolve, 4_000));
  assert.equal((await get(port, '/')).body.toString(), 'polled');
  assert.equal(store.listDeploys({ site: 'blog' }).length, count);
  store.unlockSite('blog');
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'while locked', 30_000), 'unlocked, the next poll deploys');
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('after a rollback, deploying the rolled-back commit again is not skipped', async (t) => {
  const p = await project(t);
  assert.equal(berth(['deploy', '--config', p.config], p.root).status, 0);
  await p.repo.commit({ 'index.html': 'v2' });
  assert.equal(berth(['deploy', '--config', p.config], p.root).status, 0);
  assert.equal(berth(['rollback', '--config', p.config], p.root).status, 0);
  const again = berth(['deploy', '--config', p.config], p.root);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /is live: release/, 'built and made live, not skipped');
  const skipped = berth(['deploy', '--config', p.config], p.root);
  assert.match(skipped.stdout, /already live/);
});

test('SIGKILL while a release is being published leaves no partial release, and the restart cleans up', async (t) => {
  const p = await project(t);
  assert.equal(berth(['deploy', '--config', p.config], p.root).status, 0);
  const first = serve(t, p);
  const port = await first.port;
  const generator = [
    "const fs = require('fs');",
    "fs.mkdirSync('out/d', { recursive: true });",
    "for (let i = 0; i < 20000; i++) fs.writeFileSync('out/d/' + i + '.html', ('<p>page ' + i + '</p>').repeat(40));",
    "fs.writeFileSync('out/index.html', 'big');",
  ].join('\n');
  const sha = await p.repo.commit({ 'gen.cjs': generator, 'berth.toml': '[build]\ncommand = "node gen.cjs"\npublish = "out"\n' });
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'p-1'), 202);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  const publishing = await eventually(async () => store.listDeploys({ site: 'blog', limit: 1 })[0]?.state === 'publishing', 60_000);
  assert.ok(publishing, `the deploy reached the publishing phase: ${JSON.stringify(store.listDeploys({ site: 'blog' }))}`);
  const releasesDir = join(p.root, 'data', 'sites', 'blog', 'releases');
  const objectsDir = join(p.root, 'data', 'sites', 'blog', 'objects');
  const shards = async (): Promise<string[]> => (await readdir(objectsDir).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
  const before = (await shards()).length;
  // Killed once the new release's objects are being stored: the publish is under way.
  const copying = await eventually(async () => (await shards()).length > before + 20, 60_000);
  assert.ok(copying, 'the release is being written');
  await killServeTree(first.pid);
  await first.exited;
  const during = await readdir(releasesDir);
  assert.equal(during.filter((name) => !name.startsWith('.')).length, 1, 'only the first release is listed');

  const second = serve(t, p);
  const port2 = await second.port;
  assert.equal((await get(port2, '/')).body.toString(), 'v1');
  // Cleaned by the new control plane, which starts beside the workers.
  await eventually(async () => (await readdir(releasesDir)).every((name) => !name.startsWith('.')), 30_000);
  assert.deepEqual((await readdir(releasesDir)).filter((name) => name.startsWith('.')), [], 'no temporary release left');
  // The new control plane sweeps what the killed publish stored: only what the live release names is left.
  const live = await readManifest(join(releasesDir, (await readdir(releasesDir)).find((name) => !name.startsWith('.')) as string));
  const named = new Set(Object.values(live.files).flatMap((file) => [file.hash, ...(file.encodings.br === undefined ? [] : [`${file.hash}.br`]), ...(file.encodings.gzip === undefined ? [] : [`${file.hash}.gz`])]));
  const stored = async (): Promise<string[]> => (await Promise.all((await readdir(objectsDir)).map((shard) => (shard.startsWith('.') ? [shard] : readdir(join(objectsDir, shard)))))).flat();
  assert.ok(await eventually(async () => (await stored()).every((name) => named.has(name)), 30_000), 'the objects of the killed publish were swept');
  assert.equal((await stored()).length, named.size, 'every object the live release names is there');
  const listed = berth(['releases', '--config', p.config, '--json'], p.root);
  assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1);
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0);
});

test('berth logs --follow prints a running deploy to its end', async (t) => {
  const p = await project(t, '', { 'index.html': 'v1', 'berth.toml': '[build]\ncommand = "echo step one; sleep 1; echo step two"\npublish = "."\n' });
  const s = serve(t, p);
  const port = await s.port;
  const sha = await p.repo.commit({ 'index.html': 'followed' });
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'f-1'), 202);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  assert.ok(await eventually(async () => store.listDeploys({ site: 'blog', limit: 1 })[0]?.state === 'building', 10_000));
  const id = store.listDeploys({ site: 'blog', limit: 1 })[0]?.id as string;
  const followed = spawnSync(process.execPath, [cli, 'logs', id, '--follow', '--config', p.config], { cwd: p.root, encoding: 'utf8', timeout: 30_000 });
  assert.equal(followed.status, 0, followed.stderr);
  assert.match(followed.stdout, /out\| step one\n[\s\S]*out\| step two\n[\s\S]*is live\n$/);
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('berth logs --follow: Ctrl-C stops the printing, not the deploy; a deploy whose server is gone ends the command with what happened', async (t) => {
  const p = await project(t, '', { 'index.html': 'v1', 'berth.toml': '[build]\ncommand = "echo started; sleep 60; echo never"\npublish = "."\n' });
  const s = serve(t, p);
  const port = await s.port;
  const sha = await p.repo.commit({ 'index.html': 'slow' });
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'g-1'), 202);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  assert.ok(await eventually(async () => store.listDeploys({ site: 'blog', limit: 1 })[0]?.state === 'building', 10_000));
  const id = store.listDeploys({ site: 'blog', limit: 1 })[0]?.id as string;
  const follow = () => {
    const child = spawn(process.execPath, [cli, 'logs', id, '--follow', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, out: () => stdout, err: () => stderr };
  };

  const first = follow();
  assert.ok(await eventually(async () => first.out().includes('out| started'), 30_000), first.out());
  first.child.kill('SIGINT');
  assert.equal(await first.exited, 0, first.err());
  assert.equal(store.getDeploy(id)?.state, 'building', 'the deploy goes on');

  const second = follow();
  assert.ok(await eventually(async () => second.out().includes('out| started'), 30_000), second.out());
  await killServeTree(s.pid);
  assert.equal(await second.exited, 1, second.err());
  assert.match(second.err(), new RegExp(`the process running deploy ${id} is gone.*\\[E_DEPLOY_INTERRUPTED\\]\\n$`));
  assert.doesNotMatch(second.out(), /out\| never/);
});

test('with several workers, a webhook received by any worker deploys once', async (t) => {
  const p = await project(t);
  const { readFile } = await import('node:fs/promises');
  await writeFile(p.config, (await readFile(p.config, 'utf8')).replace('https_port = false', 'https_port = false\nworkers = 2'));
  const s = serve(t, p);
  const port = await s.port;
  const sha = await p.repo.commit({ 'index.html': 'via a worker' });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push(await githubPush(port, { ref: 'refs/heads/main', after: sha }, 'w-1'));
  assert.deepEqual(statuses, [202, 200, 200, 200], 'the same delivery is a duplicate whichever worker gets it');
  assert.ok(await eventually(async () => (await get(port, '/')).body.toString() === 'via a worker', 20_000));
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test('Ctrl-C on berth deploy cancels it and kills its build', async (t) => {
  const p = await project(t, '', { 'index.html': 'v1', 'berth.toml': '[build]\ncommand = "echo started; sleep 37"\npublish = "."\n' });
  const child = spawn(process.execPath, [cli, 'deploy', '--config', p.config], { cwd: p.root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  t.after(() => child.kill('SIGKILL'));
  const output = collectOutput(child.stderr, 'out| started');
  await output.reached;
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  const stderr = output.text();
  assert.equal(code, 1);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  const [record] = store.listDeploys({ site: 'blog', limit: 1 });
  assert.equal(record?.state, 'cancelled');
  assert.equal(record?.errorCode, 'E_BUILD_CANCELLED');
  // The same deploy again, as a command: from a post-receive hook the branch has moved already.
  if (!child.stderr.readableEnded) await once(child.stderr, 'end');
  assert.ok(
    stderr.includes(`The deploy was interrupted before it finished; run it again with: berth deploy --site blog --ref refs/heads/main --sha ${record?.sha ?? ''} --config ${p.config}\n`),
    stderr,
  );
  const { readdir: list, readFile: read } = await import('node:fs/promises');
  const leftover = await eventually(async () => {
    for (const pid of (await list('/proc')).filter((name) => /^\d+$/.test(name))) {
      const cmdline = await read(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const state = await read(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      // A zombie is already dead, only not yet reaped by its parent.
      if (cmdline.replace(/\0/g, ' ').trim() === 'sleep 37' && !/\) Z /.test(state)) return false;
    }
    return true;
  }, 10_000);
  assert.ok(leftover, 'no build process is left running');
});

test('SIGKILL while fetching leaves the live site, and a restart records the deploy as interrupted', async (t) => {
  const { createServer } = await import('node:http');
  // A git host that accepts the request and never answers: the fetch hangs.
  const stalled: Array<import('node:http').ServerResponse> = [];
  const host = createServer((_req, res) => stalled.push(res));
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const res of stalled) res.destroy();
    host.close();
  });
  const p = await project(t);
  const { readFile } = await import('node:fs/promises');
  const url = `http://127.0.0.1:${(host.address() as { port: number }).port}/blog.git`;
  await writeFile(p.config, (await readFile(p.config, 'utf8')).replace(/^repo = .*$/m, `repo = ${JSON.stringify(url)}`));
  await mkdir(join(p.root, 'site'));
  await writeFile(join(p.root, 'site', 'index.html'), 'published by hand');
  assert.equal(berth(['publish', 'site', '--config', p.config], p.root).status, 0);
  const first = serve(t, p);
  const port = await first.port;
  assert.equal(await githubPush(port, { ref: 'refs/heads/main', after: 'b'.repeat(40) }, 'fetch-1'), 202);
  assert.ok(await eventually(async () => stalled.length > 0, 10_000), 'git is waiting on the host');
  await killServeTree(first.pid);
  await first.exited;

  const second = serve(t, p);
  const port2 = await second.port;
  assert.equal((await get(port2, '/')).body.toString(), 'published by hand');
  // Recorded by the new control plane, which starts beside the workers.
  assert.ok(await eventually(async () => second.lines.some((line) => line.msg === 'deploy was interrupted: the process running it stopped or crashed; marked failed'), 30_000));
  second.kill('SIGTERM');
  assert.equal(await second.exited, 0);
  const store = openStateStore(join(p.root, 'data'));
  t.after(() => store.close());
  assert.equal(store.listDeploys({ site: 'blog', limit: 1 })[0]?.errorCode, 'E_DEPLOY_INTERRUPTED');
});

/** The deploy `id` once it has ended (live, failed, skipped, …). */
async function finished(root: string, id: string | undefined): Promise<DeployRecord> {
  assert.ok(id !== undefined, 'the push was queued as a deploy');
  const store = openStateStore(join(root, 'data'));
  try {
    let record: DeployRecord | undefined;
    const ended = await eventually(async () => {
      record = store.listDeploys({ site: 'blog', limit: 50 }).find((deploy) => deploy.id === id);
      return record !== undefined && !['queued', 'building', 'publishing'].includes(record.state);
    }, 30_000);
    assert.ok(ended && record !== undefined, `deploy ${id} ended: ${JSON.stringify(record)}`);
    return record;
  } finally {
    store.close();
  }
}

test('an old signed push sent again after the branch moved on deploys nothing older; a force-push back to it is deployed', async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  const port = await s.port;
  const older = await p.repo.commit({ 'index.html': 'older' });
  const captured = { ref: 'refs/heads/main', after: older, head_commit: { message: 'older', author: { name: 'A' } } };
  const first = await githubPushReply(port, captured, 'r-1');
  assert.equal(first.status, 202);
  assert.match(first.body.message ?? '', /of the tip of main queued \(pushed [0-9a-f]{12}\)/);
  assert.equal((await finished(p.root, first.body.deploy)).state, 'live');
  const newer = await p.repo.commit({ 'index.html': 'newer' });
  assert.equal((await finished(p.root, (await githubPushReply(port, { ref: 'refs/heads/main', after: newer }, 'r-2')).body.deploy)).state, 'live');
  assert.equal((await get(port, '/')).body.toString(), 'newer');

  // The captured request, signature and all, under a delivery id never seen.
  const replay = await githubPushReply(port, captured, 'r-3');
  assert.equal(replay.status, 202);
  const replayed = await finished(p.root, replay.body.deploy);
  assert.equal(replayed.state, 'skipped', JSON.stringify(replayed));
  assert.equal(replayed.sha, newer, 'the branch tip was what the deploy looked at');
  assert.equal((await get(port, '/')).body.toString(), 'newer', 'the site stays at the tip');
  const log = berth(['logs', replay.body.deploy as string, '--config', p.config], p.root).stdout;
  assert.match(log, new RegExp(`pushed ${older}, branch main is at ${newer}: deploying ${newer}`));

  // The branch really moved back: the same commit is deployed now.
  git(p.repo.work, 'reset', '--hard', '--quiet', older);
  git(p.repo.work, 'push', '--force', '--quiet', 'origin', 'HEAD:refs/heads/main');
  const back = await finished(p.root, (await githubPushReply(port, captured, 'r-4')).body.deploy);
  assert.equal(back.state, 'live', JSON.stringify(back));
  assert.equal(back.sha, older);
  assert.equal((await get(port, '/')).body.toString(), 'older');
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});

test("a push naming a commit from another branch or a fork's pull request deploys nothing from it", async (t) => {
  const p = await project(t);
  const s = serve(t, p);
  const port = await s.port;
  const tip = git(p.repo.work, 'rev-parse', 'HEAD');
  assert.equal((await finished(p.root, (await githubPushReply(port, { ref: 'refs/heads/main', after: tip }, 'o-1')).body.deploy)).state, 'live');

  const draft = await p.repo.commit({ 'index.html': 'an unreviewed draft' }, 'draft', 'drafts');
  // A fork's pull request, which GitHub and GitLab serve from the repository under refs/pull/N/head.
  git(p.repo.work, 'checkout', '--quiet', '-B', 'fork', tip);
  await writeTree(p.repo.work, { 'index.html': 'from a fork' });
  git(p.repo.work, 'commit', '--quiet', '-am', 'pull request');
  git(p.repo.work, 'push', '--quiet', 'origin', 'HEAD:refs/pull/1/head');
  const pull = git(p.repo.work, 'rev-parse', 'HEAD');

  for (const [sha, delivery] of [[draft, 'o-2'], [pull, 'o-3']] as const) {
    const reply = await githubPushReply(port, { ref: 'refs/heads/main', after: sha }, delivery);
    assert.equal(reply.status, 202);
    const record = await finished(p.root, reply.body.deploy);
    assert.equal(record.state, 'failed', JSON.stringify(record));
    assert.equal(record.errorCode, 'E_PUSH_NOT_ON_BRANCH');
    assert.match(record.errorMessage ?? '', new RegExp(`Pushed commit ${sha} is not on refs/heads/main .*nothing was deployed`));
    assert.equal(record.releaseId, undefined);
    assert.equal((await get(port, '/')).body.toString(), 'v1', 'the site stays at the tip of main');
  }
  s.kill('SIGTERM');
  assert.equal(await s.exited, 0);
});
