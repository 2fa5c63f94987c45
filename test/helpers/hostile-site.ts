/**
 * Hostile repositories, deployed for real: a git repository with what a
 * repository or its dependencies can commit or do, and `berth deploy` as a
 * separate process (as root, as in production), the build running as the
 * unprivileged user Berth picks.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { git } from './git.ts';
import { assertNoSecretUnder, assertNotQuoted, type SecretFile } from './secret-file.ts';
import { deployConfig } from './deploy-config.ts';
import { tempDir, writeTree } from './temp.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Bounds every `berth deploy`: a hang is a failure, not a stuck test run. */
const DEPLOY_TIMEOUT_MS = 120_000;

export interface Hostile {
  root: string;
  config: string;
  dataDir: string;
  siteName: string;
}

/**
 * A site whose repository holds `files` and `links` (committed as symbolic
 * links, as git stores them), and a server config for it.
 */
export async function hostileSite(t: TestContext, files: Record<string, string>, links: Record<string, string> = {}): Promise<Hostile> {
  const root = await tempDir(t, 'berth-hostile-');
  // Builds run as an unprivileged user, who must be able to enter the data dir.
  await chmod(root, 0o755);
  const bare = join(root, 'origin.git');
  const work = join(root, 'work');
  git(root, 'init', '--bare', bare);
  git(root, 'init', work);
  await writeTree(work, files);
  for (const [path, target] of Object.entries(links)) {
    await mkdir(join(work, path, '..'), { recursive: true });
    await symlink(target, join(work, path));
  }
  git(work, 'add', '-A');
  git(work, 'commit', '-m', 'hostile');
  git(work, 'push', bare, 'HEAD:refs/heads/main');
  const config = join(root, 'berth.toml');
  // A name of its own: builds of different sites run as different uids, so no other test's build shares this one's.
  const siteName = `hostile-${randomBytes(4).toString('hex')}`;
  await writeFile(config, deployConfig({ site: siteName, repo: bare }));
  return { root, config, dataDir: join(root, 'data'), siteName };
}

export interface Deployed {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function deploy(site: Hostile): Deployed {
  const result = spawnSync(process.execPath, [cli, 'deploy', '--config', site.config], {
    cwd: site.root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: DEPLOY_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  assert.equal(result.error, undefined, `berth deploy ended by itself (${String(result.error)}); stderr: ${result.stderr}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The deploy failed with `code` and a message matching `message`, and nothing of the secret is anywhere. */
export async function assertRefused(site: Hostile, result: Deployed, code: string, message: RegExp, secret?: SecretFile): Promise<void> {
  assert.equal(result.status, 1, `the deploy fails; stdout: ${result.stdout}; stderr: ${result.stderr}`);
  const last = result.stderr.split('\n').find((line) => line.startsWith('berth deploy: deploy ')) ?? '';
  assert.ok(last.endsWith(`[${code}]`), `failed with ${code}: ${last}`);
  assert.match(last, message);
  assert.deepEqual(await releases(site), [], 'no release was published');
  if (secret !== undefined) {
    assertNotQuoted(result.stdout + result.stderr, secret);
    // The deploy log, state.db and every release and object under the data dir.
    await assertNoSecretUnder(site.dataDir, secret);
  }
}

export async function releases(site: Hostile): Promise<string[]> {
  return readdir(join(site.dataDir, 'sites', site.siteName, 'releases')).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
}

/** A berth.toml that builds `out/` with `steps` (shell, run as the build user) after writing an index page. */
export function building(steps: string): Record<string, string> {
  return {
    'berth.toml': `[build]\ncommand = ${JSON.stringify(`mkdir -p out && echo '<h1>hi</h1>' > out/index.html && ${steps}`)}\npublish = "out"\n`,
  };
}

export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

export function killIfAlive(pid: string | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(Number(pid), 'SIGKILL');
  } catch {
    // gone already, as it should be
  }
}
