import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { access, chmod, chown, lstat, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetchCommit, resolveRef, type FetchCommitOptions } from '../../src/deploy/git-source.ts';
import { isBerthError } from '../../src/errors.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

/** Runs git in `cwd` as a test author, with none of the caller's git environment. */
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Ada Lovelace', '-c', 'user.email=ada@example.com', '-c', 'protocol.file.allow=always', ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, GIT_CONFIG_NOSYSTEM: '1', LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A repository on branch main; returns a function that commits files and gives the new sha. */
async function makeRepo(dir: string): Promise<(files: Record<string, string | Buffer>, message: string) => Promise<string>> {
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '--quiet', '--initial-branch=main');
  return async (files, message) => {
    await writeTree(dir, files);
    git(dir, 'add', '--all');
    git(dir, 'commit', '--quiet', '-m', message);
    return git(dir, 'rev-parse', 'HEAD').trim();
  };
}

interface Fixture {
  root: string;
  repo: string;
  cacheDir: string;
  commit: (files: Record<string, string | Buffer>, message: string) => Promise<string>;
  /** Options for a fetch into a new work directory. */
  options: (extra?: Partial<FetchCommitOptions>) => FetchCommitOptions & { lines: string[]; workDir: string };
}

async function fixture(t: TestContext): Promise<Fixture> {
  const root = await tempDir(t);
  const repo = join(root, 'origin');
  const commit = await makeRepo(repo);
  let n = 0;
  return {
    root,
    repo,
    cacheDir: join(root, 'data', 'sites', 'blog', 'source.git'),
    commit,
    options(extra = {}) {
      const lines: string[] = [];
      return {
        repo,
        cacheDir: join(root, 'data', 'sites', 'blog', 'source.git'),
        ref: 'main',
        workDir: join(root, 'work', String(++n)),
        submodules: false,
        log: (line: string) => lines.push(line),
        lines,
        ...extra,
      };
    },
  };
}

function committerTime(repo: string, sha: string): number {
  return Number(git(repo, 'show', '--no-patch', '--format=%ct', sha).trim()) * 1000;
}

function treeOf(repo: string, sha: string): string {
  return git(repo, 'rev-parse', `${sha}^{tree}`).trim();
}

function objectCount(gitDir: string): number {
  const out = git(gitDir, '--git-dir', gitDir, 'count-objects', '-v');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(out)?.[1] ?? 'NaN');
  return field('count') + field('in-pack');
}

function hasCode(code: string, ...patterns: Array<RegExp | string>) {
  return (error: unknown): boolean => {
    assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const pattern of patterns) {
      if (typeof pattern === 'string') assert.ok(error.message.includes(pattern), `${JSON.stringify(pattern)} in: ${error.message}`);
      else assert.match(error.message, pattern);
    }
    return true;
  };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

test('fetchCommit checks a commit out into a fresh work directory', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': '<h1>one</h1>', 'src/page.md': '# Page' }, 'First page\n\nWith a body.');
  await f.commit({ 'index.html': '<h1>two</h1>' }, 'Second');
  const options = f.options({ sha });
  const fetched = await fetchCommit(options);
  assert.deepEqual(fetched, { sha, author: 'Ada Lovelace', message: 'First page\n\nWith a body.', committedAtMs: committerTime(f.repo, sha), tree: treeOf(f.repo, sha) });
  assert.equal(await readFile(join(options.workDir, 'index.html'), 'utf8'), '<h1>one</h1>');
  assert.equal(await readFile(join(options.workDir, 'src', 'page.md'), 'utf8'), '# Page');
  // The build may ask git about the commit.
  assert.equal(git(options.workDir, 'rev-parse', 'HEAD').trim(), sha);
  assert.equal(git(options.workDir, 'log', '-1', '--format=%s').trim(), 'First page');
  assert.equal(git(options.workDir, 'status', '--porcelain'), '');
  assert.ok(options.lines.some((line) => line.startsWith('$ git ') && line.includes('fetch')), options.lines.join('\n'));
});

