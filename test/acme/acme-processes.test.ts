import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseExposition, total } from '../helpers/prometheus-text.ts';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { handshake, startAcmeServer, waitFor, writeAcmeConfig } from '../helpers/acme.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { createFileLocker } from '../../src/acme/file-locker.ts';

const NODE = process.execPath;
const MAIN = resolve(import.meta.dirname, '../../src/cli/main.ts');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `onStderr` sees its standard error as it comes. */
function run(args: string[], onStderr?: (text: string) => void): Promise<Ran> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(NODE, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(chunk.toString());
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** `berth serve` as its own process; its https port comes from the `listening` log line. */
async function serve(t: TestContext, config: string): Promise<{ child: ChildProcess; httpsPort: number; output: () => string }> {
  const child = spawn(NODE, [MAIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  onCleanup(t, async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await exited;
  });
  const httpsPort = await waitFor(() => {
    for (const line of output.split('\n')) {
      if (!line.includes('"msg":"listening"')) continue;
      const port = (JSON.parse(line) as { https?: number }).https;
      if (typeof port === 'number') return port;
    }
    if (child.exitCode !== null) throw new Error(`berth serve exited:\n${output}`);
    return undefined;
  }, 'berth serve to listen', 30_000);
  return { child, httpsPort, output: () => output };
}

describe('ACME across processes and failures', () => {
  it('names the domain and the port when the CA cannot reach the challenge', async (t) => {
    const dir = await tempDir(t);
    // Pebble validates on a port nothing listens on; Berth listens on another.
    const deadPort = await freePort();
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort: deadPort });
    const server = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['unreachable.example.com'] }] });
    const failure = await waitFor(() => server.logs.find((line) => line.code === 'E_ACME_CHALLENGE'), 'a failed challenge');
    const message = String(failure.msg);
    assert.match(message, /The CA could not validate unreachable\.example\.com: /);
    assert.match(message, new RegExp(`port ${httpPort} \\(server\\.http_port\\)`));
    assert.match(message, /connection refused|Connection refused/i, 'the CA\'s own explanation is kept');
    assert.equal(failure.level, 'error');
    assert.deepEqual(pebble.issued(), []);
    const root = await pebble.root();
    assert.equal((await handshake(server.httpsPort, 'unreachable.example.com', root)).authorized, false);
    const listed = await run(['certs', '--json', '--config', join(dir, 'berth.toml')]);
    const rows = JSON.parse(listed.stdout) as Array<{ name: string; lastError?: { code: string; message: string } }>;
    assert.equal(rows[0]?.lastError?.code, 'E_ACME_CHALLENGE');
    // No challenge answers are left behind.
    await server.stop();
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(join(dir, 'data', 'acme', 'challenges')), []);
  });

  it('orders once when two `berth certs --renew` race while `berth serve` runs, and the server picks the result up', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const config = await writeAcmeConfig({ dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['race.example.com'] }] });
    const server = await serve(t, config);
    const first = await waitFor(async () => {
      const seen = await handshake(server.httpsPort, 'race.example.com', root);
      return seen.authorized ? seen : undefined;
    }, 'the first certificate');
    assert.deepEqual(pebble.issued(), [first.serial]);

    // The test holds the certificate's lock until both commands wait for it, so they race for certain (a command started late would rightly order again).
    const held = await createFileLocker(join(dir, 'data', 'acme', 'locks')).lock('race.example.com');
    const said = { a: '', b: '' };
    const waiting = /waiting for the lock race\.example\.com, held by another berth process \(pid \d+\)/;
    const renews = Promise.all([
      run(['certs', '--renew', 'race.example.com', '--config', config], (text) => (said.a += text)),
      run(['certs', '--renew', 'RACE.example.com', '--config', config], (text) => (said.b += text)),
    ]);
    await waitFor(() => (waiting.test(said.a) && waiting.test(said.b) ? true : undefined), 'both renew commands to wait for the lock', 60_000);
    await held();
    const [a, b] = await renews;
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const serialOf = (out: string): string | undefined => /serial ([0-9a-f]+)/.exec(out)?.[1];
    assert.equal(pebble.issued().length, 2, `one new order for two renew commands; Pebble issued ${pebble.issued().join(', ')}`);
    const renewed = pebble.issued()[1];
    assert.equal(serialOf(a.stdout), renewed);
    assert.equal(serialOf(b.stdout), renewed);
    assert.match(a.stdout + b.stdout, /berth serve \(pid \d+\) is serving it/);
    assert.match(a.stderr + b.stderr, /another berth process obtained this certificate; using it/);
    // SIGHUP told the server; it serves the renewed certificate.
    const served = await waitFor(async () => {
      const seen = await handshake(server.httpsPort, 'race.example.com', root);
      return seen.serial === renewed ? seen : undefined;
    }, 'the server to serve the renewed certificate', 10_000);
    assert.equal(served.authorized, true);
  });

  it('renews with `berth certs --renew` when no server runs, answering the challenge itself', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const config = await writeAcmeConfig({ dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['alone.example.com', 'www.alone.example.com'] }] });
    const renewed = await run(['certs', '--renew', 'www.alone.example.com', '--config', config]);
    assert.equal(renewed.code, 0, renewed.stderr);
    assert.match(renewed.stdout, /^renewed alone\.example\.com, www\.alone\.example\.com: serial [0-9a-f]+, issued by Pebble Intermediate CA [0-9a-f]+, valid until \d{4}-/);
    assert.equal(pebble.issued().length, 1);
    assert.match(await readFile(join(dir, 'data', 'certs', 'alone.example.com', 'cert.pem'), 'utf8'), /BEGIN CERTIFICATE/);
    const listed = await run(['certs', '--config', config]);
    assert.match(listed.stdout, /alone\.example\.com\s+Pebble Intermediate CA/);
  });

  it('refuses unknown names, names no CA issues for, and renewals with ACME off', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const config = await writeAcmeConfig({ dir, directoryUrl: 'https://127.0.0.1:9/dir', caFile: '/dev/null', httpPort, sites: [{ name: 'blog', domains: ['known.example.com', 'localhost'] }] });
    for (const name of ['other.example.com', 'localhost', '../../etc/passwd', '']) {
      const refused = await run(['certs', '--renew', name, '--config', config]);
      assert.equal(refused.code, 1, `${name}: ${refused.stderr}`);
      assert.match(refused.stderr, /\[E_CERT_UNKNOWN_NAME\]/);
      assert.match(refused.stderr, /known\.example\.com/);
    }
    const offFile = join(dir, 'off.toml');
    await writeFile(offFile, 'data_dir = "data"\n[acme]\ndirectory = "off"\n[[sites]]\nname = "blog"\ndomains = ["known.example.com"]\n');
    const off = await run(['certs', '--renew', 'known.example.com', '--config', offFile]);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /\[E_ACME_OFF\]/);
    const missing = await run(['certs', '--renew', '--config', offFile]);
    assert.equal(missing.code, 2, 'a missing NAME is a usage error');
  });

  it('gets the certificate to every worker when several processes serve', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const config = await writeAcmeConfig({ dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, server: 'workers = 2', sites: [{ name: 'blog', domains: ['workers.example.com'] }], tail: '[metrics]\nlisten = "127.0.0.1:0"' });
    const server = await serve(t, config);
    const first = await waitFor(async () => {
      const seen = await handshake(server.httpsPort, 'workers.example.com', root);
      return seen.authorized ? seen : undefined;
    }, 'a certificate from a worker');
    // Connections are spread over both workers; soon every one presents the certificate (each worker loads it when told).
    await waitFor(async () => {
      for (let i = 0; i < 20; i++) {
        const seen = await handshake(server.httpsPort, 'workers.example.com', root);
        if (!seen.authorized) return undefined;
        assert.equal(seen.serial, first.serial);
      }
      return true;
    }, '20 handshakes in a row with the certificate');
    assert.equal(pebble.issued().length, 1, 'ordered once, by the primary');

    // The metrics: one order that succeeded, and the certificate's end and next check as timestamps.
    const metricsPort = await waitFor(() => {
      const line = server.output().split('\n').find((candidate) => candidate.includes('"msg":"metrics listening"'));
      return line === undefined ? undefined : (JSON.parse(line) as { port: number }).port;
    }, 'the metrics listener');
    const notAfter = await waitFor(async () => {
      const seen = await handshake(server.httpsPort, 'workers.example.com', root);
      return seen.authorized ? seen : undefined;
    }, 'the certificate');
    const scrape = await waitFor(async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/_berth/metrics`)).text();
      const parsed = parseExposition(text);
      return total(parsed, 'berth_acme_orders_total', { result: 'success' }) === 1 && total(parsed, 'berth_certificate_expiry_timestamp_seconds') > 0 ? parsed : undefined;
    }, 'the certificate in the metrics');
    assert.equal(total(scrape, 'berth_acme_orders_total', { result: 'failure' }), 0);
    const expiry = total(scrape, 'berth_certificate_expiry_timestamp_seconds', { name: 'workers.example.com' });
    assert.ok(Math.abs(expiry - notAfter.notAfter / 1000) < 2, `${expiry} against ${notAfter.notAfter}`);
    const next = total(scrape, 'berth_certificate_next_check_timestamp_seconds', { name: 'workers.example.com' });
    assert.ok(next > Date.now() / 1000 - 60, String(next));
  });
});
