import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, lchown, lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { serveBuildHost } from '../../src/app/build-host-server.ts';
import { handDataDirTo } from '../../src/app/service-data-dir.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { runningProcessesOf } from '../../src/deploy/build-runner.ts';
import { buildUids } from '../../src/deploy/build-user.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { waitFor } from '../helpers/acme.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import type { TestRepo } from '../helpers/git.ts';
import { goodBuild, INSTALL_MARKER, npmSiteFiles } from '../helpers/npm-site.ts';
import { chownTree, serviceUserRepo } from '../helpers/service-user-repo.ts';
import { serviceAccount, type ServiceAccount } from '../helpers/service-account.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Setup {
  root: string;
  data: string;
  file: string;
  config: ResolvedConfig;
  account: ServiceAccount;
  uids: Map<string, number>;
  logger: Logger;
  logs: Array<{ level: string; msg: string; reason?: string }>;
  repo: TestRepo;
}

/**
 * A service account of the test's own, a data dir under a 0755 path handed
 * to it as a root parent does, and two sites: a (a repository whose build
 * runs `build`) and b.
 */
async function setup(t: TestContext, build: string, site: { files?: Record<string, string>; command?: string } = {}): Promise<Setup> {
  const account = await serviceAccount(t);
  const { root, repo } = await serviceUserRepo(t, account, 'berth-build-host-', site.files ?? { 'index.html': 'a', 'build.sh': build });
  const base = uniqueBuildUidBase();
  const file = join(root, 'berth.toml');
  await writeFile(
    file,
    [
      'data_dir = "data"',
      '[acme]',
      'directory = "off"',
      '[deploy]',
      `build_uid_base = ${base}`,
      '[[sites]]',
      'name = "a"',
      'domains = ["a.test"]',
      `repo = ${JSON.stringify(repo.bare)}`,
      '[sites.build]',
      `command = ${JSON.stringify(site.command ?? 'sh build.sh')}`,
      'publish = "dist"',
      '[[sites]]',
      'name = "b"',
      'domains = ["b.test"]',
      '',
    ].join('\n'),
  );
  await chmod(file, 0o644);
  const config = await loadConfig(file, {});
  const logs: Setup['logs'] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Setup['logs'][number]);
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  await handDataDirTo(config, account, logger);
  const uids = buildUids(['a', 'b'], base);
  onCleanup(t, () => {
    for (const uid of uids.values()) for (const pid of runningProcessesOf(uid)) process.kill(pid, 'SIGKILL');
  });
  return { root, data: config.dataDir, file, config, account, uids, logger, logs, repo };
}

/** Every path under `dir` (not following links) with its owner. */
async function owners(dir: string): Promise<Array<{ path: string; uid: number }>> {
  const found: Array<{ path: string; uid: number }> = [{ path: dir, uid: (await lstat(dir)).uid }];
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    const info = await lstat(path);
    if (info.isDirectory()) found.push(...(await owners(path)));
    else found.push({ path, uid: info.uid });
  }
  return found;
}

/** Forks `module` as the service account with an IPC channel and BERTH_BUILD_HOST=parent, served by this process. */
function forkServed(s: Setup, module: string, args: string[]): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = fork(module, args, {
    cwd: s.root,
    uid: s.account.uid,
    gid: s.account.gid,
    env: { PATH: process.env.PATH ?? '', BERTH_BUILD_HOST: 'parent' },
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const stop = serveBuildHost(child, s.config, s.logger);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => {
    stop();
    return code as number | null;
  });
  return { child, out: () => out, err: () => err, exited };
}

/** Build output lines from a deploy's log (`out| …`). */
function buildOutput(log: string): string[] {
  return log.split('\n').flatMap((line) => (line.includes('out| ') ? [line.slice(line.indexOf('out| ') + 5)] : []));
}