test('fetchCommit without a work directory fetches into the cache and checks nothing out', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': '<h1>one</h1>' }, 'Only fetched');
  const { workDir, ...options } = f.options({ sha });
  const fetched = await fetchCommit(options);
  assert.deepEqual(fetched, { sha, author: 'Ada Lovelace', message: 'Only fetched', committedAtMs: committerTime(f.repo, sha), tree: treeOf(f.repo, sha) });
  await assert.rejects(access(workDir), { code: 'ENOENT' });
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'cat-file', '-t', sha).trim(), 'commit');
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'show', `${sha}:index.html`), '<h1>one</h1>');
});

test('the fetch log carries no advice about the grafts file Berth turns off', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'x' }, 'One');
  const options = f.options({ sha });
  await fetchCommit(options);
  assert.ok(options.lines.some((line) => line.includes('fetch')), options.lines.join('\n'));
  assert.deepEqual(options.lines.filter((line) => /hint:|graft/i.test(line)), []);
});

test('a newer commit is fetched into the same cache, bringing only what changed', async (t) => {
  const f = await fixture(t);
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 60; i++) files[`assets/file-${i}.bin`] = randomBytes(2048);
  const first = await f.commit(files, 'Sixty files');
  await fetchCommit(f.options({ sha: first }));
  const afterFirst = objectCount(f.cacheDir);
  assert.ok(afterFirst >= 60, `${afterFirst} objects after the first fetch`);

  const second = await f.commit({ 'assets/file-7.bin': randomBytes(2048) }, 'Change one file');
  const options = f.options({ sha: second });
  await fetchCommit(options);
  const added = objectCount(f.cacheDir) - afterFirst;
  // The new commit, its root tree, the assets tree and one blob.
  assert.ok(added > 0 && added <= 6, `${added} objects added by the second fetch`);
  t.diagnostic(`objects in the cache: ${afterFirst} after the first fetch, +${added} after the second`);
  assert.deepEqual(await readFile(join(options.workDir, 'assets', 'file-7.bin')), await readFile(join(f.repo, 'assets', 'file-7.bin')));
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'config', 'remote.origin.url').trim(), f.repo);
});

test('an older commit can be fetched after a newer one', async (t) => {
  const f = await fixture(t);
  const old = await f.commit({ 'index.html': 'old' }, 'Old');
  const middle = await f.commit({ 'index.html': 'middle', 'extra.txt': 'x' }, 'Middle');
  const latest = await f.commit({ 'index.html': 'new' }, 'New');
  await fetchCommit(f.options({ sha: latest }));
  const options = f.options({ sha: old });
  assert.equal((await fetchCommit(options)).sha, old);
  assert.equal(await readFile(join(options.workDir, 'index.html'), 'utf8'), 'old');
  assert.equal(await exists(join(options.workDir, 'extra.txt')), false);
  // A commit already in the cache is not fetched again.
  const again = f.options({ sha: latest });
  await fetchCommit(again);
  assert.ok(again.lines.some((line) => line.includes('already in the cached clone')), again.lines.join('\n'));
  assert.equal(await readFile(join(again.workDir, 'index.html'), 'utf8'), 'new');
  const mid = f.options({ sha: middle.toUpperCase() });
  assert.equal((await fetchCommit(mid)).sha, middle);
});

test('two fetches into one cache at once take turns', async (t) => {
  const f = await fixture(t);
  const one = await f.commit({ 'index.html': 'one' }, 'One');
  const two = await f.commit({ 'index.html': 'two' }, 'Two');
  const [a, b] = [f.options({ sha: one }), f.options({ sha: two })];
  const fetched = await Promise.all([fetchCommit(a), fetchCommit(b)]);
  assert.deepEqual(fetched.map((commit) => commit.sha), [one, two]);
  assert.equal(await readFile(join(a.workDir, 'index.html'), 'utf8'), 'one');
  assert.equal(await readFile(join(b.workDir, 'index.html'), 'utf8'), 'two');
});

