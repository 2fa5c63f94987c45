/**
 * The servers under test, each started from a config written into the run's
 * temp dir, on its own loopback ports, serving the same files with the same
 * certificate. A "typical production" config for each: what a careful
 * operator would deploy, nothing tuned for this benchmark alone. Besides
 * nginx, Caddy and Berth, the bare Node server (bench/bare-node-server.ts):
 * the ceiling of Node's HTTP stack, so the tables show how much of it Berth
 * keeps.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { get } from './client.ts';
import { cmdline, run, startTracked, stopTracked, waitForPorts, type Tracked } from './proc.ts';

export interface BenchContext {
  /** Repository root (where src/cli/main.ts lives). */
  root: string;
  /** The run's temp dir. */
  tmp: string;
  /** Directory with the benchmark site (identity files only): what Berth publishes, compressing it itself. */
  siteDir: string;
  /**
   * The same files with `.br` and `.gz` sidecars beside each compressible one,
   * made by Berth's own compressor (src/releases/compress.ts), so nginx, Caddy
   * and the bare server send the very bytes Berth's publish stores.
   */
  staticDir: string;
  certFile: string;
  keyFile: string;
  logDir: string;
  /** The Node binary that runs Berth (the pinned one). */
  node: string;
}

/** How one start of a server differs from the plain one. */
export interface StartOptions {
  /** Each server's own default access log, to a file in its dir (on for the logging row only). */
  accessLog?: boolean;
  /** `taskset -c` CPU list the server and everything it starts are confined to. */
  cpus?: string;
}

export interface Running {
  name: ServerName;
  /** The process whose tree is measured (Berth: the serve process itself). */
  proc: Tracked;
  httpPort: number;
  httpsPort: number;
  /** Where its access log goes when StartOptions.accessLog is on. */
  accessLogFile?: string;
  stop(): Promise<void>;
}

/**
 * `berth` is Berth with `workers = "auto"` (one serving process per core);
 * `berth-before` the same, run from the source of an earlier commit (see
 * baseline.ts); `bare` the bare Node server.
 */
export type ServerName = 'nginx' | 'caddy' | 'berth' | 'berth-before' | 'bare';

/** The servers that are Berth, whichever commit they run. */
export function isBerth(name: ServerName): boolean {
  return name === 'berth' || name === 'berth-before';
}

export interface ServerSpec {
  name: ServerName;
  label: string;
  httpPort: number;
  httpsPort: number;
  start(ctx: BenchContext, o?: StartOptions): Promise<Running>;
}

/** Debian's libnginx-mod-http-brotli-static, when installed (bench/setup.sh tries to). */
export const NGINX_BROTLI_MODULE = '/usr/lib/nginx/modules/ngx_http_brotli_static_module.so';

export function nginxHasBrotli(): boolean {
  return existsSync(NGINX_BROTLI_MODULE);
}

/** Runs `cmd args` confined to `cpus` (taskset execs it: the pid stays the server's). */
function pinned(cpus: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpus === undefined ? [cmd, args] : ['taskset', ['-c', cpus, cmd, ...args]];
}

export function nginxConfig(ctx: BenchContext, httpPort: number, httpsPort: number, o: StartOptions & { brotli: boolean } = { brotli: false }): string {
  const dir = join(ctx.tmp, 'nginx');
  return `# Written by bench/lib/servers.ts for one benchmark run.
${o.brotli ? `load_module ${NGINX_BROTLI_MODULE};\n` : ''}worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    ${o.accessLog ? `access_log ${dir}/access.log;` : 'access_log off;'}
    server_tokens off;

    # The .gz (and .br) sidecars beside the files, sent when accepted.
    gzip_static on;
    ${o.brotli ? 'brotli_static on;' : '# brotli_static: libnginx-mod-http-brotli-static is not installed'}

    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    # Go's and Node's servers put no cap on requests per connection; nginx's
    # default of 1000 would make wrk reconnect (and redo TLS) every second.
    keepalive_requests 100000;

    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;

    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 1d;

    server {
        listen 127.0.0.1:${httpPort} default_server;
        listen 127.0.0.1:${httpsPort} ssl http2 default_server;
        server_name localhost 127.0.0.1;

        ssl_certificate ${ctx.certFile};
        ssl_certificate_key ${ctx.keyFile};

        root ${ctx.staticDir};
        index index.html;

        location / {
            try_files $uri $uri/ =404;
        }
    }
}
`;
}

