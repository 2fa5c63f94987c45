import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { directoryId } from '../../src/acme/acme-session.ts';
import { checkedSince, handshake, startAcmeServer, waitFor } from '../helpers/acme.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { startReceiver } from '../notify/notify-fixtures.ts';
import { tempDir } from '../helpers/temp.ts';

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (text: string) => void): Writable => new Writable({ write: (chunk: Buffer, _e, callback) => { write(chunk.toString()); callback(); } });
  const code = await main(args, { stdout: sink((text) => (stdout += text)), stderr: sink((text) => (stderr += text)), env: {}, cwd: process.cwd() });
  return { code, stdout, stderr };
}

describe('ACME against Pebble: first certificates', () => {
  it('obtains one certificate per site for all its public names, stores it privately, and reuses it after a restart', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const options = {
      dir,
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caFile,
      httpPort,
      sites: [
        { name: 'blog', domains: ['blog.example.com', 'www.blog.example.com', 'localhost'] },
        { name: 'docs', domains: ['docs.example.org'] },
      ],
    };
    const first = await startAcmeServer(t, options);

    const blog = await waitFor(async () => {
      const seen = await handshake(first.httpsPort, 'blog.example.com', root);
      return seen.authorized ? seen : undefined;
    }, 'a valid certificate for blog.example.com');
    assert.deepEqual([...blog.names].sort(), ['blog.example.com', 'www.blog.example.com']);
    assert.match(blog.issuer, /Pebble/);
    const www = await handshake(first.httpsPort, 'www.blog.example.com', root);
    assert.equal(www.authorized, true);
    assert.equal(www.serial, blog.serial, 'both names are on the one certificate of the site');
    const docs = await waitFor(async () => {
      const seen = await handshake(first.httpsPort, 'docs.example.org', root);
      return seen.authorized ? seen : undefined;
    }, 'a valid certificate for docs.example.org');
    assert.deepEqual(docs.names, ['docs.example.org']);
    assert.notEqual(docs.serial, blog.serial);
    // No public CA issues for localhost: it keeps the self-signed certificate.
    const local = await handshake(first.httpsPort, 'localhost', root);
    assert.equal(local.authorized, false);
    assert.deepEqual([...pebble.issued()].sort(), [blog.serial, docs.serial].sort());

    // Storage: private files, private directories, the account kept for reuse.
    const data = join(dir, 'data');
    assert.equal(await mode(join(data, 'certs')), 0o700);
    assert.equal(await mode(join(data, 'certs', 'blog.example.com')), 0o700);
    for (const file of ['cert.pem', 'key.pem', 'meta.json']) assert.equal(await mode(join(data, 'certs', 'blog.example.com', file)), 0o600, file);
    const accountDir = join(data, 'acme', directoryId(pebble.directoryUrl));
    assert.equal(await mode(accountDir), 0o700);
    assert.equal(await mode(join(accountDir, 'account.key.pem')), 0o600);
    const account = JSON.parse(await readFile(join(accountDir, 'account.json'), 'utf8')) as { url: string; email: string };
    assert.match(account.url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    assert.equal(account.email, 'tests@example.com');
    const meta = JSON.parse(await readFile(join(data, 'certs', 'blog.example.com', 'meta.json'), 'utf8')) as { names: string[]; failures: number; obtainedAt: string };
    assert.deepEqual(meta.names, ['blog.example.com', 'www.blog.example.com']);
    assert.equal(meta.failures, 0);
    assert.ok(!Number.isNaN(Date.parse(meta.obtainedAt)));
    assert.ok(first.logs.some((line) => line.msg === 'obtained a certificate'));

    // `berth certs` reports what is served.
    const listed = await runCli(['certs', '--json', '--config', join(dir, 'berth.toml')]);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Array<{ name: string; source: string; issuer: string; notAfter: string; nextCheck: string | undefined }>;
    assert.deepEqual(rows.map((row) => [row.name, row.source]), [
      ['blog.example.com', 'acme'],
      ['www.blog.example.com', 'acme'],
      ['localhost', 'self-signed'],
      ['docs.example.org', 'acme'],
    ]);
    assert.match(rows[0]?.issuer ?? '', /Pebble/);
    const table = await runCli(['certs', '--config', join(dir, 'berth.toml')]);
    assert.match(table.stdout, /^NAME\s+ISSUER\s+NOT AFTER\s+NEXT CHECK\s+LAST ERROR/);
    assert.match(table.stdout, /\nlocalhost +Berth self-signed +\d{4}-.* self-signed; not ordered from ACME: localhost is never ordered: no CA can reach it\n/);

    // A restart serves the stored certificate at once and orders nothing.
    await first.stop();
    const restartedAt = Date.now();
    const second = await startAcmeServer(t, options);
    const again = await handshake(second.httpsPort, 'blog.example.com', root);
    assert.equal(again.authorized, true);
    assert.equal(again.serial, blog.serial);
    // Both certificates were checked by the restarted server, which ordered nothing.
    await checkedSince(data, 'blog.example.com', restartedAt);
    await checkedSince(data, 'docs.example.org', restartedAt);
    assert.equal(pebble.issued().length, 2, 'no new order after the restart');
    assert.ok(!second.logs.some((line) => line.msg === 'ordering a certificate'));
  });

  it('serves the self-signed certificate while the CA is down, backs off, and swaps in the real one live when it returns', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    await pebble.stop();
    // Who hears that the order failed: a [[notify]] webhook on this machine.
    const receiver = await startReceiver(t);
    const tail = ['[[notify]]', 'name = "ops"', 'type = "webhook"', `url = "${receiver.url('/certs')}"`, `secret = "whsec_${Buffer.alloc(32, 3).toString('base64')}"`, 'allow_private = true'].join('\n');
    const server = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['live.example.com'] }], tail });
    const told = await waitFor(async () => receiver.requests.map((request) => JSON.parse(request.body) as { type: string; site?: string; certificate?: { names: string[]; errorCode?: string } }).find((event) => event.type === 'certificate.renewal_failed'), 'a certificate.renewal_failed notification');
    assert.equal(told.site, 'blog');
    assert.deepEqual(told.certificate?.names, ['live.example.com']);
    assert.match(told.certificate?.errorCode ?? '', /^E_ACME/);

    // A connection opened on the stand-in certificate, kept open across the swap.
    const early = connect({ host: '127.0.0.1', port: server.httpsPort, servername: 'live.example.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await new Promise<void>((resolve, reject) => {
      early.once('secureConnect', resolve);
      early.once('error', reject);
    });
    assert.match(String(early.getPeerCertificate().issuer.O), /Berth self-signed/);
    const standIn = early.getPeerCertificate().serialNumber.toLowerCase();
    const ask = (): Promise<string> =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString();
          if (text.includes('\r\n\r\n') && /content-length: (\d+)/i.test(text)) {
            const length = Number(/content-length: (\d+)/i.exec(text)?.[1]);
            if (Buffer.byteLength(text.split('\r\n\r\n').slice(1).join('\r\n\r\n')) >= length) {
              early.off('data', onData);
              resolve(text);
            }
          }
        };
        early.on('data', onData);
        early.once('error', reject);
        early.write('GET / HTTP/1.1\r\nHost: live.example.com\r\n\r\n');
      });
    assert.match(await ask(), /^HTTP\/1\.1 503/);

    // Failures while the CA is down: the waits grow.
    const failures = await waitFor(() => {
      const lines = server.logs.filter((line) => line.code === 'E_ACME_UNREACHABLE');
      return lines.length >= 3 ? lines : undefined;
    }, 'three failed orders');
    const attempts = failures.map((line) => line.attempt as number);
    assert.deepEqual(attempts.slice(0, 3), [1, 2, 3]);
    const waits = failures.slice(0, 3).map((line) => String(line.retryIn));
    assert.deepEqual(waits, ['1s', '2s', '4s']);
    assert.equal(failures[0]?.level, 'error', 'no valid certificate at all is logged as an error');
    assert.match(String(failures[0]?.msg), /Cannot reach the ACME server .* \(ECONNREFUSED\).*self-signed one stands in/);

    // New connections keep being accepted the whole time: one prober handshakes again and again,
    // from before the CA is back until it has itself been given the real certificate, so its
    // handshakes cover the swap on both sides.
    const probes: Array<{ selfSigned: boolean; serial: string }> = [];
    let refused = 0;
    const prober = (async () => {
      for (;;) {
        const seen = await handshake(server.httpsPort, 'live.example.com').catch(() => undefined);
        if (seen === undefined) {
          refused++;
        } else {
          probes.push({ selfSigned: seen.serial === standIn, serial: seen.serial });
          if (seen.serial !== standIn) return;
        }
        // Paces the probes only; no check depends on how long this is.
        await sleep(20);
      }
    })();
    await waitFor(() => (probes.length > 0 ? true : undefined), 'a first probe on the stand-in certificate');

    await pebble.start();
    const root = await pebble.root();
    const real = await waitFor(async () => {
      const seen = await handshake(server.httpsPort, 'live.example.com', root);
      return seen.authorized ? seen : undefined;
    }, 'the real certificate after the CA came back', 60_000);
    await prober;
    assert.equal(probes[0]?.selfSigned, true, 'the prober started on the stand-in certificate');
    assert.equal(probes.at(-1)?.serial, real.serial, 'and ended on the real one');
    assert.equal(refused, 0, 'every handshake during the swap succeeded');
    assert.equal(pebble.issued().at(-1), real.serial);
    // The connection from before the swap still works, on its old certificate.
    assert.match(await ask(), /^HTTP\/1\.1 503/);
    early.destroy();
    const meta = JSON.parse(await readFile(join(dir, 'data', 'certs', 'live.example.com', 'meta.json'), 'utf8')) as { failures: number; lastError?: unknown };
    assert.equal(meta.failures, 0);
    assert.equal(meta.lastError, undefined);
  });

  it('retries the nonces Pebble rejects and still gets the certificate', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort, nonceReject: 50 });
    const root = await pebble.root();
    // Three sites, three orders: about twenty signed requests, so that Pebble rejecting none of them
    // (0.5^20) does not leave the retry untested; one order is too few (0.5^8 = 1 in 256 runs).
    const names = ['nonce.example.com', 'nonce-a.example.com', 'nonce-b.example.com'];
    const server = await startAcmeServer(t, {
      dir,
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caFile,
      httpPort,
      sites: names.map((name, i) => ({ name: `site${i}`, domains: [name] })),
    });
    for (const name of names) {
      const seen = await waitFor(async () => {
        const probe = await handshake(server.httpsPort, name, root);
        return probe.authorized ? probe : undefined;
      }, `a certificate for ${name} despite rejected nonces`, 60_000);
      assert.ok(pebble.issued().includes(seen.serial));
    }
    // Pebble does not log its rejections; the library retrying shows as the same request sent again.
    assert.match(pebble.output(), /(POST \/[a-z-]+\/?) -> calling handler\(\)\n[^\n]*\1 -> calling handler/);
  });
});