test('a commit the repository does not have is E_GIT_COMMIT_NOT_FOUND, and no work directory is left', async (t) => {
  const f = await fixture(t);
  await f.commit({ 'index.html': 'x' }, 'One');
  const missing = 'c0ffee'.repeat(6) + 'c0ff';
  const options = f.options({ sha: missing });
  await assert.rejects(fetchCommit(options), hasCode('E_GIT_COMMIT_NOT_FOUND', missing, f.repo));
  assert.equal(await exists(options.workDir), false);
  await assert.rejects(fetchCommit(f.options({ sha: 'abc123' })), hasCode('E_GIT_COMMIT_NOT_FOUND', /not a full commit id/));
});

test('a server that hands out only its branch tips gives the tip, and a clear error for an older commit', async (t) => {
  const f = await fixture(t);
  const old = await f.commit({ 'index.html': 'old' }, 'Old');
  const tip = await f.commit({ 'index.html': 'tip' }, 'Tip');
  // Git protocol v0 without uploadpack.allowReachableSHA1InWant refuses to
  // send a commit by id unless a ref points at it, as some older servers do.
  // HOME is one of the few variables git gets from us, so its config reaches
  // both ends of a local fetch.
  const home = join(f.root, 'home');
  await writeTree(home, { '.gitconfig': '[protocol]\n\tversion = 0\n' });
  const savedHome = process.env.HOME;
  process.env.HOME = home;
  t.after(() => {
    process.env.HOME = savedHome;
  });
  const options = f.options({ sha: tip });
  assert.equal((await fetchCommit(options)).sha, tip);
  assert.equal(await readFile(join(options.workDir, 'index.html'), 'utf8'), 'tip');
  await assert.rejects(fetchCommit(f.options({ sha: old })), hasCode('E_GIT_COMMIT_NOT_FOUND', old, f.repo, /hands out no other commit/));
});

test('a repository path that does not exist is E_GIT_FETCH', async (t) => {
  const f = await fixture(t);
  const repo = join(f.root, 'no-such-repo');
  await assert.rejects(fetchCommit(f.options({ repo, sha: 'a'.repeat(40) })), hasCode('E_GIT_FETCH', repo, /check the repository URL/));
  await assert.rejects(fetchCommit(f.options({ repo })), hasCode('E_GIT_FETCH', repo));
});

test('without a sha, fetchCommit deploys what the ref points at', async (t) => {
  const f = await fixture(t);
  await f.commit({ 'index.html': 'one' }, 'One');
  const tagged = await f.commit({ 'index.html': 'two' }, 'Two');
  git(f.repo, 'tag', '-a', '-m', 'Release 2', 'v2');
  const head = await f.commit({ 'index.html': 'three' }, 'Three');

  const branch = f.options();
  assert.equal((await fetchCommit(branch)).sha, head);
  assert.equal(await readFile(join(branch.workDir, 'index.html'), 'utf8'), 'three');
  assert.equal((await fetchCommit(f.options({ ref: 'refs/heads/main' }))).sha, head);
  const tag = f.options({ ref: 'v2' });
  assert.deepEqual(await fetchCommit(tag), { sha: tagged, author: 'Ada Lovelace', message: 'Two', committedAtMs: committerTime(f.repo, tagged), tree: treeOf(f.repo, tagged) });
  assert.equal(await readFile(join(tag.workDir, 'index.html'), 'utf8'), 'two');

  await assert.rejects(fetchCommit(f.options({ ref: 'no-such-branch' })), hasCode('E_GIT_FETCH', '"no-such-branch"', f.repo));
  await assert.rejects(fetchCommit(f.options({ ref: '--upload-pack=touch /tmp/x' })), hasCode('E_GIT_FETCH', /not a branch/));
});

