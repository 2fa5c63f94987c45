import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import check from '../../src/cli/commands/check.ts';

const SECRET = 'do-not-print-this-9f8e7d';
/** A plain uid that cannot write what root made (no account is needed to run as it). */
const NOBODY = 65534;
const NOBODY_GID = 65534;

let root: string;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'berth-check-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function runCheck(options: { toml?: string; config?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const cwd = options.cwd ?? (await mkdtemp(path.join(root, 'case-')));
  if (options.toml !== undefined) await writeFile(path.join(cwd, 'berth.toml'), options.toml);
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await check.run(
    { values: { config: options.config }, positionals: [] },
    { stdout, stderr, env: options.env ?? {}, cwd },
  );
  return { code, stdout: stdout.text, stderr: stderr.text, cwd };
}

const VALID = `data_dir = "data"

[[sites]]
name = "blog"
domains = ["example.com", "www.example.com"]

[sites.webhook]
forge = "github"
secret = "\${BLOG_SECRET}"
`;

describe('berth check', () => {
  it('is a command that takes --config', () => {
    assert.equal(check.name, 'check');
    assert.ok('config' in check.options);
  });

  it('summarises a valid config on stdout and exits 0', async () => {
    const { code, stdout, stderr, cwd } = await runCheck({ toml: VALID, env: { BLOG_SECRET: SECRET } });
    assert.equal(code, 0);
    assert.equal(stderr, '');
    assert.match(stdout, new RegExp(`^Config ${path.join(cwd, 'berth.toml')} is valid\n`));
    assert.match(stdout, new RegExp(`data dir +${path.join(cwd, 'data')}\n`));
    assert.match(stdout, /blog: example\.com, www\.example\.com\n/);
    assert.match(stdout, /webhook github, secret from env BLOG_SECRET/);
    assert.equal(stdout.includes(SECRET), false);
  });

  it('prints warnings to stderr but still exits 0', async () => {
    const toml = VALID.replace('"${BLOG_SECRET}"', JSON.stringify(SECRET));
    const { code, stdout, stderr } = await runCheck({ toml });
    assert.equal(code, 0);
    assert.match(stderr, /^berth\.toml:9 sites\[0\]\.webhook\.secret: warning: the secret is written in the config file/);
    assert.match(stdout, /is valid \(1 warning\)/);
    assert.equal(stdout.includes(SECRET), false);
    assert.equal(stderr.includes(SECRET), false);
  });

  it('prints every problem with its line to stderr and exits 1', async () => {
    const toml = `${VALID.replace('"github"', '"gitbucket"')}\n[server]\nhttp_port = 99999\n`;
    const { code, stdout, stderr } = await runCheck({ toml, env: { BLOG_SECRET: SECRET } });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      [
        'berth.toml:8 sites[0].webhook.forge: unknown forge "gitbucket"; use one of github, gitlab, gitea, forgejo, bitbucket, generic',
        'berth.toml:12 server.http_port: 99999 is not a port; use 0 to 65535 (0 for any free port), or false to turn the listener off',
        'berth.toml is not valid: 2 errors',
        '',
      ].join('\n'),
    );
  });

  it('refuses a malformed, oversized, negative, fractional, repeated or old-style memory cache size, naming the value and what is accepted', async () => {
    const cases: Array<[string, RegExp]> = [
      ['memory_cache = "lots"', /^berth\.toml:\d+ server\.memory_cache: "lots" is not a size; write a number of bytes \(16384\) or a size with a unit \(B, KB, KiB, MB, MiB, GB, GiB\), e\.g\. "16KiB"$/m],
      ['memory_cache = "17GiB"', /^berth\.toml:\d+ server\.memory_cache: "17GiB" is out of range; use 0B to 16GiB$/m],
      ['memory_cache = 99999999999999', /^berth\.toml:\d+ server\.memory_cache: 99999999999999 is out of range; use 0B to 16GiB$/m],
      ['memory_cache = -1', /^berth\.toml:\d+ server\.memory_cache: -1 is out of range; use 0B to 16GiB$/m],
      ['memory_cache = "-64MiB"', /^berth\.toml:\d+ server\.memory_cache: "-64MiB" is not a size/m],
      ['memory_cache = "1.5B"', /^berth\.toml:\d+ server\.memory_cache: "1\.5B" is not a whole number of bytes$/m],
      ['memory_cache = true', /^berth\.toml:\d+ server\.memory_cache: expected a number of bytes/m],
      // The TOML parser refuses a repeated key before any value is looked at, naming the line of the second.
      ['memory_cache = "1MiB"\nmemory_cache = "2MiB"', /^berth\.toml:13: not valid TOML \(column 1\): trying to redefine an already defined table or value$/m],
      ['memory_file_max = "1MiB"', /^berth\.toml:\d+ server(\.memory_file_max)?: unknown key "memory_file_max" in \[server\]/m],
    ];
    for (const [line, message] of cases) {
      const { code, stdout, stderr } = await runCheck({ toml: `${VALID}\n[server]\n${line}\n`, env: { BLOG_SECRET: SECRET } });
      assert.equal(code, 1, line);
      assert.equal(stdout, '', line);
      assert.match(stderr, message, line);
    }
    for (const accepted of ['memory_cache = 0', 'memory_cache = "16GiB"', 'memory_cache = "512 KiB"', 'memory_cache = 1048576']) {
      const { code, stderr } = await runCheck({ toml: `${VALID}\n[server]\n${accepted}\n`, env: { BLOG_SECRET: SECRET } });
      assert.equal(code, 0, `${accepted}: ${stderr}`);
    }
  });

  it('reports an unresolvable secret without printing any secret', async () => {
    const { code, stderr } = await runCheck({ toml: VALID });
    assert.equal(code, 1);
    assert.match(stderr, /berth\.toml:9 sites\[0\]\.webhook\.secret: environment variable BLOG_SECRET is not set/);
  });

  it('says how to get a config when there is none', async () => {
    const { code, stdout, stderr } = await runCheck();
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /not found; run `berth init` to write one, or pass --config <file>, or set BERTH_CONFIG \(docs\/configuration.md has an example\)/);
    assert.match(stderr, /berth\.toml cannot be checked: it cannot be read/);
    assert.doesNotMatch(stderr, /is not valid/, 'a file that is not there is not called invalid');
  });

  it('reads the file named by --config, relative to the working directory', async () => {
    const cwd = await mkdtemp(path.join(root, 'flag-'));
    await writeFile(path.join(cwd, 'other.toml'), VALID);
    const { code, stdout } = await runCheck({ cwd, config: 'other.toml', env: { BLOG_SECRET: SECRET } });
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`Config ${path.join(cwd, 'other.toml')} is valid`));
  });

  it('falls back to $BERTH_CONFIG when there is no ./berth.toml', async () => {
    const elsewhere = await mkdtemp(path.join(root, 'env-'));
    const file = path.join(elsewhere, 'berth.toml');
    await writeFile(file, VALID);
    const { code, stdout } = await runCheck({ env: { BERTH_CONFIG: file, BLOG_SECRET: SECRET } });
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`Config ${file} is valid`));
  });

  it('runs from the command line with the same exit codes', async () => {
    const cwd = await mkdtemp(path.join(root, 'cli-'));
    await writeFile(path.join(cwd, 'berth.toml'), VALID);
    const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
    const run = promisify(execFile);
    const ok = await run(process.execPath, [main, 'check'], { cwd, env: { BLOG_SECRET: SECRET, PATH: process.env.PATH } });
    assert.match(ok.stdout, /is valid/);
    await assert.rejects(run(process.execPath, [main, 'check', '--config', 'missing.toml'], { cwd, env: { PATH: process.env.PATH } }), (error: unknown) => {
      assert.equal((error as { code?: number }).code, 1);
      assert.match((error as { stderr?: string }).stderr ?? '', /missing\.toml not found/);
      return true;
    });
  });
});

