import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { directoryId } from '../../src/acme/acme-session.ts';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { handshake, startAcmeServer, waitFor, writeAcmeConfig } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

/** The first handshake for `name` that verifies against `root`. */
function valid(port: number, name: string, root: string) {
  return async () => {
    const seen = await handshake(port, name, root);
    return seen.authorized ? seen : undefined;
  };
}

describe('ACME settings against Pebble', () => {
  it('binds the account with External Account Binding when the CA requires it, and explains the refusal without it', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    // Pebble's HMAC keys are base64url; this one is 32 random-looking bytes.
    const hmac = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
    const pebble = await startPebble(t, dir, { httpPort, eabKeys: { 'kid-berth': hmac } });
    const root = await pebble.root();

    const without = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['eab.example.com'] }] });
    const refused = await waitFor(() => without.logs.find((line) => line.code === 'E_ACME_ORDER'), 'a refused account');
    assert.match(String(refused.msg), /refused creating the ACME account: .*(external account|externalAccountBinding)/i);
    await without.stop();
    const keyFile = join(dir, 'data', 'acme', directoryId(pebble.directoryUrl), 'account.key.pem');
    const keyBefore = await readFile(keyFile, 'utf8');

    await writeFile(join(dir, 'eab.key'), `${hmac}\n`);
    const withEab = await startAcmeServer(t, {
      dir,
      directoryUrl: pebble.directoryUrl,
      caFile: pebble.caFile,
      httpPort,
      acme: `[acme.eab]\nkid = "kid-berth"\nhmac_key_file = "${join(dir, 'eab.key')}"`,
      sites: [{ name: 'blog', domains: ['eab.example.com'] }],
    });
    const seen = await waitFor(valid(withEab.httpsPort, 'eab.example.com', root), 'a certificate through a bound account');
    assert.equal(pebble.issued().at(-1), seen.serial);
    // The key made for the refused registration was registered, not replaced.
    assert.equal(await readFile(keyFile, 'utf8'), keyBefore);
  });

  it('orders names under .internal, .lan, .home.arpa and .test, and a single label, from a private CA such as Pebble', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const names = ['lab.internal', 'nas.lan', 'router.home.arpa', 'site.test', 'printer'];
    const server = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'lab', domains: ['localhost', '127.0.0.1', ...names] }] });
    const seen = await waitFor(valid(server.httpsPort, 'lab.internal', root), 'a certificate for private names');
    assert.deepEqual([...seen.names].sort(), [...names].sort(), 'every name but localhost and the IP literal');
    assert.equal(pebble.issued().at(-1), seen.serial);
  });

  it('orders without a profile, with a warning, from a CA that offers none', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const server = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, acme: 'profile = "shortlived"', sites: [{ name: 'blog', domains: ['profile.example.com'] }] });
    await waitFor(valid(server.httpsPort, 'profile.example.com', root), 'a certificate');
    const warning = server.logs.find((line) => line.msg === 'the CA does not offer this certificate profile; ordering its default');
    assert.ok(warning);
    assert.equal(warning.profile, 'shortlived');
  });

  it('trusts what Node trusts by default for the CA\'s HTTPS: a CA given by NODE_EXTRA_CA_CERTS needs no ca_file', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const httpsPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const config = await writeAcmeConfig({ dir, directoryUrl: pebble.directoryUrl, caFile: undefined, httpPort, httpsPort, sites: [{ name: 'blog', domains: ['extra-ca.example.com'] }] });
    // Node reads NODE_EXTRA_CA_CERTS once, as it starts: a berth serve of its own.
    const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
    const child = spawn(process.execPath, [cli, 'serve', '--config', config], { env: { ...process.env, NODE_EXTRA_CA_CERTS: pebble.caFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    onCleanup(t, async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    });
    // The port refuses connections until the server listens.
    const check = valid(httpsPort, 'extra-ca.example.com', root);
    const seen = await waitFor(() => check().catch(() => undefined), 'a certificate from a CA trusted through NODE_EXTRA_CA_CERTS').catch((error: unknown) => {
      throw new Error(`${String(error)}; berth serve wrote: ${output.slice(-3000)}`);
    });
    assert.equal(pebble.issued().at(-1), seen.serial);
    assert.doesNotMatch(output, /E_ACME_UNREACHABLE/);
  });

  it('refuses a CA whose TLS certificate is not trusted, and a ca_file that is not a certificate', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    // A root that has nothing to do with Pebble's API certificate (and the system roots do not have it either).
    const unrelated = join(dir, 'unrelated-root.pem');
    await writeFile(unrelated, (await createSelfSignedCertificate(['unrelated.example'])).cert);
    const untrusted = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: unrelated, httpPort, sites: [{ name: 'blog', domains: ['trust.example.com'] }] });
    const failure = await waitFor(() => untrusted.logs.find((line) => line.code === 'E_ACME_UNREACHABLE'), 'an untrusted CA');
    assert.match(String(failure.msg), /TLS certificate is not trusted; for a private CA set acme\.ca_file/);
    await untrusted.stop();

    await writeFile(join(dir, 'not-a-cert.pem'), 'hello\n');
    const broken = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: join(dir, 'not-a-cert.pem'), httpPort, sites: [{ name: 'blog', domains: ['trust.example.com'] }] });
    const caFile = await waitFor(() => broken.logs.find((line) => line.code === 'E_ACME_CA_FILE'), 'a bad ca_file');
    assert.match(String(caFile.msg), /Cannot use acme\.ca_file .*not-a-cert\.pem: no PEM certificate in it/);
    assert.deepEqual(pebble.issued(), []);
  });

  it('orders at once when a domain is added, while the old certificate keeps its names', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const first = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['grow.example.com'] }] });
    const one = await waitFor(valid(first.httpsPort, 'grow.example.com', root), 'the first certificate');
    await first.stop();

    const second = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['grow.example.com', 'www.grow.example.com'] }] });
    // Before the new order completes the old certificate still serves its name.
    const early = await handshake(second.httpsPort, 'grow.example.com', root);
    assert.equal(early.authorized, true);
    const both = await waitFor(valid(second.httpsPort, 'www.grow.example.com', root), 'a certificate with the added name');
    assert.deepEqual([...both.names].sort(), ['grow.example.com', 'www.grow.example.com']);
    assert.notEqual(both.serial, one.serial);
    assert.equal((await handshake(second.httpsPort, 'grow.example.com', root)).serial, both.serial);
    assert.ok(second.logs.some((line) => line.msg === 'ordering a certificate' && line.reason === 'the configured names changed'));

    // Removing it again orders a certificate without it.
    await second.stop();
    const third = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['grow.example.com'] }] });
    const single = await waitFor(async () => {
      const seen = await handshake(third.httpsPort, 'grow.example.com', root);
      return seen.authorized && seen.serial !== both.serial ? seen : undefined;
    }, 'a certificate without the removed name');
    assert.deepEqual(single.names, ['grow.example.com']);
    assert.equal(pebble.issued().length, 3);
  });

  it('keeps serving the old certificate for its names when a new first domain is put before them and the CA is away', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort });
    const root = await pebble.root();
    const first = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['kept.example.com'] }] });
    const old = await waitFor(valid(first.httpsPort, 'kept.example.com', root), 'the first certificate');
    await first.stop();
    await pebble.stop();

    const second = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['new.example.com', 'kept.example.com'] }] });
    // Stored under kept.example.com, the site's key is now new.example.com: the old certificate still serves its name.
    const seen = await handshake(second.httpsPort, 'kept.example.com', root);
    assert.equal(seen.authorized, true);
    assert.equal(seen.serial, old.serial);
    assert.equal((await handshake(second.httpsPort, 'new.example.com', root)).authorized, false);
    await waitFor(() => second.logs.find((line) => line.code === 'E_ACME_UNREACHABLE'), 'the failed order for the new names');
    assert.equal((await handshake(second.httpsPort, 'kept.example.com', root)).serial, old.serial, 'a failed order does not take it away');
  });
});

