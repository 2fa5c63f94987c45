/**
 * The three servers under test, each started from a config written into the
 * run's temp dir, on its own loopback ports, serving the same files with the
 * same certificate. A "typical production" config for each: what a careful
 * operator would deploy, nothing tuned for this benchmark alone.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cmdline, run, startTracked, stopTracked, waitForPorts, type Tracked } from './proc.ts';

export interface BenchContext {
  /** Repository root (where src/cli/main.ts lives). */
  root: string;
  /** The run's temp dir. */
  tmp: string;
  /** Directory with the benchmark site (identity files only). */
  siteDir: string;
  certFile: string;
  keyFile: string;
  logDir: string;
  /** The Node binary that runs Berth (the pinned one). */
  node: string;
}

export interface Running {
  name: ServerName;
  /** The process whose memory is reported (Berth: the serve process itself). */
  proc: Tracked;
  httpPort: number;
  httpsPort: number;
  stop(): Promise<void>;
}

/** `berth-auto` is Berth with `server.workers = "auto"` (one process per core). */
export type ServerName = 'nginx' | 'caddy' | 'berth' | 'berth-auto';

export interface ServerSpec {
  name: ServerName;
  label: string;
  httpPort: number;
  httpsPort: number;
  start(ctx: BenchContext): Promise<Running>;
}

export function nginxConfig(ctx: BenchContext, httpPort: number, httpsPort: number): string {
  const dir = join(ctx.tmp, 'nginx');
  return `# Written by bench/lib/servers.ts for one benchmark run.
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    access_log off;
    server_tokens off;

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

        root ${ctx.siteDir};
        index index.html;

        location / {
            try_files $uri $uri/ =404;
        }
    }
}
`;
}

export function caddyfile(ctx: BenchContext, httpPort: number, httpsPort: number): string {
  const dir = join(ctx.tmp, 'caddy');
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
	root * ${ctx.siteDir}
	file_server
}

https://127.0.0.1:${httpsPort}, https://localhost:${httpsPort} {
	bind 127.0.0.1
	tls ${ctx.certFile} ${ctx.keyFile}
	root * ${ctx.siteDir}
	file_server
}
`;
}

export function berthConfig(ctx: BenchContext, name: ServerName, httpPort: number, httpsPort: number, workers: string): string {
  return `# Written by bench/lib/servers.ts for one benchmark run.
data_dir = "${join(ctx.tmp, name, 'data')}"

[server]
host = "127.0.0.1"
http_port = ${httpPort}
https_port = ${httpsPort}
access_log = false
workers = ${workers}
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

/** `berth publish <dir> --site bench`; resolves with the command's result. */
export function berthPublish(ctx: BenchContext, name: ServerName, dir: string): ReturnType<typeof run> {
  return run(ctx.node, [join(ctx.root, 'src/cli/main.ts'), 'publish', dir, '--site', 'bench', '--config', berthConfigPath(ctx, name)], {
    cwd: ctx.root,
    timeoutMs: 60_000,
  });
}

function berthSpec(name: ServerName, label: string, httpPort: number, httpsPort: number, workers: string): ServerSpec {
  return {
    name,
    label,
    httpPort,
    httpsPort,
    async start(ctx) {
      const dir = join(ctx.tmp, name);
      mkdirSync(dir, { recursive: true });
      writeFileSync(berthConfigPath(ctx, name), berthConfig(ctx, name, httpPort, httpsPort, workers));
      const pub = await berthPublish(ctx, name, ctx.siteDir);
      if (pub.code !== 0) throw new Error(`berth publish failed (exit ${pub.code}):\n${pub.stderr || pub.stdout}`);
      // Spawn the Node binary itself (no npm wrapper) so the pid is the server's.
      const proc = startTracked(
        name,
        ctx.node,
        [join(ctx.root, 'src/cli/main.ts'), 'serve', '--config', berthConfigPath(ctx, name)],
        ctx.logDir,
        { cwd: ctx.root },
      );
      await waitForPorts(proc, [httpPort, httpsPort], 30_000);
      const cl = cmdline(proc.pid);
      if (!cl.includes('main.ts') || !cl.includes('serve')) throw new Error(`pid ${proc.pid} is not berth serve: ${cl}`);
      return wrap(name, proc, httpPort, httpsPort);
    },
  };
}

function wrap(name: ServerName, proc: Tracked, httpPort: number, httpsPort: number): Running {
  return { name, proc, httpPort, httpsPort, stop: () => stopTracked(proc) };
}

export const SERVERS: ServerSpec[] = [
  {
    name: 'nginx',
    label: 'nginx',
    httpPort: 18180,
    httpsPort: 18543,
    async start(ctx) {
      const dir = join(ctx.tmp, 'nginx');
      mkdirSync(join(dir, 'tmp'), { recursive: true, mode: 0o755 });
      const conf = join(dir, 'nginx.conf');
      writeFileSync(conf, nginxConfig(ctx, this.httpPort, this.httpsPort));
      const test = await run('nginx', ['-t', '-q', '-p', dir, '-c', conf], { timeoutMs: 20_000 });
      if (test.code !== 0) throw new Error(`nginx -t failed: ${test.stderr}`);
      // SIGQUIT is nginx's graceful shutdown.
      const proc = startTracked('nginx', 'nginx', ['-p', dir, '-c', conf], ctx.logDir, {}, 'SIGQUIT');
      await waitForPorts(proc, [this.httpPort, this.httpsPort]);
      return wrap('nginx', proc, this.httpPort, this.httpsPort);
    },
  },
  {
    name: 'caddy',
    label: 'Caddy',
    httpPort: 18280,
    httpsPort: 18643,
    async start(ctx) {
      const dir = join(ctx.tmp, 'caddy');
      mkdirSync(join(dir, 'home'), { recursive: true });
      const conf = join(dir, 'Caddyfile');
      writeFileSync(conf, caddyfile(ctx, this.httpPort, this.httpsPort));
      const env = {
        ...process.env,
        HOME: join(dir, 'home'),
        XDG_CONFIG_HOME: join(dir, 'home', 'config'),
        XDG_DATA_HOME: join(dir, 'home', 'data'),
      };
      const check = await run('caddy', ['validate', '--config', conf, '--adapter', 'caddyfile'], { env, timeoutMs: 30_000 });
      if (check.code !== 0) throw new Error(`caddy validate failed: ${check.stderr || check.stdout}`);
      const proc = startTracked('caddy', 'caddy', ['run', '--config', conf, '--adapter', 'caddyfile'], ctx.logDir, { env });
      await waitForPorts(proc, [this.httpPort, this.httpsPort]);
      return wrap('caddy', proc, this.httpPort, this.httpsPort);
    },
  },
  berthSpec('berth', 'Berth', 18080, 18443, '1'),
  berthSpec('berth-auto', 'Berth, workers = "auto"', 18081, 18444, '"auto"'),
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