/** A script the service account runs: sends each request, waits for its answer, prints the answers as JSON. */
const PROBE = `
const requests = JSON.parse(process.argv[2]);
const answers = [];
for (const request of requests) {
  if (request.hugeEnv !== undefined) { request.spec.env.HUGE = 'x'.repeat(request.hugeEnv); delete request.hugeEnv; }
  if (request.noAnswer) { process.send(request.raw); continue; }
  const answered = new Promise((resolve) => {
    const listener = (message) => {
      if (message?.id === (request.expectId ?? request.id) && (message.kind === 'result' || message.kind === 'error')) {
        process.off('message', listener);
        resolve(message);
      }
    };
    process.on('message', listener);
  });
  process.send(request.raw ?? request);
  answers.push(await answered);
}
console.log(JSON.stringify(answers));
`;

describe('serveBuildHost()', () => {
  it('runs a deploy\'s build as the site\'s uid for a control plane running as the service user, which the build cannot read or change', async (t) => {
    const probes = [
      'id -u',
      'cat "$DATA/state.db" > /dev/null 2>&1 && echo READ-STATE || echo no-read-state',
      'cat "$DATA/private.txt" > /dev/null 2>&1 && echo READ-PRIVATE || echo no-read-private',
      'touch "$DATA/sites/a/releases/planted" 2> /dev/null && echo WROTE-RELEASES || echo no-write-releases',
      'touch "$DATA/objects/planted" 2> /dev/null && echo WROTE-OBJECTS || echo no-write-objects',
      'mkdir -p dist && echo "<h1>a</h1>" > dist/index.html',
    ];
    const s = await setup(t, `DATA=${'$'}(cd ../../../.. && pwd)\n${probes.join('\n')}\n`);
    // A file of the service user's, private to it, as state.db and the keys are.
    await writeFile(join(s.data, 'private.txt'), 'private-8c1e\n', { mode: 0o600 });
    await chown(join(s.data, 'private.txt'), s.account.uid, s.account.gid);
    await mkdir(join(s.data, 'objects'), { mode: 0o700 });
    await chown(join(s.data, 'objects'), s.account.uid, s.account.gid);

    const run = forkServed(s, CLI, ['deploy', '--site', 'a', '--config', s.file]);
    assert.equal(await run.exited, 0, run.err());
    assert.deepEqual(buildOutput(run.err()), [String(s.uids.get('a')), 'no-read-state', 'no-read-private', 'no-write-releases', 'no-write-objects']);
    assert.notEqual(s.uids.get('a'), s.account.uid);
    // What the control plane wrote is the service user's: it ran as that user, not as root.
    const written = await owners(s.data);
    assert.ok(written.some((entry) => entry.path.endsWith('state.db')));
    assert.ok(written.some((entry) => entry.path.includes(join('logs', 'deploys'))));
    assert.deepEqual(written.filter((entry) => entry.uid === 0), [], 'nothing in the data dir is root\'s');
    const releases = await readdir(join(s.data, 'sites', 'a', 'releases'));
    assert.equal(releases.length, 1);
    assert.equal((await lstat(join(s.data, 'sites', 'a', 'releases', releases[0] ?? ''))).uid, s.account.uid);
    assert.deepEqual(await readdir(join(s.data, 'sites', 'a', 'work')), [], 'the checkout was given back and removed');
  });

  it('refuses malformed and hostile requests, answering each with an error, and keeps serving', async (t) => {
    const s = await setup(t, 'true\n');
    const id = '20261203T120000Z-0a0b0c';
    const linked = '20261203T120000Z-1a1b1c';
    const elsewhere = join(s.root, 'elsewhere');
    await mkdir(join(elsewhere, id), { recursive: true });
    await chownTree(elsewhere, s.account);
    for (const site of ['a', 'b']) await mkdir(join(s.data, 'sites', site), { recursive: true });
    // Site a: a real checkout, and a checkout that is a link to a directory outside the site.
    await mkdir(join(s.data, 'sites', 'a', 'work', id), { recursive: true });
    await symlink(join(elsewhere, id), join(s.data, 'sites', 'a', 'work', linked));
    await chownTree(join(s.data, 'sites'), s.account);
    // Site b: its work dir is a link out of the data dir.
    await symlink(elsewhere, join(s.data, 'sites', 'b', 'work'));
    await lchown(join(s.data, 'sites', 'b', 'work'), s.account.uid, s.account.gid);
    const tag = { berth: 'build-host' };
    const spec = { command: 'true', env: { PATH: '/usr/bin:/bin' } };
    const requests = [
      { ...tag, id: 1, op: 'prepare', job: { site: 'a', deployId: '../../../../etc' } },
      { ...tag, id: 2, op: 'prepare', job: { site: 'a', deployId: '..' } },
      { ...tag, id: 3, op: 'prepare', job: { site: 'a', deployId: linked } },
      { ...tag, id: 4, op: 'prepare', job: { site: 'b', deployId: id } },
      { ...tag, id: 5, op: 'run', job: { site: 'other', deployId: id }, spec },
      { ...tag, id: 6, op: 'run', job: { site: 'a', deployId: id }, spec: { ...spec, env: { ...spec.env } }, hugeEnv: 3 * 1024 * 1024 },
      { ...tag, id: 7, op: 'run', job: { site: 'a', deployId: id }, spec: { command: 'true', env: { X: 5 } } },
      { ...tag, id: 8, op: 'chown', path: '/etc/shadow', uid: 0 },
      { expectId: 0, raw: { ...tag, op: 'prepare' } },
      { noAnswer: true, raw: 'not a build host message' },
      { ...tag, id: 11, op: 'run', job: { site: 'a', deployId: id }, spec: { ...spec, steps: 'npm ci' } },
      { ...tag, id: 12, op: 'run', job: { site: 'a', deployId: id }, spec: { ...spec, steps: { install: 'npm ci', build: '' } } },
      { ...tag, id: 13, op: 'run', job: { site: 'a', deployId: id }, spec: { ...spec, steps: { install: ['rm', '-rf', '/'], build: 'true' } } },
      { ...tag, id: 14, op: 'run', job: { site: 'a', deployId: id }, spec: { ...spec, steps: { install: 'npm ci\0', build: 'true' } } },
      { ...tag, id: 9, op: 'prepare', job: { site: 'a', deployId: id } },
      { ...tag, id: 10, op: 'reclaim', job: { site: 'a', deployId: id } },
    ];
    const probe = join(s.root, 'probe.mjs');
    await writeFile(probe, PROBE, { mode: 0o644 });
    const run = forkServed(s, probe, [JSON.stringify(requests)]);
    assert.equal(await run.exited, 0, run.err());
    const answers = JSON.parse(run.out()) as Array<{ id: number; kind: string; code?: string; message?: string; value?: { user?: { uid: number } } }>;
    const byId = new Map(answers.map((answer) => [answer.id, answer]));
    const error = (n: number): string => {
      const answer = byId.get(n);
      assert.equal(answer?.kind, 'error', JSON.stringify(answer));
      return `${answer.code ?? ''} ${answer.message ?? ''}`;
    };
    assert.match(error(1), /E_BUILD_CONFIG .*is not a deploy id/);
    assert.match(error(2), /E_BUILD_CONFIG .*is not a deploy id/);
    assert.match(error(3), /E_BUILD_CONFIG .*is a symbolic link/);
    assert.match(error(4), /E_BUILD_CONFIG .*is not in a directory .*sites\/b\/work of Berth's user/);
    assert.match(error(5), /E_SITE_UNKNOWN .*"other"/);
    assert.match(error(6), /refused: \d+ characters, more than 2097152/);
    assert.match(error(7), /refused: an environment variable that cannot be set/);
    assert.match(error(8), /refused: unknown operation "chown"/);
    assert.match(error(0), /refused: no request id/);
    assert.match(error(11), /refused: build steps that are not an object/);
    for (const n of [12, 13, 14]) assert.match(error(n), /refused: a build step that is not a usable command/);
    // Nothing outside the site's work dir changed hands.
    assert.equal((await lstat(join(elsewhere, id))).uid, s.account.uid);
    // The parent still answers: a good request is served after all the bad ones.
    assert.equal(byId.get(9)?.kind, 'result', JSON.stringify(byId.get(9)));
    assert.equal(byId.get(9)?.value?.user?.uid, s.uids.get('a'));
    assert.equal(byId.get(10)?.kind, 'result');
    assert.equal((await lstat(join(s.data, 'sites', 'a', 'work', id))).uid, s.account.uid, 'given back to the service user');
    assert.ok(s.logs.some((line) => line.level === 'warn' && line.msg === 'refused a build host request'));
  });

  it('keeps node_modules for the next deploy when only the build failed, for a control plane that asks the root parent', async (t) => {
    const files = npmSiteFiles({ deps: ['alpha'], build: "console.log('BUILD-BROKEN'); process.exit(3);\n" });
    const s = await setup(t, '', { files, command: 'npm run build' });
    const failed = forkServed(s, CLI, ['deploy', '--site', 'a', '--config', s.file]);
    assert.notEqual(await failed.exited, 0);
    assert.match(failed.err(), /install step: npm ci\n/);
    assert.ok(failed.err().includes(INSTALL_MARKER), 'the install ran');
    assert.match(failed.err(), /install step succeeded; build step: npm run build/);
    assert.match(failed.err(), /BUILD-BROKEN/);
    assert.match(failed.err(), /cache: kept node_modules for the next deploy/);
    const cached = await readdir(join(s.data, 'sites', 'a', 'cache', 'node_modules'));
    assert.equal(cached.length, 1);
    assert.equal((await lstat(join(s.data, 'sites', 'a', 'cache', 'node_modules', cached[0] ?? ''))).uid, s.uids.get('a'), 'the tree the site\'s build wrote');

    // git pushes as root only into a repository of root's; the service user fetches only from one of its own.
    await chownTree(s.repo.bare, { uid: 0, gid: 0 });
    await s.repo.commit({ 'build.js': goodBuild('fixed', ['alpha']) });
    await chownTree(s.repo.bare, s.account);
    const fixed = forkServed(s, CLI, ['deploy', '--site', 'a', '--config', s.file]);
    assert.equal(await fixed.exited, 0, fixed.err());
    assert.match(fixed.err(), new RegExp(`restored node_modules from the cache \\(key ${(cached[0] ?? '').slice(0, 12)}\\)`));
    assert.doesNotMatch(fixed.err(), /install step:|install step succeeded/);
    assert.ok(!fixed.err().includes(INSTALL_MARKER), 'no install ran');
    assert.match(fixed.err(), /release \S+ is live/);
  });

  it('cancels a build when the process that asked for it dies, kills what it left and gives the checkout back', async (t) => {
    const s = await setup(t, 'true\n');
    const id = '20261203T130000Z-2a2b2c';
    await mkdir(join(s.data, 'sites', 'a', 'work', id), { recursive: true });
    await chownTree(join(s.data, 'sites'), s.account);
    const tag = { berth: 'build-host' };
    const script = `
process.on('message', (message) => {
  if (message.id === 1 && message.kind === 'result') process.send({ ${JSON.stringify('berth')}: 'build-host', id: 2, op: 'run', job: { site: 'a', deployId: ${JSON.stringify(id)} }, spec: { command: 'setsid sleep 600 & sleep 600', env: { PATH: process.env.PATH } } });
  if (message.id === 2 && message.kind === 'start') console.log('started');
});
process.send(${JSON.stringify({ ...tag, id: 1, op: 'prepare', job: { site: 'a', deployId: id } })});
`;
    const file = join(s.root, 'asker.mjs');
    await writeFile(file, script, { mode: 0o644 });
    const run = forkServed(s, file, []);
    const uid = s.uids.get('a') ?? -1;
    await waitFor(() => (run.out().includes('started') && runningProcessesOf(uid).length >= 2 ? true : undefined), 'the build to start', 60_000);
    run.child.kill('SIGKILL');
    await run.exited;
    await waitFor(() => (runningProcessesOf(uid).length === 0 ? true : undefined), 'the build\'s processes to be killed', 30_000);
    await waitFor(async () => ((await lstat(join(s.data, 'sites', 'a', 'work', id))).uid === s.account.uid ? true : undefined), 'the checkout to be given back', 30_000);
  });
});