test('resolveRef asks the repository what a branch or tag points at', async (t) => {
  const f = await fixture(t);
  const tagged = await f.commit({ 'a.txt': '1' }, 'One');
  git(f.repo, 'tag', '-a', '-m', 'Release 1', 'v1');
  git(f.repo, 'tag', 'light');
  const head = await f.commit({ 'a.txt': '2' }, 'Two');
  git(f.repo, 'branch', 'other', tagged);

  assert.equal(await resolveRef({ repo: f.repo, ref: 'main' }), head);
  assert.equal(await resolveRef({ repo: f.repo, ref: 'refs/heads/main' }), head);
  assert.equal(await resolveRef({ repo: f.repo, ref: 'HEAD' }), head);
  assert.equal(await resolveRef({ repo: f.repo, ref: 'other' }), tagged);
  // An annotated tag resolves to its commit, not to the tag object.
  assert.equal(await resolveRef({ repo: f.repo, ref: 'v1' }), tagged);
  assert.equal(await resolveRef({ repo: f.repo, ref: 'light' }), tagged);
  await assert.rejects(resolveRef({ repo: f.repo, ref: 'gone' }), hasCode('E_GIT_FETCH', '"gone"'));
  await assert.rejects(resolveRef({ repo: join(f.root, 'nothing'), ref: 'main' }), hasCode('E_GIT_FETCH'));
});

test('submodules are checked out when asked for, and only then', async (t) => {
  const f = await fixture(t);
  const libDir = join(f.root, 'lib');
  const libCommit = await makeRepo(libDir);
  await libCommit({ 'lib.txt': 'from the submodule' }, 'Lib');
  await f.commit({ 'index.html': 'main' }, 'Main');
  git(f.repo, 'submodule', '--quiet', 'add', libDir, 'vendor/lib');
  const sha = await f.commit({}, 'Add the submodule');

  const withModules = f.options({ sha, submodules: true });
  await fetchCommit(withModules);
  assert.equal(await readFile(join(withModules.workDir, 'vendor', 'lib', 'lib.txt'), 'utf8'), 'from the submodule');

  const without = f.options({ sha, submodules: false });
  await fetchCommit(without);
  assert.deepEqual(await readdir(join(without.workDir, 'vendor', 'lib')), []);
});

