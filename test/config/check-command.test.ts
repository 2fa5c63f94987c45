import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import check from '../../src/cli/commands/check.ts';

const SECRET = 'do-not-print-this-9f8e7d';

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

  it('reports an unresolvable secret without printing any secret', async () => {
    const { code, stderr } = await runCheck({ toml: VALID });
    assert.equal(code, 1);
    assert.match(stderr, /berth\.toml:9 sites\[0\]\.webhook\.secret: environment variable BLOG_SECRET is not set/);
  });

  it('says how to get a config when there is none', async () => {
    const { code, stdout, stderr } = await runCheck();
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /not found; pass --config <file>, set BERTH_CONFIG, or copy the example in docs\/configuration.md/);
  });

  it('reads the file named by --config, relative to the working directory', async () => {
    const cwd = await mkdtemp(path.join(root, 'flag-'));
    await writeFile(path.join(cwd, 'other.toml'), VALID);
    const { code, stdout } = await runCheck({ cwd, config: 'other.toml', env: { BLOG_SECRET: 'x' } });
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`Config ${path.join(cwd, 'other.toml')} is valid`));
  });

  it('falls back to $BERTH_CONFIG when there is no ./berth.toml', async () => {
    const elsewhere = await mkdtemp(path.join(root, 'env-'));
    const file = path.join(elsewhere, 'berth.toml');
    await writeFile(file, VALID);
    const { code, stdout } = await runCheck({ env: { BERTH_CONFIG: file, BLOG_SECRET: 'x' } });
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`Config ${file} is valid`));
  });

  it('runs from the command line with the same exit codes', async () => {
    const cwd = await mkdtemp(path.join(root, 'cli-'));
    await writeFile(path.join(cwd, 'berth.toml'), VALID);
    const main = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
    const run = promisify(execFile);
    const ok = await run(process.execPath, [main, 'check'], { cwd, env: { BLOG_SECRET: 'x', PATH: process.env.PATH } });
    assert.match(ok.stdout, /is valid/);
    await assert.rejects(run(process.execPath, [main, 'check', '--config', 'missing.toml'], { cwd, env: { PATH: process.env.PATH } }), (error: unknown) => {
      assert.equal((error as { code?: number }).code, 1);
      assert.match((error as { stderr?: string }).stderr ?? '', /missing\.toml not found/);
      return true;
    });
  });
});