/** Runs the real `berth` CLI; resolves with its exit code and output, whatever the code. */
function berthCli(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { cwd: options.cwd, env: { PATH: process.env.PATH, ...options.env }, uid: options.uid, gid: options.gid },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
    );
  });
}

/** A case directory the build user may enter and read (mkdtemp makes 0700 ones). */
async function openCase(prefix: string): Promise<string> {
  const cwd = await mkdtemp(path.join(root, prefix));
  await chmod(root, 0o755);
  await chmod(cwd, 0o755);
  return cwd;
}

const NO_STACK = /^\s+at /m;

describe('berth check and berth serve refuse an unusable data_dir or secret', () => {
  const SECRET_FILE = VALID.replace('secret = "${BLOG_SECRET}"', 'secret_file = "hook-secret"');

  it('names data_dir when it is a file, in check and in serve', async () => {
    const cwd = await openCase('dd-file-');
    await writeFile(path.join(cwd, 'data'), 'not a directory\n');
    await writeFile(path.join(cwd, 'berth.toml'), VALID);
    const checked = await berthCli(['check'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(checked.code, 1);
    assert.equal(checked.stdout, '');
    assert.match(checked.stderr, new RegExp(`^berth\\.toml:1 data_dir: ${path.join(cwd, 'data')} is a file, not a directory; point data_dir at a directory`, 'm'));
    assert.doesNotMatch(checked.stderr, NO_STACK);

    // Under a file, it cannot be created.
    await writeFile(path.join(cwd, 'other.toml'), VALID.replace('data_dir = "data"', 'data_dir = "data/state"'));
    const under = await berthCli(['check', '--config', 'other.toml'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(under.code, 1);
    assert.match(under.stderr, new RegExp(`^other\\.toml:1 data_dir: ${path.join(cwd, 'data', 'state')} cannot be created because ${path.join(cwd, 'data')} is a file, not a directory`, 'm'));

    const served = await berthCli(['serve'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(served.code, 1);
    assert.match(served.stderr, /^berth serve: Invalid configuration in berth\.toml \(1 error\):\nberth\.toml:1 data_dir: .* is a file, not a directory/m);
    assert.match(served.stderr, /\[E_CONFIG_INVALID\]\n$/);
    assert.doesNotMatch(served.stderr, NO_STACK);
  });

  it('names data_dir when the user running berth cannot write it or create it', async () => {
    const cwd = await openCase('dd-ro-');
    // Owned by root, 0755: the unprivileged user may read it but not write to it.
    await mkdir(path.join(cwd, 'data'), { mode: 0o755 });
    await writeFile(path.join(cwd, 'berth.toml'), VALID, { mode: 0o644 });
    const asUser = { cwd, env: { BLOG_SECRET: SECRET }, uid: NOBODY, gid: NOBODY_GID };
    const existing = await berthCli(['check'], asUser);
    assert.equal(existing.code, 1, existing.stderr);
    assert.match(existing.stderr, new RegExp(`^berth\\.toml:1 data_dir: ${path.join(cwd, 'data')} is not writable by this user \\(uid ${NOBODY}\\); make it writable`, 'm'));
    assert.doesNotMatch(existing.stderr, NO_STACK);

    await writeFile(path.join(cwd, 'berth.toml'), VALID.replace('data_dir = "data"', 'data_dir = "data/deeper/still"'), { mode: 0o644 });
    const missing = await berthCli(['check'], asUser);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /data_dir: .*data\/deeper\/still does not exist and cannot be created: .*\/data is not writable by this user/);

    const served = await berthCli(['serve'], asUser);
    assert.equal(served.code, 1);
    assert.match(served.stderr, /data_dir: .*does not exist and cannot be created.*\[E_CONFIG_INVALID\]\n$/s);
    assert.doesNotMatch(served.stderr, NO_STACK);

    // The same config is fine for root, who may write there.
    const asRoot = await berthCli(['check'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(asRoot.code, 0, asRoot.stderr);
  });

  it('warns a non-root user that builds are not isolated, naming allow_unisolated_builds and why; root gets no such line', async () => {
    const cwd = await openCase('isolation-');
    await mkdir(path.join(cwd, 'data'), { mode: 0o777 });
    await chmod(path.join(cwd, 'data'), 0o777);
    const built = VALID.replace('[sites.webhook]', 'repo = "https://example.com/blog.git"\n\n[sites.webhook]');
    await writeFile(path.join(cwd, 'berth.toml'), built, { mode: 0o644 });
    const asUser = { cwd, env: { BLOG_SECRET: SECRET }, uid: NOBODY, gid: NOBODY_GID };
    const refused = await berthCli(['check'], asUser);
    assert.equal(refused.code, 0, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`^berth\\.toml deploy\\.allow_unisolated_builds: warning: Berth runs as uid ${NOBODY}, not root, so builds cannot run as users of their own: deploys of blog that have a build command fail with E_BUILD_UNISOLATED; .*set \\[deploy\\] allow_unisolated_builds = true`, 'm'),
    );

    await writeFile(path.join(cwd, 'berth.toml'), `${built}\n[deploy]\nallow_unisolated_builds = true\n`, { mode: 0o644 });
    const allowed = await berthCli(['check'], asUser);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /deploy\.allow_unisolated_builds: warning: builds are not isolated: Berth runs as uid 65534, not root, so builds of blog run as Berth's own user/);

    const asRoot = await berthCli(['check'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(asRoot.code, 0, asRoot.stderr);
    assert.doesNotMatch(asRoot.stderr, /allow_unisolated_builds/);
  });

  it('run as root, fails for a [server] user that names no account, with the useradd command that makes it', async () => {
    const cwd = await openCase('service-user-');
    await writeFile(path.join(cwd, 'berth.toml'), `${VALID}\n[server]\nuser = "berth-check-absent"\n`, { mode: 0o644 });
    const checked = await berthCli(['check'], { cwd, env: { BLOG_SECRET: SECRET } });
    assert.equal(checked.code, 1, checked.stderr);
    assert.match(checked.stderr, /^berth\.toml server\.user: \[server\] user is "berth-check-absent", and no such account exists; create it with `useradd --system .* berth-check-absent`/m);
    assert.match(checked.stderr, /berth\.toml is not valid: 1 error/);
  });

  it('returns at once for a secret_file that is a named pipe nobody writes to, in check and in serve', { timeout: 60_000 }, async () => {
    const cwd = await openCase('fifo-');
    await writeFile(path.join(cwd, 'berth.toml'), SECRET_FILE);
    execFileSync('mkfifo', [path.join(cwd, 'hook-secret')]);
    const checked = await berthCli(['check'], { cwd });
    assert.equal(checked.code, 1);
    assert.match(
      checked.stderr,
      /^berth\.toml:9 sites\[0\]\.webhook\.secret_file: secret_file \S+hook-secret is a named pipe \(FIFO\); point secret_file at a regular file that holds only the secret$/m,
    );
    assert.doesNotMatch(checked.stderr, NO_STACK);
    const served = await berthCli(['serve'], { cwd });
    assert.equal(served.code, 1);
    assert.match(served.stderr, /secret_file: .* is a named pipe \(FIFO\).*\[E_CONFIG_SECRET\]\n$/s);
  });

  it('refuses /dev/zero as a secret_file without reading it', { timeout: 60_000 }, async () => {
    const cwd = await openCase('zero-');
    await writeFile(path.join(cwd, 'berth.toml'), SECRET_FILE.replace('"hook-secret"', '"/dev/zero"'));
    const checked = await berthCli(['check'], { cwd });
    assert.equal(checked.code, 1);
    assert.match(checked.stderr, /^berth\.toml:9 sites\[0\]\.webhook\.secret_file: secret_file \/dev\/zero is a device; point secret_file at a regular file/m);
    assert.doesNotMatch(checked.stderr, NO_STACK);
  });

  it('refuses a webhook secret of one character, from the environment, a file or the config, without printing it', async () => {
    const cwd = await openCase('short-');
    await writeFile(path.join(cwd, 'berth.toml'), VALID);
    const fromEnv = await berthCli(['check'], { cwd, env: { BLOG_SECRET: 'q' } });
    assert.equal(fromEnv.code, 1);
    assert.match(
      fromEnv.stderr,
      /^berth\.toml:9 sites\[0\]\.webhook\.secret: the webhook secret in environment variable BLOG_SECRET is shorter than 16 characters, so it could be guessed; make a long random one, e\.g\. with `openssl rand -hex 32`/m,
    );
    const served = await berthCli(['serve'], { cwd, env: { BLOG_SECRET: 'q' } });
    assert.equal(served.code, 1);
    assert.match(served.stderr, /shorter than 16 characters.*\[E_CONFIG_SECRET\]\n$/s);

    await writeFile(path.join(cwd, 'berth.toml'), SECRET_FILE);
    await writeFile(path.join(cwd, 'hook-secret'), 'q\n');
    const fromFile = await berthCli(['check'], { cwd });
    assert.equal(fromFile.code, 1);
    assert.match(fromFile.stderr, /sites\[0\]\.webhook\.secret_file: the webhook secret in secret_file \S+hook-secret is shorter than 16 characters/);

    await writeFile(path.join(cwd, 'berth.toml'), VALID.replace('"${BLOG_SECRET}"', '"q"'));
    const literal = await berthCli(['check'], { cwd });
    assert.equal(literal.code, 1);
    assert.match(literal.stderr, /sites\[0\]\.webhook\.secret: the webhook secret written in the config file is shorter than 16 characters/);
    for (const run of [fromEnv, fromFile, literal]) {
      assert.equal(run.stdout, '');
      assert.doesNotMatch(run.stderr, /\bq\b/);
      assert.doesNotMatch(run.stderr, NO_STACK);
    }

    // Sixteen characters are enough.
    const enough = await berthCli(['check'], { cwd, env: { BLOG_SECRET: 'q'.repeat(16) } });
    assert.equal(enough.code, 1, 'the literal one is still in the file');
    await writeFile(path.join(cwd, 'berth.toml'), VALID);
    assert.equal((await berthCli(['check'], { cwd, env: { BLOG_SECRET: 'q'.repeat(16) } })).code, 0);
  });
});