test('a token is sent as a header to the repository, and never shown', async (t) => {
  const token = 'ghp_TopSecretToken1234567890';
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  const seen: Array<string | undefined> = [];
  const server = createHttpServer((request, response) => {
    seen.push(request.headers.authorization);
    response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as { port: number };
  const f = await fixture(t);
  const options = f.options({ repo: `http://127.0.0.1:${port}/you/private.git`, token });
  await assert.rejects(fetchCommit(options), (error) => {
    hasCode('E_GIT_FETCH', /deploy_key_file|token_env/)(error);
    assert.ok(!(error as Error).message.includes(token) && !(error as Error).message.includes(basic));
    return true;
  });
  assert.equal(seen[0], `Basic ${basic}`);
  const everything = options.lines.join('\n') + (await readFile(join(f.cacheDir, 'config'), 'utf8'));
  assert.ok(!everything.includes(token) && !everything.includes(basic), everything);
});

test('tokens and URL credentials are kept out of errors from an unreachable https repository', async (t) => {
  const closed = createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const { port } = closed.address() as { port: number };
  closed.close();
  await once(closed, 'close');

  const f = await fixture(t);
  const token = 'glpat-AnotherSecret987654321';
  const withToken = f.options({ repo: `https://127.0.0.1:${port}/you/site.git`, token, sha: 'b'.repeat(40) });
  await assert.rejects(fetchCommit(withToken), (error) => {
    hasCode('E_GIT_FETCH', `127.0.0.1:${port}`, /reach/)(error);
    assert.ok(!(error as Error).message.includes(token), (error as Error).message);
    return true;
  });
  await assert.rejects(resolveRef({ repo: `https://127.0.0.1:${port}/you/site.git`, ref: 'main', token }), (error) => {
    assert.ok(isBerthError(error) && !error.message.includes(token), String(error));
    return true;
  });
  const withPassword = f.options({ repo: `https://deployer:hunter2hunter2@127.0.0.1:${port}/you/site.git` });
  await assert.rejects(fetchCommit(withPassword), (error) => {
    hasCode('E_GIT_FETCH', `https://***@127.0.0.1:${port}/you/site.git`)(error);
    assert.ok(!(error as Error).message.includes('hunter2'), (error as Error).message);
    return true;
  });
  assert.ok(!withPassword.lines.join('\n').includes('hunter2'));
});

test('a deploy key is handed to ssh, which may never prompt', async (t) => {
  const f = await fixture(t);
  // A stand-in for ssh, first on the PATH, that writes down how it was called.
  const bin = join(f.root, 'bin');
  const argsFile = join(f.root, 'ssh-args');
  await writeTree(bin, { ssh: `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\necho 'Permission denied (publickey).' >&2\nexit 255\n` });
  await chmod(join(bin, 'ssh'), 0o755);
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath ?? ''}`;
  t.after(() => {
    process.env.PATH = savedPath;
  });
  const keyFile = join(f.root, "keys dir/it's a key");
  await assert.rejects(
    fetchCommit(f.options({ repo: 'git@git.example.com:you/site.git', deployKeyFile: keyFile })),
    hasCode('E_GIT_FETCH', 'git@git.example.com:you/site.git', /deploy_key_file/),
  );
  const args = (await readFile(argsFile, 'utf8')).split('\n');
  assert.equal(args[args.indexOf('-i') + 1], keyFile);
  for (const option of ['IdentitiesOnly=yes', 'StrictHostKeyChecking=accept-new', 'BatchMode=yes']) assert.ok(args.includes(option), args.join(' '));
  assert.ok(args.includes('git@git.example.com'), args.join(' '));
});

test('a server that never answers is given up on at the timeout, and an abort stops git at once', async (t) => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => sockets.delete(socket));
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const { port } = silent.address() as { port: number };
  const f = await fixture(t);
  const repo = `http://127.0.0.1:${port}/slow.git`;

  // The server never answers: each call ends because of its own timeout or abort, which the error names.
  await assert.rejects(fetchCommit(f.options({ repo, sha: 'd'.repeat(40), timeoutMs: 1_000 })), hasCode('E_GIT_FETCH', /did not finish within 1s/, repo));
  await assert.rejects(resolveRef({ repo, ref: 'main', timeoutMs: 1_000 }), hasCode('E_GIT_FETCH', /did not finish within 1s/));

  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  await assert.rejects(fetchCommit(f.options({ repo, signal: controller.signal })), { name: 'AbortError' });
});

test('deleting a work directory leaves no worktree records in the cache', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'x' }, 'One');
  const options = f.options({ sha });
  await fetchCommit(options);
  await rm(options.workDir, { recursive: true, force: true });
  assert.equal(await exists(join(f.cacheDir, 'worktrees')), false);
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'worktree', 'prune', '--dry-run', '--verbose'), '');
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'worktree', 'list', '--porcelain').match(/^worktree /gm)?.length, 1);
});

test('a work directory that is not empty is refused with E_GIT_CHECKOUT', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'x' }, 'One');
  const options = f.options({ sha });
  await writeTree(options.workDir, { 'left-over.txt': 'x' });
  await assert.rejects(fetchCommit(options), hasCode('E_GIT_CHECKOUT', options.workDir));
  // Not ours to delete.
  assert.equal(await readFile(join(options.workDir, 'left-over.txt'), 'utf8'), 'x');
});

test('git variables in our own environment do not reach git', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'x' }, 'One');
  const saved = { GIT_DIR: process.env.GIT_DIR, GIT_WORK_TREE: process.env.GIT_WORK_TREE };
  process.env.GIT_DIR = join(f.root, 'elsewhere.git');
  process.env.GIT_WORK_TREE = join(f.root, 'elsewhere');
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  });
  const options = f.options({ sha });
  assert.equal((await fetchCommit(options)).sha, sha);
  assert.equal(await exists(join(f.root, 'elsewhere.git')), false);
});

/** Every file under `dir`, with its bytes. */
async function filesUnder(dir: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await lstat(path)).isFile()) out.push({ path, bytes: await readFile(path) });
  }
  return out;
}

