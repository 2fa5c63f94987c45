/**
 * What the deploy benchmark runs: Berth (`berth serve` with sites that
 * deploy from the benchmark's bare repositories), and the traditional stack
 * it replaces: a checkout updated by a shell script, copied into a web root
 * that nginx serves, with adnanh/webhook receiving the pushes. Every config
 * is written here, into the run's temp dir, and every process is tracked
 * (bench/lib/proc.ts) so it is killed when the benchmark ends.
 */
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmdline, portIsOpen, run, startTracked, stopTracked, waitForPorts, type Tracked } from './proc.ts';
import { gitEnv } from './git-site.ts';

export interface DeployBenchContext {
  /** Repository root (where src/cli/main.ts lives). */
  root: string;
  tmp: string;
  logDir: string;
  /** The Node binary that runs Berth. */
  node: string;
}

export const PORTS = { berth: 18380, nginx: 18381, webhook: 18382 } as const;

export interface BerthSiteSpec {
  name: string;
  /** The bare repository it deploys from; none for a site filled by `berth publish`. */
  repo?: string;
  forge?: 'generic' | 'github';
  secret?: string;
}

export function berthDeployConfig(dataDir: string, port: number, sites: BerthSiteSpec[]): string {
  const lines = [
    '# Written by bench/lib/deploy-servers.ts for one deploy benchmark run.',
    `data_dir = ${JSON.stringify(dataDir)}`,
    '',
    '[server]',
    'host = "127.0.0.1"',
    `http_port = ${port}`,
    'https_port = false',
    'access_log = false',
    'shutdown_timeout = "3s"',
    '',
    '[acme]',
    'directory = "off"',
  ];
  for (const s of sites) {
    lines.push('', '[[sites]]', `name = ${JSON.stringify(s.name)}`, 'domains = ["localhost", "127.0.0.1"]');
    if (s.repo === undefined) continue;
    lines.push(
      `repo = ${JSON.stringify(s.repo)}`,
      'branch = "main"',
      '',
      '[sites.webhook]',
      `forge = "${s.forge ?? 'generic'}"`,
      `secret = ${JSON.stringify(s.secret ?? '')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export interface DeployRecordLite {
  id: string;
  site: string;
  trigger: string;
  delivery?: string;
  sha?: string;
  state: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  phases: { queued?: number; fetch?: number; build?: number; publish?: number; smoke?: number };
  buildSource?: string;
  errorCode?: string;
  errorMessage?: string;
}

export interface BerthRunning {
  proc: Tracked;
  port: number;
  configFile: string;
  dataDir: string;
  url(path: string): string;
  hookUrl(site: string): string;
  /** `berth deploys --json` for the site, newest first. */
  deploys(site: string, limit?: number): Promise<DeployRecordLite[]>;
  /** No deploy is checking out or building: the site's work dir is empty. */
  idle(site: string): boolean;
  stop(): Promise<void>;
}

/** A deploy's work dir is named by its id (src/deploy/work-dir.ts); anything else under work/ is not a deploy in progress. */
const DEPLOY_WORK_DIR = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/** Starts `berth serve` (the Node binary itself, so the pid is the server's) on a fresh data dir, and waits for its port. */
export async function startBerth(ctx: DeployBenchContext, name: string, sites: BerthSiteSpec[]): Promise<BerthRunning> {
  const port = PORTS.berth;
  if (await portIsOpen(port)) throw new Error(`port ${port} is already taken; is an old benchmark still running?`);
  const dir = join(ctx.tmp, name);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const configFile = join(dir, 'berth.toml');
  writeFileSync(configFile, berthDeployConfig(dataDir, port, sites));
  const cli = join(ctx.root, 'src/cli/main.ts');
  const check = await run(ctx.node, [cli, 'check', '--config', configFile], { cwd: ctx.root, timeoutMs: 60_000 });
  if (check.code !== 0) throw new Error(`berth check failed:\n${check.stdout}${check.stderr}`);
  const berth = spawnBerth(ctx, name, configFile, dataDir);
  await waitForPorts(berth.proc, [port], 30_000);
  berth.checkPid();
  return berth;
}

/**
 * `berth serve` on an existing config and data dir, returned as soon as it
 * is spawned: a restart is timed from here. The port must be free.
 */
export function spawnBerth(ctx: DeployBenchContext, name: string, configFile: string, dataDir: string): BerthRunning & { checkPid(): void } {
  const port = PORTS.berth;
  const cli = join(ctx.root, 'src/cli/main.ts');
  const proc = startTracked(name, ctx.node, [cli, 'serve', '--config', configFile], ctx.logDir, { cwd: ctx.root });
  return {
    proc,
    port,
    configFile,
    dataDir,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    hookUrl: (site) => `http://127.0.0.1:${port}/_berth/hooks/${site}`,
    async deploys(site, limit = 100) {
      const r = await run(ctx.node, [cli, 'deploys', '--config', configFile, '--site', site, '--json', '--limit', String(limit)], {
        cwd: ctx.root,
        timeoutMs: 60_000,
      });
      if (r.code !== 0) throw new Error(`berth deploys failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as DeployRecordLite[];
    },
    idle(site) {
      try {
        return !readdirSync(join(dataDir, 'sites', site, 'work')).some((e) => DEPLOY_WORK_DIR.test(e));
      } catch {
        return true;
      }
    },
    stop: () => stopTracked(proc),
    checkPid() {
      const cl = cmdline(proc.pid);
      if (!cl.includes('main.ts') || !cl.includes('serve')) throw new Error(`pid ${proc.pid} is not berth serve: ${cl}`);
    },
  };
}

/**
 * nginx as such a stack usually has it: the packaged defaults (sendfile,
 * no open_file_cache, so a file copied over is served at once), one root.
 */
export function nginxDeployConfig(dir: string, port: number, webRoot: string): string {
  return `# Written by bench/lib/deploy-servers.ts for one deploy benchmark run.
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_timeout 65s;

    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;

    server {
        listen 127.0.0.1:${port} default_server;
        server_name localhost 127.0.0.1;
        root ${webRoot};
        index index.html;
        location / {
            try_files $uri $uri/ =404;
        }
    }
}
`;
}

export interface PlainRunning {
  proc: Tracked;
  port: number;
  url(path: string): string;
  stop(): Promise<void>;
}

export async function startNginx(ctx: DeployBenchContext, name: string, webRoot: string): Promise<PlainRunning> {
  const port = PORTS.nginx;
  if (await portIsOpen(port)) throw new Error(`port ${port} is already taken; is an old benchmark still running?`);
  const dir = join(ctx.tmp, name);
  mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o755 });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxDeployConfig(dir, port, webRoot));
  const test = await run('nginx', ['-t', '-q', '-p', dir, '-c', conf], { timeoutMs: 20_000 });
  if (test.code !== 0) throw new Error(`nginx -t failed: ${test.stderr}`);
  const nginx = spawnNginx(ctx, name);
  await waitForPorts(nginx.proc, [port]);
  return nginx;
}

/** nginx on the config startNginx wrote for `name`, returned as soon as it is spawned (a restart is timed from here). */
export function spawnNginx(ctx: DeployBenchContext, name: string, logName = name): PlainRunning {
  const port = PORTS.nginx;
  const dir = join(ctx.tmp, name);
  const proc = startTracked(logName, 'nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], ctx.logDir, {}, 'SIGQUIT');
  return { proc, port, url: (path) => `http://127.0.0.1:${port}${path}`, stop: () => stopTracked(proc) };
}

/**
 * The script behind "git pull && cp -r": update the checkout, copy it into
 * the web root. The glob leaves out dot-files, so `.git` stays out of the
 * web root, as the usual `cp -r dist/* /var/www/html` does.
 */
export function pullCopyScript(): string {
  return `#!/bin/sh
# Written by bench/lib/deploy-servers.ts: the traditional post-receive step.
# $1: the checkout, $2: the web root.
set -e
git -C "$1" pull -q --ff-only
cp -r "$1"/* "$2"/
`;
}

/**
 * The script adnanh/webhook runs for each push: fetch, check out the pushed
 * commit, "build" (sleep), copy into the web root. It appends start, build
 * and end lines to `runLog` so the benchmark can count runs and failures.
 * No lock: this is the script as such setups usually have it.
 */
export function floodScript(runLog: string, webRoot: string, buildSeconds: number): string {
  return `#!/bin/sh
# Written by bench/lib/deploy-servers.ts: the traditional webhook deploy script.
# $1: the pushed commit. Runs in the checkout.
echo "start $1" >> ${JSON.stringify(runLog)}
rc=0
{ git fetch -q origin && git checkout -q -f "$1" && echo "build $1" >> ${JSON.stringify(runLog)} && sleep ${buildSeconds} && cp -r ./* ${JSON.stringify(webRoot)}/; } || rc=$?
echo "end $1 $rc" >> ${JSON.stringify(runLog)}
exit $rc
`;
}

/** hooks.json: GitHub's HMAC-SHA256 signature and the branch must match; the pushed commit is the argument. */
export function hooksJson(script: string, checkout: string, secret: string): string {
  return `${JSON.stringify(
    [
      {
        id: 'deploy',
        'execute-command': script,
        'command-working-directory': checkout,
        'pass-arguments-to-command': [{ source: 'payload', name: 'after' }],
        'trigger-rule': {
          and: [
            { match: { type: 'payload-hmac-sha256', secret, parameter: { source: 'header', name: 'X-Hub-Signature-256' } } },
            { match: { type: 'value', value: 'refs/heads/main', parameter: { source: 'payload', name: 'ref' } } },
          ],
        },
      },
    ],
    null,
    2,
  )}\n`;
}

/** Process groups of webhook runs still alive; killed whole when the benchmark exits. */
const groups = new Set<number>();
let groupsHandler = false;

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

/**
 * adnanh/webhook in a process group of its own. Under a flood it keeps
 * starting scripts; killing its process tree one pid at a time can miss one
 * started (or re-parented) meanwhile, killing the group cannot.
 */
export async function startWebhook(ctx: DeployBenchContext, name: string, hooksFile: string): Promise<PlainRunning> {
  const port = PORTS.webhook;
  if (await portIsOpen(port)) throw new Error(`port ${port} is already taken; is an old benchmark still running?`);
  if (!groupsHandler) {
    groupsHandler = true;
    process.once('exit', () => {
      for (const g of groups) killGroup(g);
    });
  }
  const proc = startTracked(name, 'webhook', ['-ip', '127.0.0.1', '-port', String(port), '-hooks', hooksFile, '-nopanic'], ctx.logDir, {
    env: gitEnv(join(ctx.tmp, 'git-home')),
    detached: true,
  });
  groups.add(proc.pid);
  await waitForPorts(proc, [port]);
  return {
    proc,
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    async stop() {
      await stopTracked(proc);
      killGroup(proc.pid);
      groups.delete(proc.pid);
    },
  };
}

export function writeScript(file: string, text: string): void {
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}
