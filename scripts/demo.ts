/**
 * `npm start`: the whole of Berth on this machine, with nothing to configure.
 *
 * Makes (once) a data directory under `.berth/demo/`, a bare git repository
 * seeded from `examples/blog` with Berth's post-receive hook, and a first
 * deploy of it; then runs `berth serve` on localhost until Ctrl-C. A second
 * run reuses all of it. Pushing to the repository deploys.
 *
 * BERTH_DEMO_DIR, BERTH_DEMO_HTTP_PORT and BERTH_DEMO_HTTPS_PORT move it
 * (the end-to-end test runs it in a temporary directory on free ports).
 */
import { spawn, execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { installPostReceiveHook } from '../src/deploy/post-receive-hook.ts';
import { runningServerPid } from '../src/state/data-dir-lock.ts';

const run = promisify(execFile);

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'src', 'cli', 'main.ts');

export interface DemoPaths {
  /** Everything the demo makes lives here. */
  dir: string;
  config: string;
  repo: string;
  source: string;
}

export function demoPaths(dir = join(ROOT, '.berth', 'demo')): DemoPaths {
  return { dir, config: join(dir, 'berth.toml'), repo: join(dir, 'blog.git'), source: join(ROOT, 'examples', 'blog') };
}

/** The dashboard's host in the demo. */
export const DEMO_ADMIN_DOMAIN = 'admin.localhost';
/** The admin the demo makes, who signs in with the one-time link printed at each start. */
export const DEMO_ADMIN = 'demo';

export interface DemoPorts {
  http: number;
  https: number;
}