/** A hooks directory whose every hook Berth could trigger writes `marker`. */
async function markingHooks(dir: string, marker: string): Promise<string> {
  const hook = `#!/bin/sh\necho "$0" >> '${marker}'\n`;
  const names = ['reference-transaction', 'post-checkout', 'post-merge', 'post-index-change', 'pre-auto-gc', 'post-rewrite', 'fsmonitor-watchman'];
  await writeTree(dir, Object.fromEntries(names.map((name) => [name, hook])));
  for (const name of names) await chmod(join(dir, name), 0o755);
  return dir;
}

/**
 * Serves the repositories under `root` over smart HTTP with `git
 * http-backend`, to clients that send `authorization` (and answers 401 to
 * the others).
 */
async function gitHttpServer(t: TestContext, root: string, authorization: string): Promise<number> {
  const server = createHttpServer((request, response) => {
    if (request.headers.authorization !== authorization) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: request.method,
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: request.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(request.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    request.pipe(child.stdin);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, end).toString('latin1').split('\r\n');
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'status') status = Number(value.split(' ')[0]);
        else headers[name] = value;
      }
      response.writeHead(status, headers).end(all.subarray(end + 4));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as { port: number }).port;
}

test('credentials in an https URL or a token are sent per command and never written into a git config or any other file', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'private' }, 'Private');
  const password = 'pw-Credential-0123456789';
  const token = 'ghp_PerCommandToken0123456789';
  const userPort = await gitHttpServer(t, f.root, `Basic ${Buffer.from(`deployer:${password}`).toString('base64')}`);
  const withUrl = f.options({ repo: `http://deployer:${password}@127.0.0.1:${userPort}/origin`, sha });
  assert.equal((await fetchCommit(withUrl)).sha, sha);
  assert.equal(await readFile(join(withUrl.workDir, 'index.html'), 'utf8'), 'private');

  const tokenRoot = await tempDir(t);
  const tokenPort = await gitHttpServer(t, f.root, `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`);
  const withToken = f.options({ repo: `http://127.0.0.1:${tokenPort}/origin`, token, sha, cacheDir: join(tokenRoot, 'source.git') });
  assert.equal((await fetchCommit(withToken)).sha, sha);

  const secrets = [password, token, Buffer.from(`deployer:${password}`).toString('base64'), Buffer.from(`x-access-token:${token}`).toString('base64')];
  const files = [...(await filesUnder(f.cacheDir)), ...(await filesUnder(withUrl.workDir)), ...(await filesUnder(join(tokenRoot, 'source.git'))), ...(await filesUnder(withToken.workDir))];
  assert.ok(files.some((file) => file.path.endsWith(join('.git', 'config'))), 'the work directories have a git config');
  for (const file of files) {
    for (const secret of secrets) assert.ok(!file.bytes.includes(secret), `${file.path} holds a credential`);
  }
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'config', 'remote.origin.url').trim(), `http://127.0.0.1:${userPort}/origin`);
  assert.ok(!withUrl.lines.join('\n').includes(password), withUrl.lines.join('\n'));
  // The cache and the work directory's .git are Berth's alone.
  assert.equal((await stat(f.cacheDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(withUrl.workDir, '.git'))).mode & 0o777, 0o700);
  // The work directory does not borrow the cache's objects: the build, another user, can read its commit.
  assert.equal(await exists(join(withUrl.workDir, '.git', 'objects', 'info', 'alternates')), false);
  assert.equal(git(withUrl.workDir, 'log', '-1', '--format=%s').trim(), 'Private');
});

