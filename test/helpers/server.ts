import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { publishRelease } from '../../src/releases/publish.ts';
import { startServer, type RunningServer } from '../../src/app/start-server.ts';
import { tempDir, writeTree } from './temp.ts';
import { onCleanup } from './cleanup.ts';

export interface TestServer {
  root: string;
  config: ResolvedConfig;
  server: RunningServer;
  httpPort: number;
  httpsPort: number;
  /** Log lines the server wrote, parsed. */
  logs: Array<Record<string, unknown>>;
  publish(site: string, files: Record<string, string | Buffer>): Promise<string>;
}

export interface TestServerOptions {
  /** Extra TOML for `[server]`. */
  server?: string;
  sites?: Array<{ name: string; domains: string[]; extra?: string }>;
  /** TOML for `[acme]`; ACME is off when absent. */
  acme?: string;
  /** Files to publish for each site before starting, by site name. */
  files?: Record<string, Record<string, string | Buffer>>;
  /** A directory of the test's making (its `data` may hold releases already); the berth.toml in it is replaced. A new temp dir when absent. */
  root?: string;
  /** The environment the config's `${VAR}` values come from; empty when absent. */
  env?: NodeJS.ProcessEnv;
}

/** Starts `berth serve` in-process on ephemeral loopback ports, with a data dir of its own. */
export async function startTestServer(t: TestContext, options: TestServerOptions = {}): Promise<TestServer> {
  const root = options.root ?? (await tempDir(t));
  const sites = options.sites ?? [{ name: 'site', domains: ['localhost', '127.0.0.1'] }];
  const toml = [
    'data_dir = "data"',
    '[server]',
    'host = "127.0.0.1"',
    'http_port = 0',
    'https_port = 0',
    options.server ?? '',
    '[acme]',
    options.acme ?? 'directory = "off"',
    ...sites.flatMap((site) => ['[[sites]]', `name = "${site.name}"`, `domains = ${JSON.stringify(site.domains)}`, site.extra ?? '']),
  ].join('\n');
  await writeFile(join(root, 'berth.toml'), toml);
  const config = await loadConfig(join(root, 'berth.toml'), options.env ?? {});
  let counter = 0;
  const publish = async (site: string, files: Record<string, string | Buffer>): Promise<string> => {
    const dir = join(root, `out-${counter++}`);
    await writeTree(dir, files);
    return (await publishRelease({ dataDir: config.dataDir, site, sourceDir: dir, retain: 10 })).id;
  };
  for (const [site, files] of Object.entries(options.files ?? {})) await publish(site, files);

  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'info', destination: sink });
  const server = await startServer(config, logger);
  await server.ready;
  onCleanup(t, () => server.stop());
  return {
    root,
    config,
    server,
    httpPort: server.listeners.httpPort as number,
    httpsPort: server.listeners.httpsPort as number,
    logs,
    publish,
  };
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/1.1 request with the path sent exactly as given (no URL normalisation). */
export function get(port: number, path: string, headers: OutgoingHttpHeaders = {}, method = 'GET'): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { host: 'localhost', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One HTTP/2 request over TLS (self-signed certificates accepted). */
export function getH2(port: number, path: string, headers: Record<string, string> = {}, servername = 'localhost'): Promise<SimpleResponse & { alpn: string | false | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://localhost:${port}`, { rejectUnauthorized: false, servername, host: '127.0.0.1' } as never);
    session.on('error', reject);
    const stream = session.request({ ':path': path, ':authority': headers[':authority'] ?? 'localhost', ...headers });
    const chunks: Buffer[] = [];
    let responseHeaders: IncomingHttpHeaders = {};
    stream.on('response', (h) => {
      responseHeaders = h as IncomingHttpHeaders;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const alpn = session.alpnProtocol;
      session.close();
      resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks), alpn });
    });
    stream.on('error', reject);
    stream.end();
  });
}

/** Sends raw bytes and returns everything the server wrote before closing (or `timeoutMs`). */
export function rawRequest(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNRESET') resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(data);
  });
}

/**
 * Sends raw bytes and waits for the server to close the connection: what it
 * wrote, and who closed. The client gives up only after `giveUpMs`, a bound
 * against a hang, never a measurement: `closedBy: 'client'` means the server
 * did not close.
 */
export function rawExchange(port: number, data: string | Buffer, giveUpMs = 60_000): Promise<{ text: string; closedBy: 'server' | 'client' }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let gaveUp = false;
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, giveUpMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET') {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedBy: gaveUp ? 'client' : 'server' });
    });
    socket.write(data);
  });
}

/**
 * Polls `check` until it returns true. The bound only guards against a hang (the assertion after
 * it says what failed), so it is generous: a busy machine must never reach it.
 */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}
