/**
 * The ceiling of Node's HTTP stack for the serving benchmark: the least a
 * Node static server can do. One process per core (or --workers), each
 * listening itself with `reusePort` so the kernel spreads connections; every
 * file of --dir read into memory at start with its headers prepared; plain
 * HTTP/1.1 on --http-port, and HTTP/1.1 or HTTP/2 (by ALPN) over TLS on
 * --https-port. It sends about the headers Berth sends (type, length, ETag,
 * Last-Modified, cache and security headers, Vary), serves a file's `.br` or
 * `.gz` sidecar when the request accepts it, and with --access-log writes one
 * line per request to that file. Nothing else: no routing rules, no range
 * requests, no conditional requests, no reloading. It is a measuring stick,
 * not a server to deploy.
 *
 *   node bench/bare-node-server.ts --dir DIR --http-port N --https-port N --cert FILE --key FILE
 *        [--host 127.0.0.1] [--workers N] [--access-log FILE]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, readdirSync, readFileSync, statSync, type WriteStream } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { availableParallelism } from 'node:os';
import { extname, join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.jpg': 'image/jpeg',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

type Encoding = 'br' | 'gzip';

/** One file, ready to send: the bodies and the header list for each encoding. */
interface Entry {
  bodies: Partial<Record<Encoding | 'identity', Buffer>>;
  headers: Partial<Record<Encoding | 'identity', Record<string, string>>>;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Every file under `dir` by URL path; `x.br` and `x.gz` become encodings of `x` when `x` exists. */
function loadSite(dir: string): Map<string, Entry> {
  const files = walk(dir);
  const present = new Set(files);
  const site = new Map<string, Entry>();
  for (const file of files) {
    const sidecar = /\.(br|gz)$/.exec(file);
    if (sidecar && present.has(file.slice(0, -sidecar[0].length))) continue;
    const body = readFileSync(file);
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
    const common: Record<string, string> = {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      etag,
      'last-modified': statSync(file).mtime.toUTCString(),
      'cache-control': 'public, max-age=0, must-revalidate',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'strict-origin-when-cross-origin',
    };
    const entry: Entry = { bodies: { identity: body }, headers: {} };
    const encodings: Array<[Encoding, string]> = [
      ['br', `${file}.br`],
      ['gzip', `${file}.gz`],
    ];
    const has = encodings.filter(([, f]) => present.has(f));
    if (has.length) common.vary = 'accept-encoding';
    entry.headers.identity = { ...common, 'content-length': String(body.length) };
    for (const [enc, f] of has) {
      const encoded = readFileSync(f);
      entry.bodies[enc] = encoded;
      entry.headers[enc] = { ...common, 'content-encoding': enc, 'content-length': String(encoded.length) };
    }
    site.set(`/${relative(dir, file).split(sep).join('/')}`, entry);
  }
  return site;
}

/** br when accepted and present, then gzip, else identity. A plain substring test: the benchmark sends no q-values. */
function pick(entry: Entry, accept: string | undefined): Encoding | 'identity' {
  if (accept) {
    if (entry.bodies.br && accept.includes('br')) return 'br';
    if (entry.bodies.gzip && accept.includes('gzip')) return 'gzip';
  }
  return 'identity';
}

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  const p = q < 0 ? (url ?? '/') : (url ?? '/').slice(0, q);
  return p === '/' ? '/index.html' : p;
}

const NOT_FOUND = Buffer.from('not found\n');