function configText(ports: DemoPorts): string {
  return `# Written by \`npm start\` (scripts/demo.ts) for the local demo; rewritten at every start.
data_dir = "data"

[server]
host = "127.0.0.1"
http_port = ${ports.http}
https_port = ${ports.https}
access_log = false

[acme]
# Local only: a self-signed certificate, no certificate authority.
directory = "off"

[admin]
# The dashboard: browsers send *.localhost to this machine.
domain = "${DEMO_ADMIN_DOMAIN}"

[[sites]]
name = "blog"
domains = ["localhost", "127.0.0.1"]
repo = "blog.git"
branch = "main"
`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function git(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('git', args, { cwd, env: { ...process.env, GIT_AUTHOR_NAME: 'Berth demo', GIT_AUTHOR_EMAIL: 'demo@localhost', GIT_COMMITTER_NAME: 'Berth demo', GIT_COMMITTER_EMAIL: 'demo@localhost' } });
  return stdout.trim();
}

/** The bare repository, seeded from examples/blog on first use. Returns whether it was made now. */
async function ensureRepository(paths: DemoPaths): Promise<boolean> {
  if (await exists(join(paths.repo, 'HEAD'))) return false;
  await mkdir(paths.repo, { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main'], paths.repo);
  const work = await mkdtemp(join(tmpdir(), 'berth-demo-seed-'));
  try {
    const skip = new Set(['node_modules', 'dist', '.astro']);
    await cp(paths.source, work, { recursive: true, filter: (from) => !skip.has(relative(paths.source, from).split('/')[0] ?? '') });
    await git(['init', '--quiet', '--initial-branch=main'], work);
    await git(['add', '--all'], work);
    await git(['commit', '--quiet', '-m', 'Start the blog from the Berth starter'], work);
    await git(['push', '--quiet', paths.repo, 'main'], work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return true;
}

/** Runs the CLI with its output shown; resolves with the exit code. */
function berth(args: string[]): Promise<number> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolveRun(code ?? (signal === null ? 1 : 130)));
  });
}

/**
 * A one-time sign-in link for the demo's admin, made now (the admin too, on
 * the first start) with `berth admin`, which writes state.db as the server's
 * user. Links last 15 minutes and work once, so every start prints a fresh one.
 */
async function demoSignInLink(paths: DemoPaths): Promise<string> {
  const { stdout: list } = await run(process.execPath, [CLI, 'admin', 'list', '--config', paths.config]);
  const exists = list.split('\n').some((line) => line.split(/\s+/)[0] === DEMO_ADMIN);
  const { stdout } = await run(process.execPath, [CLI, 'admin', exists ? 'link' : 'add', DEMO_ADMIN, '--config', paths.config]);
  const link = /https?:\/\/\S+\/_berth\/sign-in\?token=[A-Za-z0-9_-]+/.exec(stdout)?.[0];
  if (link === undefined) throw new Error(`berth admin printed no link:\n${stdout}`);
  return link;
}

/** Whether the site has a live release already (a second start deploys nothing). */
async function hasLiveRelease(paths: DemoPaths): Promise<boolean> {
  return exists(join(paths.dir, 'data', 'sites', 'blog', 'current'));
}

/** The block printed once the server serves the blog. */
export function instructions(paths: DemoPaths, ports: DemoPorts, signIn: string): string {
  // Short paths when the demo lives under the current directory (`npm start` from the project).
  const shown = (path: string): string => {
    const near = relative(process.cwd(), path);
    return near === '' || near.startsWith('..') ? path : near;
  };
  const config = shown(paths.config);
  return [
    '',
    'Berth is serving the starter blog:',
    `  http://localhost:${ports.http}/`,
    `  https://localhost:${ports.https}/   (self-signed certificate: your browser will ask)`,
    '',
    `Repository: ${paths.repo}`,
    '',
    'Try a push-to-deploy, in another terminal:',
    // Into the home directory: a clone made where `npm start` ran would land inside Berth's checkout.
    `  git clone ${paths.repo} ~/my-blog && cd ~/my-blog`,
    '  $EDITOR src/content/blog/welcome.md     # change a line',
    '  git commit -am "Edit a post" && git push   # the push shows the deploy; reload the page',
    '',
    'And a rollback:',
    `  npm run berth -- rollback --site blog --config ${config}`,
    '',
    'The dashboard (deploys, live logs, rollback), for the admin "demo":',
    `  https://${DEMO_ADMIN_DOMAIN}:${ports.https}/   (the same self-signed certificate)`,
    `  sign in once with ${signIn}`,
    `  (works once, for 15 minutes; a new link: npm run berth -- admin link ${DEMO_ADMIN} --config ${config})`,
    '',
    'Ctrl-C stops the server. A second `npm start` reuses all of this.',
    '',
  ].join('\n');
}

export async function startDemo(paths = demoPaths(), ports: DemoPorts = { http: 8080, https: 8443 }): Promise<number> {
  // Asked before anything is written: a second start must not rewrite the running one's config.
  const running = await runningServerPid(join(paths.dir, 'data')).catch(() => undefined);
  if (running !== undefined) {
    process.stderr.write(
      `The demo in ${paths.dir} is already running (berth serve, pid ${running}); stop it with Ctrl-C in its terminal first, or set BERTH_DEMO_DIR to run a second demo elsewhere (see the README)\n`,
    );
    return 1;
  }
  await mkdir(paths.dir, { recursive: true });
  await writeFile(paths.config, configText(ports));
  const made = await ensureRepository(paths);
  if (made) process.stderr.write(`Made the repository ${paths.repo} from examples/blog\n`);
  await installPostReceiveHook({ repoPath: paths.repo, site: 'blog', branch: 'main', configPath: paths.config, node: process.execPath, cli: CLI, force: false });
  if (!(await hasLiveRelease(paths))) {
    process.stderr.write('First deploy of the blog (installs its packages and builds it; a minute or two the first time)\n');
    const code = await berth(['deploy', '--site', 'blog', '--config', paths.config]);
    if (code !== 0) {
      process.stderr.write(`The first deploy failed (exit ${code}); its log is above. Fix the cause and run \`npm start\` again.\n`);
      return code;
    }
  }
  const server = spawn(process.execPath, [CLI, 'serve', '--config', paths.config], { stdio: ['ignore', 'pipe', 'inherit'] });
  // Passed on to the server, which stops gracefully (Ctrl-C in a terminal
  // reaches it directly as well; a second signal during its stop is harmless).
  const forward = (signal: NodeJS.Signals): void => {
    server.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let shown = false;
  let buffered = '';
  server.stdout.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    if (shown) return;
    buffered += chunk.toString();
    // Ports open before the release loads (a 503 meanwhile): say "serving" once a worker has loaded it.
    if (buffered.includes('"msg":"sites ready"')) {
      shown = true;
      buffered = '';
      void demoSignInLink(paths).then(
        (link) => process.stdout.write(instructions(paths, ports, link)),
        (error: unknown) => process.stderr.write(`Cannot make the demo admin's sign-in link: ${error instanceof Error ? error.message : String(error)}\n`),
      );
    }
  });
  return new Promise((resolveExit) => {
    server.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolveExit(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

if (import.meta.main) {
  const [http, https] = [process.env.BERTH_DEMO_HTTP_PORT, process.env.BERTH_DEMO_HTTPS_PORT].map((value, index) => (value === undefined ? [8080, 8443][index] : Number(value)));
  process.exitCode = await startDemo(demoPaths(process.env.BERTH_DEMO_DIR === undefined ? undefined : resolve(process.env.BERTH_DEMO_DIR)), { http: http ?? 8080, https: https ?? 8443 });
}

