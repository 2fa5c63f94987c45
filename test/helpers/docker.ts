import { execFile, spawn } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { appendFile, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { onCleanup } from './cleanup.ts';
import { freePort } from './pebble.ts';

/**
 * Docker for the image and guide tests (test/image/), on the engine that
 * scripts/image/setup.sh installs and starts. This engine has no BuildKit
 * plugin, so builds use the classic builder.
 */

export const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const BASE_TAG = 'node:24-bookworm-slim';

export async function docker(args: string[], timeoutMs = 30 * 60_000): Promise<string> {
  const { stdout } = await run('docker', args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return stdout.trim();
}

/**
 * The stand-in for the official base image for `arch` (made once by
 * scripts/image/base-image.sh and kept as berth-base:<arch>), tagged with
 * the name deploy/Dockerfile builds FROM.
 */
export async function useBaseImage(arch: 'amd64' | 'arm64'): Promise<void> {
  const base = `berth-base:${arch}`;
  const have = await docker(['image', 'inspect', '--format', '{{.Architecture}}', base]).catch(() => '');
  if (have !== arch) {
    await run('bash', [join(ROOT, 'scripts/image/base-image.sh'), arch, base], { cwd: ROOT, timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 });
  }
  await docker(['tag', base, BASE_TAG]);
}

/** The default bridge's gateway: the host as containers reach it. */
export async function bridgeGateway(): Promise<string> {
  return (await docker(['network', 'inspect', '--format', '{{(index .IPAM.Config 0).Gateway}}', 'bridge'])) || '172.17.0.1';
}

export async function containerAddress(name: string): Promise<string> {
  return docker(['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]);
}

export async function git(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, GIT_AUTHOR_NAME: 'Guide Test', GIT_AUTHOR_EMAIL: 'guide@example.com', GIT_COMMITTER_NAME: 'Guide Test', GIT_COMMITTER_EMAIL: 'guide@example.com' },
  });
  return stdout.trim();
}

/**
 * A repository holding this checkout's files as they are now (committed or
 * not, ignored files left out) as one commit on main: what the guide's
 * `git clone "$BERTH_GIT_URL"` fetches. Returns the work tree's path.
 */
async function checkoutRepository(dir: string): Promise<string> {
  const files = (await git(['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT)).split('\0').filter((file) => file !== '');
  await mkdir(dir, { recursive: true });
  await git(['init', '--quiet', '--initial-branch=main'], dir);
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(dir, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error; // deleted in the work tree, not yet in the index
    });
  }
  await git(['add', '--all'], dir);
  await git(['commit', '--quiet', '-m', 'Berth'], dir);
  return dir;
}

/** Whether something accepts TCP connections on `host`:`port` now. */
export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolveOpen) => {
    const socket = createConnection({ host, port }, () => {
      socket.destroy();
      resolveOpen(true);
    });
    socket.on('error', () => resolveOpen(false));
  });
}

/**
 * `git daemon` serving every repository under `base` read-only over
 * git://, on `host` (a bridge gateway, so containers fetch from it).
 */
export async function startGitDaemon(t: { after(fn: () => unknown): void }, base: string, host: string): Promise<{ url(name: string): string }> {
  const port = await freePort();
  const child = spawn('git', ['daemon', '--reuseaddr', '--export-all', '--informative-errors', `--base-path=${base}`, `--listen=${host}`, `--port=${port}`, base], { stdio: 'ignore' });
  onCleanup(t, () => {
    child.kill('SIGTERM');
  });
  for (let attempt = 0; ; attempt += 1) {
    const open = await canConnect(host, port);
    if (open) break;
    if (attempt > 100 || child.exitCode !== null) throw new Error(`git daemon did not listen on ${host}:${port}`);
    await sleep(100);
  }
  return { url: (name) => `git://${host}:${port}/${name}` };
}

/**
 * A request over HTTPS to `address` with SNI and Host `host`, verified
 * against `ca`; a GET unless `send` gives a body (then a POST with its headers).
 */
export function getHttps(address: string, port: number, host: string, path: string, ca: string, send?: { headers: Record<string, string>; body: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolveBody, reject) => {
    const method = send === undefined ? 'GET' : 'POST';
    const req = httpsRequest({ method, host: address, port, path, servername: host, headers: { ...send?.headers, host }, ca, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolveBody({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(send?.body);
  });
}

/**
 * The site the guide tests deploy: a bare repository `blog.git` under
 * `base` (served by startGitDaemon) with one plain HTML page, which
 * Berth publishes as it is.
 */
async function makeSiteRepository(base: string): Promise<{ push(heading: string): Promise<string> }> {
  const bare = join(base, 'blog.git');
  const work = join(base, 'blog-work');
  await mkdir(bare, { recursive: true });
  await mkdir(work, { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main'], bare);
  await git(['init', '--quiet', '--initial-branch=main'], work);
  const push = async (heading: string): Promise<string> => {
    await writeFile(join(work, 'index.html'), `<!doctype html><html lang="en"><title>Guide test</title><h1>${heading}</h1></html>\n`);
    await git(['add', '--all'], work);
    await git(['commit', '--quiet', '-m', heading], work);
    await git(['push', '--quiet', bare, 'main'], work);
    return git(['rev-parse', 'HEAD'], work);
  };
  await push('First version');
  return { push };
}

/** What GitHub sends for a push to main of `sha`, signed with `secret` (the fields Berth reads; docs/webhooks.md). */
export function githubPush(sha: string, secret: string): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    before: '0'.repeat(40),
    after: sha,
    repository: { full_name: 'you/blog' },
    head_commit: { id: sha, message: 'A new version', author: { name: 'Guide Test' } },
  });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
  };
}

/** A newer Berth in the repository the guide cloned: a commit that changes the CLI's source (so the image changes too). */
async function commitUpgrade(work: string, bare: string): Promise<string> {
  const marker = `// Upgraded by the guide test ${Date.now()}`;
  await appendFile(join(work, 'src/cli/main.ts'), `${marker}\n`);
  await git(['commit', '--quiet', '--all', '-m', 'A newer Berth'], work);
  await git(['push', '--quiet', bare, 'main'], work);
  return marker;
}

/** What the guide tests clone and deploy, served over git:// on `host`. */
export interface GuideRepositories {
  /** A work tree of Berth as it is now; the guide's `git archive` runs here. */
  readonly berthWork: string;
  url(name: 'berth.git' | 'blog.git'): string;
  /** Pushes a newer Berth (see commitUpgrade); resolves with its marker line. */
  upgradeBerth(): Promise<string>;
  /** Pushes a new version of the site; resolves with its commit. */
  pushSite(heading: string): Promise<string>;
}

export async function serveGuideRepositories(t: { after(fn: () => unknown): void }, root: string, host: string): Promise<GuideRepositories> {
  const repos = join(root, 'git');
  await mkdir(repos);
  const berthWork = await checkoutRepository(join(root, 'berth-work'));
  await git(['clone', '--quiet', '--bare', berthWork, join(repos, 'berth.git')], root);
  const site = await makeSiteRepository(repos);
  const daemon = await startGitDaemon(t, repos, host);
  return {
    berthWork,
    url: (name) => daemon.url(name),
    upgradeBerth: () => commitUpgrade(berthWork, join(repos, 'berth.git')),
    pushSite: (heading) => site.push(heading),
  };
}