test('a hooks path planted in the global config file an older Berth wrote to /tmp is never run by a fetch', async (t) => {
  const f = await fixture(t);
  await f.commit({ 'index.html': 'one' }, 'One');
  const marker = join(f.root, 'hook-ran');
  const hooks = await markingHooks(join(f.root, 'evil-hooks'), marker);
  // A temporary directory like /tmp, anyone's to write in, but only this test's to look at.
  const shared = await tempDir(t, 'berth-tmp-');
  await chmod(shared, 0o1777);
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = shared;
  t.after(() => {
    if (savedTmp === undefined) Reflect.deleteProperty(process.env, 'TMPDIR');
    else process.env.TMPDIR = savedTmp;
  });
  // Where Berth used to write, and then reuse, the global config of a fetch from a local repository.
  const digest = createHash('sha256').update(`${f.repo}\0${process.env.HOME ?? ''}`).digest('hex').slice(0, 16);
  const predictable = join(tmpdir(), `berth-git-${process.getuid?.() ?? 0}-${digest}.gitconfig`);
  const planted = `[core]\n\thooksPath = ${hooks}\n`;
  await writeFile(predictable, planted, { mode: 0o666 });
  // The build user made it first, so it owns it and rewrites it whenever it likes.
  await chown(predictable, 65534, 65534);
  t.after(() => rm(predictable, { force: true }));
  t.after(() => rm(`${predictable}.new`, { force: true }));
  // It replaces the file whole (write beside, rename over), so git never reads it half written.
  const attacker = spawn('sh', ['-c', 'while :; do printf "$PLANTED" > "$FILE.new" && mv -f "$FILE.new" "$FILE"; done'], {
    uid: 65534,
    gid: 65534,
    env: { PLANTED: planted.replace(/\t/g, '\\t').replace(/\n/g, '\\n'), FILE: predictable, PATH: process.env.PATH },
    stdio: 'ignore',
  });
  t.after(() => attacker.kill('SIGKILL'));
  const ours = async (): Promise<string[]> => (await readdir(shared)).filter((name) => !predictable.endsWith(name.replace(/\.new$/, '')));
  const before = await ours();

  for (let i = 0; i < 3; i++) {
    const options = f.options();
    await fetchCommit(options);
    assert.equal(await readFile(join(options.workDir, 'index.html'), 'utf8'), 'one');
  }
  assert.equal(await exists(marker), false, `a hook from the planted config ran as root: ${await readFile(marker, 'utf8').catch(() => '')}`);
  assert.deepEqual(await ours(), before, 'nothing is written to the temporary directory');
});

test("the cached clone's own hooks and settings are not honoured", async (t) => {
  const f = await fixture(t);
  await f.commit({ 'index.html': 'one' }, 'One');
  await fetchCommit(f.options());
  const marker = join(f.root, 'hook-ran');
  const hooks = await markingHooks(join(f.root, 'evil-hooks'), marker);
  // What someone who could write into the cache would leave there.
  await markingHooks(join(f.cacheDir, 'hooks'), marker);
  const uploadPack = join(f.root, 'evil-upload-pack');
  await writeFile(uploadPack, `#!/bin/sh\necho upload-pack >> '${marker}'\nexec git-upload-pack "$@"\n`, { mode: 0o755 });
  git(f.cacheDir, '--git-dir', f.cacheDir, 'config', 'core.hooksPath', hooks);
  git(f.cacheDir, '--git-dir', f.cacheDir, 'config', 'remote.origin.uploadpack', uploadPack);
  git(f.cacheDir, '--git-dir', f.cacheDir, 'config', 'core.fsmonitor', join(hooks, 'fsmonitor-watchman'));

  const sha = await f.commit({ 'index.html': 'two' }, 'Two');
  const options = f.options();
  assert.equal((await fetchCommit(options)).sha, sha);
  assert.equal(await readFile(join(options.workDir, 'index.html'), 'utf8'), 'two');
  git(options.workDir, 'status', '--porcelain');
  assert.equal(await exists(marker), false, `ran: ${await readFile(marker, 'utf8').catch(() => '')}`);
  assert.ok(options.lines.some((line) => /setting\(s\) Berth does not write; it is removed and fetched again/.test(line)), options.lines.join('\n'));
  const settings = git(f.cacheDir, '--git-dir', f.cacheDir, 'config', '--local', '--list', '--name-only').trim().split('\n');
  assert.deepEqual(settings.filter((name) => !/^(core\.(repositoryformatversion|filemode|bare)|remote\.origin\.(url|fetch))$/.test(name)), []);
});

test('a local repository another user owns is fetched: that path, and only it, is trusted', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': 'theirs' }, 'Theirs');
  execFileSync('chown', ['-R', '65534:65534', f.repo]);
  const options = f.options();
  assert.equal((await fetchCommit(options)).sha, sha);
  assert.equal(await resolveRef({ repo: f.repo, ref: 'main' }), sha);
});