export function caddyfile(ctx: BenchContext, httpPort: number, httpsPort: number, o: StartOptions = {}): string {
  const dir = join(ctx.tmp, 'caddy');
  // Caddy logs no requests unless a site has `log`; its default format is JSON.
  const log = o.accessLog ? `\n\tlog {\n\t\toutput file ${dir}/access.log\n\t}` : '';
  return `# Written by bench/lib/servers.ts for one benchmark run.
{
	admin off
	# The certificate is given below; no ACME, no HTTP->HTTPS redirect.
	auto_https off
	storage file_system {
		root ${dir}/data
	}
	log {
		output discard
	}
	servers {
		protocols h1 h2
	}
}

http://127.0.0.1:${httpPort}, http://localhost:${httpPort} {
	bind 127.0.0.1
	root * ${ctx.staticDir}
	file_server {
		precompressed br gzip
	}${log}
}

https://127.0.0.1:${httpsPort}, https://localhost:${httpsPort} {
	bind 127.0.0.1
	tls ${ctx.certFile} ${ctx.keyFile}
	root * ${ctx.staticDir}
	file_server {
		precompressed br gzip
	}${log}
}
`;
}

export function berthConfig(ctx: BenchContext, name: ServerName, httpPort: number, httpsPort: number, o: StartOptions = {}): string {
  return `# Written by bench/lib/servers.ts for one benchmark run.
data_dir = "${join(ctx.tmp, name, 'data')}"

[server]
host = "127.0.0.1"
http_port = ${httpPort}
https_port = ${httpsPort}
# Berth's default access log is one JSON line per request on stdout, which the benchmark sends to a file.
access_log = ${o.accessLog ? 'true' : 'false'}
workers = "auto"
# Within the harness's 5 s grace before SIGKILL, so a slow drain shows up as a late exit, not a kill.
shutdown_timeout = "3s"
# nginx and Caddy serve the site on plain HTTP too; with a certificate given, Berth would redirect.
https_redirect = false

[server.tls]
cert_file = "${ctx.certFile}"
key_file = "${ctx.keyFile}"

[acme]
directory = "off"

[[sites]]
name = "bench"
domains = ["localhost", "127.0.0.1"]
`;
}

export function berthConfigPath(ctx: BenchContext, name: ServerName): string {
  return join(ctx.tmp, name, 'berth.toml');
}

/**
 * `berth publish <dir> --site bench` with the Berth whose source is at
 * `source` (the repository's own by default); resolves with the command's
 * result.
 */
export function berthPublish(ctx: BenchContext, name: ServerName, dir: string, source = ctx.root): ReturnType<typeof run> {
  return run(ctx.node, [join(source, 'src/cli/main.ts'), 'publish', dir, '--site', 'bench', '--config', berthConfigPath(ctx, name)], {
    cwd: source,
    timeoutMs: 60_000,
  });
}

/**
 * Waits until Berth has loaded its sites: its ports open before the releases
 * are read, and until then a site answers 503 and /_berth/health says
 * "starting". Each serving process loads on its own, so it takes `streak`
 * healthy answers in a row, each on a new connection (which the kernel or
 * the primary hands to any of them).
 */
export async function waitBerthReady(port: number, timeoutMs = 60_000, streak = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let inRow = 0;
  let last = '';
  while (inRow < streak) {
    if (performance.now() > deadline) throw new Error(`Berth on port ${port} was not ready after ${timeoutMs} ms (last answer: ${last})`);
    try {
      const r = await get(`http://127.0.0.1:${port}/_berth/health`, { headers: { connection: 'close' }, timeoutMs: 5000 });
      last = `${r.status} ${r.body.toString('utf8').trim().slice(0, 100)}`;
      inRow = r.status === 200 ? inRow + 1 : 0;
    } catch (err) {
      last = (err as Error).message;
      inRow = 0;
    }
    if (inRow === 0) await sleep(100);
  }
}

function wrap(name: ServerName, proc: Tracked, httpPort: number, httpsPort: number, accessLogFile?: string): Running {
  return { name, proc, httpPort, httpsPort, accessLogFile, stop: () => stopTracked(proc) };
}

/** A log file name per kind of start, so the logging row's log is its own. */
function logName(name: ServerName, o: StartOptions): string {
  return `${name}${o.cpus !== undefined ? '-pinned' : ''}${o.accessLog ? '-logged' : ''}`;
}

/**
 * Berth run from the source tree at `source` (the repository's own when
 * undefined): published and started the same way whatever the commit, so
 * an earlier commit's Berth is measured exactly as the current one is.
 */
