import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, lstat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { runningProcessesOf } from '../../src/deploy/build-runner.ts';
import { buildUids } from '../../src/deploy/build-user.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { type TestRepo } from '../helpers/git.ts';
import { serviceUserRepo } from '../helpers/service-user-repo.ts';
import { serviceAccount, type ServiceAccount } from '../helpers/service-account.ts';
import { writeTree } from '../helpers/temp.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Site {
  root: string;
  data: string;
  file: string;
  repo: TestRepo;
  account: ServiceAccount;
  uid: number;
}

/** A site whose build runs the repository's build.sh, with `[server] user` set to an account made for the test. */
async function site(t: TestContext, build: string, user?: string): Promise<Site> {
  const account = await serviceAccount(t);
  const { root, repo } = await serviceUserRepo(t, account, 'berth-drop-', { 'build.sh': build });
  const base = uniqueBuildUidBase();
  const file = join(root, 'berth.toml');
  await writeFile(
    file,
    [
      'data_dir = "data"',
      '[server]',
      `user = ${JSON.stringify(user ?? account.name)}`,
      '[acme]',
      'directory = "off"',
      '[deploy]',
      `build_uid_base = ${base}`,
      '[[sites]]',
      'name = "s"',
      'domains = ["s.test"]',
      `repo = ${JSON.stringify(repo.bare)}`,
      '[sites.build]',
      'command = "sh build.sh"',
      'publish = "dist"',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const uid = buildUids(['s'], base).get('s') ?? -1;
  onCleanup(t, () => {
    for (const pid of runningProcessesOf(uid)) process.kill(pid, 'SIGKILL');
  });
  return { root, data: join(root, 'data'), file, repo, account, uid };
}

/** Every path under `dir` whose owner is root. */
async function rootOwned(dir: string): Promise<string[]> {
  const found = (await lstat(dir)).uid === 0 ? [dir] : [];
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    const info = await lstat(path);
    if (info.isDirectory()) found.push(...(await rootOwned(path)));
    else if (info.uid === 0) found.push(path);
  }
  return found;
}

/** Runs the CLI as root, as an administrator would with sudo. */
function berth(s: Site, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args, '--config', s.file], { cwd: s.root, env: { PATH: process.env.PATH ?? '' }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

function buildOutput(log: string): string[] {
  return log.split('\n').flatMap((line) => (line.includes('out| ') ? [line.slice(line.indexOf('out| ') + 5)] : []));
}

describe('commands that write the data dir, started as root', () => {
  it('berth deploy runs as the service user, builds as the site\'s uid, and leaves no root-owned file in the data dir', async (t) => {
    const s = await site(t, 'id -u\nmkdir -p dist && echo "<h1>s</h1>" > dist/index.html\n');
    // Left by a Berth that ran as root: the service user must be able to write it from now on.
    await writeTree(s.data, { 'logs/old.log': 'old\n' });
    const deployed = await berth(s, ['deploy']);
    assert.equal(deployed.code, 0, deployed.stderr);
    assert.deepEqual(buildOutput(deployed.stderr), [String(s.uid)]);
    assert.match(deployed.stdout, /is live: release /);
    assert.deepEqual(await rootOwned(s.data), []);
    assert.equal((await lstat(join(s.data, 'state.db'))).uid, s.account.uid);
    assert.equal((await lstat(join(s.data, 'logs', 'old.log'))).uid, s.account.uid);
    // berth admin writes state.db too: as the service user, so the server can still open it.
    const admin = await berth(s, ['admin', 'add', 'alice']);
    assert.equal(admin.code, 0, admin.stderr);
    assert.deepEqual(await rootOwned(s.data), []);
  });

  it('relays a failed deploy\'s exit code, and runs publish and rollback as the service user', async (t) => {
    const s = await site(t, 'echo broken >&2\nexit 3\n');
    const failed = await berth(s, ['deploy']);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /the build command exited with code 3.*\[E_BUILD_FAILED\]/s);

    const out = join(s.root, 'out');
    await writeTree(out, { 'index.html': '<h1>one</h1>' });
    await chmod(out, 0o755);
    assert.equal((await berth(s, ['publish', out, '--site', 's'])).code, 0);
    await writeTree(out, { 'index.html': '<h1>two</h1>' });
    assert.equal((await berth(s, ['publish', out, '--site', 's'])).code, 0);
    const rolled = await berth(s, ['rollback', '--site', 's']);
    assert.equal(rolled.code, 0, rolled.stderr);
    assert.deepEqual(await rootOwned(s.data), []);
  });

  it('refuses to run as a named service user that does not exist, naming the useradd command', async (t) => {
    const s = await site(t, 'true\n', 'berth-absent-account');
    const refused = await berth(s, ['deploy']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[server\] user is "berth-absent-account", and no such account exists; create it with `useradd --system .*berth-absent-account`, or name an existing account \[E_CONFIG_INVALID\]/);
    await assert.rejects(lstat(join(s.data, 'state.db')), 'nothing was written');
  });
});