test('with pushed, the branch tip is checked out when the pushed commit is on the branch', async (t) => {
  const f = await fixture(t);
  const old = await f.commit({ 'index.html': 'old' }, 'Old');
  for (let i = 0; i < 30; i++) await f.commit({ 'count.txt': String(i) }, `Step ${i}`);
  const tip = await f.commit({ 'index.html': 'tip' }, 'Tip');

  const same = f.options({ pushed: tip });
  assert.equal((await fetchCommit(same)).sha, tip);
  // An old push (sent again, or overtaken by later pushes) deploys the tip, never the old commit.
  const behind = f.options({ pushed: old });
  assert.deepEqual(await fetchCommit(behind), { sha: tip, author: 'Ada Lovelace', message: 'Tip', committedAtMs: committerTime(f.repo, tip), tree: treeOf(f.repo, tip) });
  assert.equal(await readFile(join(behind.workDir, 'index.html'), 'utf8'), 'tip');
  assert.ok(behind.lines.some((line) => line.includes(`pushed commit ${old} is on main, whose tip is now ${tip}`)), behind.lines.join('\n'));

  // A force-push that really moved the branch back: the pushed commit is the tip.
  git(f.repo, 'reset', '--hard', '--quiet', old);
  const back = f.options({ pushed: old });
  assert.equal((await fetchCommit(back)).sha, old);
  assert.equal(await readFile(join(back.workDir, 'index.html'), 'utf8'), 'old');
});

test('with pushed, a commit only on another branch or in a pull request deploys nothing and is not fetched', async (t) => {
  const f = await fixture(t);
  await f.commit({ 'index.html': 'main' }, 'Main');
  git(f.repo, 'checkout', '--quiet', '-b', 'drafts');
  const draft = await f.commit({ 'index.html': 'draft' }, 'Draft');
  git(f.repo, 'checkout', '--quiet', '-b', 'fork');
  const pull = await f.commit({ 'index.html': 'from a fork' }, 'Pull request');
  // Where GitHub and GitLab keep a fork's pull request, served with the repository.
  git(f.repo, 'update-ref', 'refs/pull/1/head', pull);
  git(f.repo, 'checkout', '--quiet', 'main');
  git(f.repo, 'branch', '--quiet', '-D', 'fork');
  const tip = git(f.repo, 'rev-parse', 'main').trim();

  for (const pushed of [draft, pull]) {
    const options = f.options({ pushed, ref: 'refs/heads/main' });
    await assert.rejects(fetchCommit(options), hasCode('E_PUSH_NOT_ON_BRANCH', pushed, tip, 'nothing was deployed'));
    assert.equal(await exists(options.workDir), false);
    assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'cat-file', '-t', tip).trim(), 'commit');
    assert.throws(() => git(f.cacheDir, '--git-dir', f.cacheDir, 'cat-file', '-t', pushed), 'the pushed commit was never fetched');
  }
});

test('the fetch itself records the fetched commit in the cache, and a ref with a colon (another refspec destination) is refused before git runs', async (t) => {
  const f = await fixture(t);
  const sha = await f.commit({ 'index.html': '<h1>one</h1>' }, 'Recorded');
  const { workDir, ...options } = f.options({ sha: undefined });
  assert.equal((await fetchCommit({ ...options, ref: 'main' })).sha, sha);
  assert.equal(git(f.cacheDir, '--git-dir', f.cacheDir, 'rev-parse', 'refs/berth/last-fetched').trim(), sha);
  await assert.rejects(fetchCommit({ ...options, ref: 'main:refs/heads/evil' }), (error: unknown) => isBerthError(error) && error.code === 'E_GIT_FETCH' && /not a branch, tag or ref name/.test(error.message));
  assert.throws(() => git(f.cacheDir, '--git-dir', f.cacheDir, 'rev-parse', '--verify', '--quiet', 'refs/heads/evil'));
  await assert.rejects(access(workDir), { code: 'ENOENT' });
});