function berthServer(name: 'berth' | 'berth-before', label: string, httpPort: number, httpsPort: number, source?: string): ServerSpec {
  return {
    name,
    label,
    httpPort,
    httpsPort,
    async start(ctx, o = {}) {
      const root = source ?? ctx.root;
      const dir = join(ctx.tmp, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(berthConfigPath(ctx, name), berthConfig(ctx, name, this.httpPort, this.httpsPort, o));
      const pub = await berthPublish(ctx, name, ctx.siteDir, root);
      if (pub.code !== 0) throw new Error(`${label}: berth publish failed (exit ${pub.code}):\n${pub.stderr || pub.stdout}`);
      // Spawn the Node binary itself (no npm wrapper) so the pid is the server's.
      const logAs = logName(name, o);
      const proc = startTracked(
        logAs,
        ...pinned(o.cpus, ctx.node, [join(root, 'src/cli/main.ts'), 'serve', '--config', berthConfigPath(ctx, name)]),
        ctx.logDir,
        { cwd: root },
      );
      await waitForPorts(proc, [this.httpPort, this.httpsPort], 30_000);
      const cl = cmdline(proc.pid);
      if (!cl.includes('main.ts') || !cl.includes('serve')) throw new Error(`pid ${proc.pid} is not berth serve: ${cl}`);
      await waitBerthReady(this.httpPort);
      return wrap(name, proc, this.httpPort, this.httpsPort, join(ctx.logDir, `${logAs}.log`));
    },
  };
}

/** Berth from the source tree at `source` (an earlier commit's), on ports of its own. */
export function berthBefore(label: string, source: string): ServerSpec {
  return berthServer('berth-before', label, 18580, 18943, source);
}

export const SERVERS: ServerSpec[] = [
  {
    name: 'nginx',
    label: 'nginx',
    httpPort: 18180,
    httpsPort: 18543,
    async start(ctx, o = {}) {
      const dir = join(ctx.tmp, 'nginx');
      mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o755 });
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(ctx, this.httpPort, this.httpsPort, { ...o, brotli: nginxHasBrotli() }));
      const test = await run('nginx', ['-t', '-q', '-p', dir, '-c', conf], { timeoutMs: 20_000 });
      if (test.code !== 0) throw new Error(`nginx -t failed: ${test.stderr}`);
      // SIGQUIT is nginx's graceful shutdown.
      const proc = startTracked(logName('nginx', o), ...pinned(o.cpus, 'nginx', ['-p', dir, '-c', conf]), ctx.logDir, {}, 'SIGQUIT');
      await waitForPorts(proc, [this.httpPort, this.httpsPort]);
      return wrap('nginx', proc, this.httpPort, this.httpsPort, join(dir, 'access.log'));
    },
  },
  {
    name: 'caddy',
    label: 'Caddy',
    httpPort: 18280,
    httpsPort: 18643,
    async start(ctx, o = {}) {
      const dir = join(ctx.tmp, 'caddy');
      mkdirSync(join(dir, 'home'), { recursive: true });
      const conf = join(dir, 'Caddyfile');
      writeFileSync(conf, caddyfile(ctx, this.httpPort, this.httpsPort, o));
      const env = {
        ...process.env,
        HOME: join(dir, 'home'),
        XDG_CONFIG_HOME: join(dir, 'home', 'config'),
        XDG_DATA_HOME: join(dir, 'home', 'data'),
      };
      const check = await run('caddy', ['validate', '--config', conf, '--adapter', 'caddyfile'], { env, timeoutMs: 30_000 });
      if (check.code !== 0) throw new Error(`caddy validate failed: ${check.stderr || check.stdout}`);
      const proc = startTracked(logName('caddy', o), ...pinned(o.cpus, 'caddy', ['run', '--config', conf, '--adapter', 'caddyfile']), ctx.logDir, { env });
      await waitForPorts(proc, [this.httpPort, this.httpsPort]);
      return wrap('caddy', proc, this.httpPort, this.httpsPort, join(dir, 'access.log'));
    },
  },
  berthServer('berth', 'Berth', 18080, 18443),
  {
    name: 'bare',
    label: 'bare Node',
    httpPort: 18480,
    httpsPort: 18843,
    async start(ctx, o = {}) {
      const dir = join(ctx.tmp, 'bare');
      mkdirSync(dir, { recursive: true });
      const accessLog = join(dir, 'access.log');
      const args = [
        join(ctx.root, 'bench/bare-node-server.ts'),
        '--dir', ctx.staticDir,
        '--http-port', String(this.httpPort),
        '--https-port', String(this.httpsPort),
        '--cert', ctx.certFile,
        '--key', ctx.keyFile,
        ...(o.accessLog ? ['--access-log', accessLog] : []),
      ];
      const proc = startTracked(logName('bare', o), ...pinned(o.cpus, ctx.node, args), ctx.logDir, { cwd: ctx.root });
      await waitForPorts(proc, [this.httpPort, this.httpsPort], 30_000);
      return wrap('bare', proc, this.httpPort, this.httpsPort, accessLog);
    },
  },
];

/** A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1. */
export async function makeCert(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const r = await run(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', '7', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', keyFile, '-out', certFile,
    ],
    { timeoutMs: 30_000 },
  );
  if (r.code !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { certFile, keyFile };
}
