import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { startServerNotices } from '../../src/notify/server-notices.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startServer, type RunningServer } from '../../src/app/start-server.ts';
import { onCleanup } from './cleanup.ts';

/** What a TLS client saw for one name. */
export interface Handshake {
  authorized: boolean;
  error: string | undefined;
  /** Lower-case hex. */
  serial: string;
  names: string[];
  issuer: string;
  /** The certificate's end, in ms since the epoch. */
  notAfter: number;
}

/** One TLS handshake with SNI `servername`, verified against `ca` (or the system roots). */
export function handshake(port: number, servername: string, ca?: string, host = '127.0.0.1'): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername, ...(ca === undefined ? {} : { ca: [ca] }), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      resolve({
        authorized: socket.authorized,
        error: socket.authorizationError === null ? undefined : String(socket.authorizationError),
        serial: cert.serialNumber.toLowerCase(),
        names: (cert.subjectaltname ?? '').split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4)),
        issuer: typeof cert.issuer.CN === 'string' ? cert.issuer.CN : String(cert.issuer.O),
        notAfter: Date.parse(cert.valid_to),
      });
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs` with `what`. */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Resolves once a renewal check of the certificate under `key` has run after
 * `since` (ms since the epoch): every check that orders nothing records
 * itself as `lastCheck` in meta.json. What a test waits for before asserting
 * that a check did not order.
 */
export async function checkedSince(dataDir: string, key: string, since: number): Promise<void> {
  await waitFor(async () => {
    const text = await readFile(join(dataDir, 'certs', key, 'meta.json'), 'utf8').catch(() => undefined);
    const last = text === undefined ? undefined : (JSON.parse(text) as { lastCheck?: string }).lastCheck;
    return last !== undefined && Date.parse(last) > since ? true : undefined;
  }, `a renewal check of ${key} after ${new Date(since).toISOString()}`);
}

export interface AcmeTestServer {
  config: ResolvedConfig;
  server: RunningServer;
  httpsPort: number;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface AcmeServerOptions {
  /** Where berth.toml goes; data is `<dir>/data`. */
  dir: string;
  directoryUrl: string;
  /** PEM file(s) to trust for the directory's HTTPS; none leaves acme.ca_file out. */
  caFile: string | undefined;
  httpPort: number;
  /** @default 0 (any free port) */
  httpsPort?: number;
  sites: Array<{ name: string; domains: string[]; extra?: string }>;
  /** Extra lines for `[acme]` and `[server]`. */
  acme?: string;
  server?: string;
  /** Lines after the sites: `[[notify]]` tables, say. */
  tail?: string;
}

/** Writes the berth.toml an ACME test server uses (also for the CLI). */
export async function writeAcmeConfig(options: AcmeServerOptions): Promise<string> {
  const file = join(options.dir, 'berth.toml');
  await writeFile(
    file,
    [
      'data_dir = "data"',
      '[server]',
      'host = "127.0.0.1"',
      `http_port = ${options.httpPort}`,
      `https_port = ${options.httpsPort ?? 0}`,
      'access_log = false',
      options.server ?? '',
      '[acme]',
      `directory = "${options.directoryUrl}"`,
      options.caFile === undefined ? '' : `ca_file = "${options.caFile}"`,
      'email = "tests@example.com"',
      'check_interval = "1s"',
      'retry_delay = "1s"',
      options.acme ?? '',
      ...options.sites.flatMap((site) => ['[[sites]]', `name = "${site.name}"`, `domains = ${JSON.stringify(site.domains)}`, site.extra ?? '']),
      options.tail ?? '',
    ].join('\n'),
  );
  return file;
}

/** `berth serve` in this process, running the certificate manager, with its log lines collected. */
export async function startAcmeServer(t: TestContext, options: AcmeServerOptions): Promise<AcmeTestServer> {
  const config = await loadConfig(await writeAcmeConfig(options), {});
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: 'debug', destination: sink });
  const notices = startServerNotices(config, logger);
  const server = await startServer(config, logger, { manageCertificates: true, ...(notices === undefined ? {} : { certificateNotices: notices }) });
  await server.ready;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.stop();
    await notices?.close(0);
  };
  onCleanup(t, stop);
  return { config, server, httpsPort: server.listeners.httpsPort as number, logs, stop };
}
