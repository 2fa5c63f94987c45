/**
 * `berth init` as a separate process: standard input a pipe (a script), and
 * a pseudo-terminal made by util-linux `script` (a person typing).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load-config.ts';
import { tempDir } from '../helpers/temp.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function childEnv(): NodeJS.ProcessEnv {
  const dropped = new Set(['BERTH_CONFIG', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'FORCE_COLOR', 'NO_COLOR']);
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
}

async function spawnInit(cwd: string, command: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd, env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('berth init with standard input a pipe', () => {
  it('asks nothing: a missing --domain or --repo exits 2 naming the option, even with answers on stdin', async (t) => {
    const dir = await tempDir(t);
    const noDomain = await spawnInit(dir, process.execPath, [MAIN, 'init', '--repo', 'https://github.com/you/blog.git'], 'example.com\n');
    assert.equal(noDomain.code, 2);
    assert.equal(noDomain.stdout, '');
    assert.match(noDomain.stderr, /^berth init: Missing --domain DOMAIN.*\[E_USAGE\]\n\nUsage: berth init/);
    const noRepo = await spawnInit(dir, process.execPath, [MAIN, 'init', '--domain', 'example.com'], '');
    assert.equal(noRepo.code, 2);
    assert.match(noRepo.stderr, /Missing --repo URL/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('with every answer as an option, writes a config that loads', async (t) => {
    const dir = await tempDir(t);
    const run = await spawnInit(dir, process.execPath, [MAIN, 'init', '--domain', 'example.com', '--repo', 'https://github.com/you/blog.git', '--data-dir', 'data'], '');
    assert.equal(run.code, 0, run.stderr);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.sites[0]?.name, 'example-com');
    assert.ok(run.stdout.includes(config.sites[0]?.webhook?.secret.reveal() ?? 'no secret'));
    assert.doesNotMatch(run.stdout, /\u001b\[/, 'no terminal escapes when output is not a terminal'); // eslint-disable-line no-control-regex
  });

  it('--help explains the options', async (t) => {
    const dir = await tempDir(t);
    const run = await spawnInit(dir, process.execPath, [MAIN, 'init', '--help'], '');
    assert.equal(run.code, 0);
    for (const option of ['--domain', '--repo', '--branch', '--forge', '--email', '--admin-domain', '--site', '--config', '--data-dir', '--force', '--yes']) {
      assert.ok(run.stdout.includes(option), option);
    }
    assert.match(run.stdout, /printed once/);
    assert.match(run.stdout, /existing secret file is kept and reused/);
  });
});

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).stdout?.includes('util-linux') === true;

describe('berth init on a pseudo-terminal', { skip: hasScript ? false : 'util-linux `script` is not installed' }, () => {
  it('asks for each answer, takes the defaults, and writes a config that loads', async (t) => {
    const dir = await tempDir(t);
    const answers = ['blog.example.org', '', 'git@gitlab.com:you/blog.git', '', 'release', '', 'ops@example.org', ''].join('\n');
    const command = [process.execPath, MAIN, 'init', '--data-dir', 'data'].map((word) => `'${word}'`).join(' ');
    const run = await spawnInit(dir, 'script', ['-qfec', command, '/dev/null'], answers);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    // Through a terminal, prompts and output arrive together on script's stdout.
    assert.match(run.stdout, /Forge \(github, gitlab, gitea, forgejo, bitbucket, generic\) \[gitlab\]: /);
    assert.match(run.stdout, /Dashboard host name, e\.g\. berth\.blog\.example\.org \(Enter for none\): /);
    assert.match(run.stdout, /Branch to deploy \[main\]: /);
    assert.match(run.stdout, /Site name \[blog-example-org\]: /);
    assert.match(run.stdout, /Secret token: +[0-9a-f]{64}/);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    const site = config.sites[0];
    assert.equal(site?.name, 'blog-example-org');
    assert.deepEqual(site?.domains, ['blog.example.org']);
    assert.equal(site?.repo, 'git@gitlab.com:you/blog.git');
    assert.equal(site?.branch, 'release');
    assert.equal(site?.webhook?.forge, 'gitlab');
    assert.equal(config.acme.email, 'ops@example.org');
    assert.equal(config.admin.domain, undefined);
    const secretFile = join(dir, 'secrets', 'blog-example-org-webhook-secret');
    assert.equal((await stat(secretFile)).mode & 0o777, 0o600);
    assert.equal(site?.webhook?.secret.reveal(), (await readFile(secretFile, 'utf8')).trim());
  });
});
