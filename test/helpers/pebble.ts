import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { onCleanup } from './cleanup.ts';

/**
 * Pebble, Let's Encrypt's test CA (Debian package `pebble`), on loopback,
 * with `pebble-challtestsrv` as its DNS server answering 127.0.0.1 for every
 * name. Validation is real: Pebble connects to `httpPort` on 127.0.0.1 and
 * fetches the HTTP-01 response from whatever listens there.
 */
export interface Pebble {
  /** The ACME directory URL. */
  readonly directoryUrl: string;
  /** PEM file of the certificate Pebble's API presents; give it to `acme.ca_file`. */
  readonly caFile: string;
  /** The root that issued certificates chain to (new at every Pebble start). */
  root(): Promise<string>;
  /** Serial numbers (hex, lower case) Pebble logged as issued, in order. */
  issued(): string[];
  /** Everything Pebble printed. */
  output(): string;
  /** Stops Pebble (the DNS server stays); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface PebbleOptions {
  /** Where Berth's HTTP listener will be: Pebble validates HTTP-01 there. */
  httpPort: number;
  /** Lifetime of issued certificates; Pebble's default is five years. */
  validitySeconds?: number;
  /** Percentage of good nonces Pebble rejects as bad (PEBBLE_WFE_NONCEREJECT). */
  nonceReject?: number;
  /** External Account Binding keys Pebble requires (kid -> base64url HMAC key). */
  eabKeys?: Record<string, string>;
  /** Percentage of valid authorizations reused (PEBBLE_AUTHZREUSE); 0 makes every order validate. */
  authzReuse?: number;
  /** Address the ACME API listens on and its certificate names (default 127.0.0.1), e.g. a Docker bridge's gateway. */
  host?: string;
  /** The IPv4 address Pebble's DNS gives every name, where it validates HTTP-01 (default 127.0.0.1). */
  address?: string;
}

/** A port free right now on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Starts the DNS server and Pebble in `dir`; both are stopped by `t.after`. */
export async function startPebble(t: { after(fn: () => unknown): void }, dir: string, options: PebbleOptions): Promise<Pebble> {
  const [apiPort, managementPort, tlsPort, dnsPort, dnsManagementPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const host = options.host ?? '127.0.0.1';
  const pair = await createSelfSignedCertificate(['localhost', '127.0.0.1', host]);
  const caFile = join(dir, 'pebble-api.pem');
  const keyFile = join(dir, 'pebble-api.key');
  await writeFile(caFile, pair.cert);
  await writeFile(keyFile, pair.key);
  const configFile = join(dir, 'pebble.json');
  await writeFile(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `${host}:${apiPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: caFile,
        privateKey: keyFile,
        httpPort: options.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: options.eabKeys !== undefined,
        externalAccountMACKeys: options.eabKeys ?? {},
        ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
      },
    }),
  );

  const dns = spawn(
    'pebble-challtestsrv',
    ['-defaultIPv4', options.address ?? '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  dns.stdout.on('data', (chunk: Buffer) => (out += `[dns] ${chunk.toString()}`));
  dns.stderr.on('data', (chunk: Buffer) => (out += `[dns] ${chunk.toString()}`));

  let pebble: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const child = spawn('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PEBBLE_VA_NOSLEEP: '1',
        PEBBLE_WFE_NONCEREJECT: String(options.nonceReject ?? 0),
        PEBBLE_AUTHZREUSE: String(options.authzReuse ?? 0),
      },
    });
    pebble = child;
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`pebble exited with ${String(child.exitCode)}:\n${out}`);
      const status = await get(`https://${host}:${apiPort}/dir`, pair.cert).then((r) => r.status, () => 0);
      if (status === 200) return;
      if (Date.now() > deadline) throw new Error(`pebble did not answer within 60 s:\n${out}`);
      await sleep(50);
    }
  };
  const stop = async (): Promise<void> => {
    const child = pebble;
    pebble = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  };
  onCleanup(t, async () => {
    await stop();
    dns.kill('SIGKILL');
  });
  await start();

  return {
    directoryUrl: `https://${host}:${apiPort}/dir`,
    caFile,
    root: async () => (await get(`https://127.0.0.1:${managementPort}/roots/0`, pair.cert)).body,
    issued: () => [...out.matchAll(/Issued certificate serial ([0-9a-f]+)/gi)].map((match) => (match[1] ?? '').toLowerCase()),
    output: () => out,
    stop,
    start,
  };
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