function worker(o: { dir: string; host: string; httpPort: number; httpsPort: number; cert: string; key: string; accessLog?: string }): void {
  const site = loadSite(o.dir);
  const log: WriteStream | undefined = o.accessLog ? createWriteStream(o.accessLog, { flags: 'a' }) : undefined;
  const logLine = (remote: string | undefined, method: string, path: string, proto: string, status: number, bytes: number, ua: string | undefined) => {
    log?.write(`${remote ?? '-'} - - [${new Date().toUTCString()}] "${method} ${path} ${proto}" ${status} ${bytes} "-" "${ua ?? '-'}"\n`);
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    const entry = site.get(path);
    const proto = `HTTP/${req.httpVersion}`;
    if (!entry || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(NOT_FOUND.length) });
      res.end(req.method === 'HEAD' ? undefined : NOT_FOUND);
      logLine(req.socket.remoteAddress, req.method ?? '-', path, proto, 404, NOT_FOUND.length, req.headers['user-agent']);
      return;
    }
    const enc = pick(entry, req.headers['accept-encoding']);
    const body = entry.bodies[enc] as Buffer;
    res.writeHead(200, entry.headers[enc]);
    res.end(req.method === 'HEAD' ? undefined : body);
    logLine(req.socket.remoteAddress, req.method ?? '-', path, proto, 200, body.length, req.headers['user-agent']);
  };

  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const path = pathOf(headers[':path']);
    const method = headers[':method'];
    const entry = site.get(path);
    stream.on('error', () => stream.destroy());
    if (!entry || (method !== 'GET' && method !== 'HEAD')) {
      stream.respond({ ':status': 404, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(NOT_FOUND.length) });
      stream.end(method === 'HEAD' ? undefined : NOT_FOUND);
      logLine(stream.session?.socket?.remoteAddress, method ?? '-', path, 'HTTP/2.0', 404, NOT_FOUND.length, headers['user-agent']);
      return;
    }
    const enc = pick(entry, headers['accept-encoding']);
    const body = entry.bodies[enc] as Buffer;
    stream.respond({ ':status': 200, ...entry.headers[enc] }, { endStream: method === 'HEAD' });
    if (method !== 'HEAD') stream.end(body);
    logLine(stream.session?.socket?.remoteAddress, method ?? '-', path, 'HTTP/2.0', 200, body.length, headers['user-agent']);
  };

  const plain = http.createServer({ keepAliveTimeout: 65_000 }, onRequest);
  const secure = createSecureServer(
    { allowHTTP1: true, cert: readFileSync(o.cert), key: readFileSync(o.key), minVersion: 'TLSv1.2', settings: { maxConcurrentStreams: 128 } },
    onRequest as never,
  );
  // The request listener serves HTTP/1.1 over TLS; Node would also route
  // every HTTP/2 stream through compatibility objects, so streams are
  // answered directly instead (as Berth does).
  secure.removeAllListeners('stream');
  secure.on('stream', onStream);
  secure.on('tlsClientError', (_err, socket) => socket.destroy());
  plain.listen({ host: o.host, port: o.httpPort, reusePort: true });
  secure.listen({ host: o.host, port: o.httpsPort, reusePort: true });
  process.on('SIGTERM', () => {
    plain.close();
    secure.close();
    plain.closeAllConnections();
    log?.end();
    // HTTP/2 sessions hold the secure server open; the benchmark is done with it.
    setTimeout(() => process.exit(0), 200).unref();
  });
  // A primary that died (SIGKILL) leaves no worker behind.
  process.on('disconnect', () => process.exit(0));
}

/** Starts `count` worker processes and stops them all on SIGTERM or when any of them dies. */
function primary(count: number): void {
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = (code: number) => {
    stopping = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    let left = children.length;
    if (left === 0) process.exit(code);
    for (const c of children) c.once('exit', () => --left === 0 && process.exit(code));
  };
  for (let i = 0; i < count; i++) {
    const child = fork(process.argv[1] as string, process.argv.slice(2), { env: { ...process.env, BARE_NODE_WORKER: '1' }, stdio: 'inherit' });
    child.once('exit', (code, signal) => {
      if (!stopping) {
        console.error(`bare-node-server: worker ${child.pid} exited (${code ?? signal}); stopping`);
        stopAll(1);
      }
    });
    children.push(child);
  }
  process.on('SIGTERM', () => stopAll(0));
  process.on('SIGINT', () => stopAll(0));
}

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'http-port': { type: 'string' },
    'https-port': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    workers: { type: 'string' },
    'access-log': { type: 'string' },
  },
});
const need = (name: 'dir' | 'http-port' | 'https-port' | 'cert' | 'key'): string => {
  const v = values[name];
  if (!v) {
    console.error(`bare-node-server: --${name} is required`);
    process.exit(2);
  }
  return v;
};
const options = {
  dir: need('dir'),
  host: values.host ?? '127.0.0.1',
  httpPort: Number(need('http-port')),
  httpsPort: Number(need('https-port')),
  cert: need('cert'),
  key: need('key'),
  accessLog: values['access-log'],
};
if (process.env.BARE_NODE_WORKER === '1') worker(options);
else primary(values.workers ? Number(values.workers) : availableParallelism());
