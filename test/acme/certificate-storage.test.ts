import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import * as x509 from '@peculiar/x509';
import { certificateInfo, createFileStorage, type RenewalState } from '../../src/acme/certificate-storage.ts';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';
import { tempDir } from '../helpers/temp.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const NOT_BEFORE = new Date('2025-03-01T10:20:30Z');
const NOT_AFTER = new Date('2025-05-30T10:20:30Z');

interface Issued {
  cert: string;
  key: string;
  /** The issuing CA's certificate. */
  ca: string;
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

/** A certificate for `names` (DNS, or IP when it looks like one) issued by a small test CA, with its key. */
async function issue(names: string[], serialNumber = 'abcdef0123'): Promise<Issued> {
  const caKeys = await generateKeys();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Berth Test CA, O=Berth Tests',
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2026-01-01T00:00:00Z'),
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const keys = await generateKeys();
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: `CN=${names[0] ?? 'example.com'}`,
    issuer: ca.subject,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names.map((name) => (/^[\d.]+$|:/.test(name) ? { type: 'ip', value: name } : { type: 'dns', value: name }))),
    ],
  });
  return { cert: `${leaf.toString('pem')}\n`, key: await pkcs8Pem(keys.privateKey), ca: `${ca.toString('pem')}\n` };
}

async function dataDir(t: TestContext): Promise<string> {
  return join(await tempDir(t, 'berth-certs-'), 'data');
}

/** Storage in a new data dir holding a certificate for example.com (serial 01), and the next one (serial 02), not saved. */
async function storedWithNext(t: TestContext) {
  const dir = await dataDir(t);
  const storage = createFileStorage(dir);
  const stored = await issue(['example.com'], '01');
  const next = await issue(['example.com'], '02');
  await storage.save('example.com', stored);
  return { dir, storage, stored, next, certDir: join(dir, 'certs', 'example.com') };
}

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

describe('certificateInfo', () => {
  it('reads names, dates, serial and issuer', async () => {
    const issued = await issue(['Example.COM', 'WWW.example.com', '192.0.2.1', 'blog.example.com'], 'ABCDEF0123');
    const info = certificateInfo(issued.cert);
    assert.deepEqual(info.names, ['example.com', 'www.example.com', 'blog.example.com']);
    assert.equal(info.notBefore.toISOString(), NOT_BEFORE.toISOString());
    assert.equal(info.notAfter.toISOString(), NOT_AFTER.toISOString());
    assert.equal(info.serial, 'abcdef0123');
    assert.equal(info.issuer, 'Berth Test CA');
  });

  it('reads the first certificate of a chain', async () => {
    const issued = await issue(['example.com'], '1234');
    const info = certificateInfo(`${issued.cert}${issued.ca}`);
    assert.deepEqual(info.names, ['example.com']);
    assert.equal(info.serial, '1234');
  });

  it('reads a serial with a high first bit without the DER sign byte', async () => {
    const issued = await issue(['example.com'], '8badf00d');
    assert.equal(certificateInfo(issued.cert).serial, '8badf00d');
  });

  it('reads a self-signed certificate made by Berth', async () => {
    const now = new Date('2025-06-01T00:00:00Z');
    const pair = await createSelfSignedCertificate(['Example.org'], now);
    const info = certificateInfo(pair.cert);
    assert.deepEqual(info.names, ['example.org', 'localhost']);
    assert.equal(info.issuer, 'Example.org');
    assert.equal(info.notBefore.toISOString(), '2025-05-31T23:00:00.000Z');
    assert.equal(info.notAfter.toISOString(), '2025-08-30T00:00:00.000Z');
    assert.match(info.serial, /^[0-9a-f]+$/);
  });
});

describe('file certificate storage', () => {
  it('loads what it saved, with what the certificate says about itself', async (t) => {
    const dir = await dataDir(t);
    const storage = createFileStorage(dir);
    const issued = await issue(['example.com', 'WWW.Example.com']);
    await storage.save('example.com', issued);
    const loaded = await storage.load('example.com');
    assert.ok(loaded);
    assert.equal(loaded.cert, issued.cert);
    assert.equal(loaded.key, issued.key);
    assert.deepEqual(loaded.info, certificateInfo(issued.cert));
    assert.deepEqual(loaded.info.names, ['example.com', 'www.example.com']);
    assert.equal(loaded.info.serial, 'abcdef0123');
    assert.equal(loaded.info.issuer, 'Berth Test CA');
    assert.deepEqual((await readdir(join(dir, 'certs', 'example.com'))).sort(), ['cert.pem', 'key.pem']);
    // Another storage on the same data directory (another process) sees it too.
    assert.equal((await createFileStorage(dir).load('example.com'))?.cert, issued.cert);
  });

  it('round-trips a self-signed pair and a certificate chain', async (t) => {
    const storage = createFileStorage(await dataDir(t));
    const pair = await createSelfSignedCertificate(['example.net']);
    await storage.save('example.net', pair);
    assert.deepEqual((await storage.load('example.net'))?.info.names, ['example.net', 'localhost']);
    const issued = await issue(['chain.example.com']);
    const chain = `${issued.cert}${issued.ca}`;
    await storage.save('chain.example.com', { cert: chain, key: issued.key });
    const loaded = await storage.load('chain.example.com');
    assert.equal(loaded?.cert, chain);
    assert.deepEqual(loaded.info.names, ['chain.example.com']);
  });

  it('replaces the stored pair on a second save', async (t) => {
    const storage = createFileStorage(await dataDir(t));
    const first = await issue(['example.com'], '01');
    const second = await issue(['example.com'], '02');
    await storage.save('example.com', first);
    await storage.save('example.com', second);
    const loaded = await storage.load('example.com');
    assert.equal(loaded?.cert, second.cert);
    assert.equal(loaded.key, second.key);
    assert.equal(loaded.info.serial, '02');
  });

  it('writes files 0600 in directories 0700', async (t) => {
    const dir = await dataDir(t);
    const storage = createFileStorage(dir);
    await storage.save('example.com', await issue(['example.com']));
    await storage.saveState('example.com', { names: ['example.com'] });
    const certDir = join(dir, 'certs', 'example.com');
    assert.equal(await mode(join(dir, 'certs')), 0o700);
    assert.equal(await mode(certDir), 0o700);
    assert.equal(await mode(join(certDir, 'cert.pem')), 0o600);
    assert.equal(await mode(join(certDir, 'key.pem')), 0o600);
    assert.equal(await mode(join(certDir, 'meta.json')), 0o600);
  });

  it('loads nothing when nothing was saved', async (t) => {
    const storage = createFileStorage(await dataDir(t));
    assert.equal(await storage.load('example.com'), undefined);
  });

  it('loads nothing when the key does not belong to the certificate', async (t) => {
    const storage = createFileStorage(await dataDir(t));
    const one = await issue(['example.com']);
    const other = await issue(['example.com']);
    await storage.save('example.com', { cert: one.cert, key: other.key });
    assert.equal(await storage.load('example.com'), undefined);
  });

  it('loads nothing when cert.pem is garbage or key.pem is missing', async (t) => {
    const dir = await dataDir(t);
    const storage = createFileStorage(dir);
    const issued = await issue(['example.com']);
    await storage.save('example.com', issued);
    await writeFile(join(dir, 'certs', 'example.com', 'cert.pem'), 'garbage\n');
    assert.equal(await storage.load('example.com'), undefined);
    await writeFile(join(dir, 'certs', 'example.com', 'cert.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.equal(await storage.load('example.com'), undefined);

    await storage.save('other.example.com', issued);
    await rm(join(dir, 'certs', 'other.example.com', 'key.pem'));
    assert.equal(await storage.load('other.example.com'), undefined);
  });

  it('loads nothing when key.pem is empty', async (t) => {
    const dir = await dataDir(t);
    const storage = createFileStorage(dir);
    await storage.save('example.com', await issue(['example.com']));
    await writeFile(join(dir, 'certs', 'example.com', 'key.pem'), '');
    assert.equal(await storage.load('example.com'), undefined);
  });

  it('finishes a save interrupted between its two renames: the new pair is loaded and installed', async (t) => {
    const { dir, storage, next: fresh, certDir } = await storedWithNext(t);
    // The process died after renaming key.pem.new but before renaming cert.pem.new.
    await writeFile(join(certDir, 'key.pem'), fresh.key, { mode: 0o600 });
    await writeFile(join(certDir, 'cert.pem.new'), fresh.cert, { mode: 0o600 });

    const loaded = await createFileStorage(dir).load('example.com');
    assert.equal(loaded?.cert, fresh.cert);
    assert.equal(loaded.key, fresh.key);
    assert.equal(loaded.info.serial, '02');
    assert.equal(await readFile(join(certDir, 'cert.pem'), 'utf8'), fresh.cert);
    assert.deepEqual((await readdir(certDir)).sort(), ['cert.pem', 'key.pem']);
    assert.equal((await storage.load('example.com'))?.cert, fresh.cert);
  });

  it('keeps the old pair when a save died before either rename', async (t) => {
    const { storage, stored: old, next: fresh, certDir } = await storedWithNext(t);
    await writeFile(join(certDir, 'key.pem.new'), fresh.key, { mode: 0o600 });
    await writeFile(join(certDir, 'cert.pem.new'), fresh.cert, { mode: 0o600 });

    const loaded = await storage.load('example.com');
    assert.equal(loaded?.cert, old.cert);
    assert.equal(loaded.key, old.key);
    assert.equal(loaded.info.serial, '01');
    assert.equal(await readFile(join(certDir, 'cert.pem'), 'utf8'), old.cert);

    // The next save goes through despite the leftovers.
    await storage.save('example.com', fresh);
    assert.equal((await storage.load('example.com'))?.info.serial, '02');
    assert.deepEqual((await readdir(certDir)).sort(), ['cert.pem', 'key.pem']);
  });

  it('does not install a pending certificate that does not match the key', async (t) => {
    const { storage, next: other, certDir } = await storedWithNext(t);
    await writeFile(join(certDir, 'cert.pem'), 'garbage\n');
    await writeFile(join(certDir, 'cert.pem.new'), other.cert);
    assert.equal(await storage.load('example.com'), undefined);
    assert.equal(await readFile(join(certDir, 'cert.pem.new'), 'utf8'), other.cert);
  });

  describe('renewal state (meta.json)', () => {
    it('round-trips through saveState and loadState', async (t) => {
      const dir = await dataDir(t);
      const storage = createFileStorage(dir);
      const state: RenewalState = {
        names: ['example.com', 'www.example.com'],
        directoryUrl: 'https://acme.example/directory',
        obtainedAt: '2025-03-01T10:20:30.000Z',
        lastCheck: '2025-03-02T00:00:00.000Z',
        nextCheck: '2025-03-02T12:00:00.000Z',
        failures: 2,
        lastError: { code: 'E_ACME_CHALLENGE', message: 'the CA could not fetch the challenge', at: '2025-03-02T00:00:01.000Z' },
        ari: { serial: '0a1b2c', start: '2025-04-20T00:00:00Z', end: '2025-04-22T00:00:00Z', chosen: '2025-04-21T03:00:00.000Z', explanationUrl: 'https://acme.example/ari', fetchAfter: '2025-03-02T06:00:00.000Z' },
      };
      await storage.saveState('example.com', state);
      assert.deepEqual(await storage.loadState('example.com'), state);
      assert.deepEqual(await createFileStorage(dir).loadState('example.com'), state);
      const text = await readFile(join(dir, 'certs', 'example.com', 'meta.json'), 'utf8');
      assert.deepEqual(JSON.parse(text), state);
      assert.ok(text.endsWith('\n'));
    });

    it('is empty when there is no meta.json', async (t) => {
      assert.deepEqual(await createFileStorage(await dataDir(t)).loadState('example.com'), {});
    });

    it('is empty when meta.json is corrupt or not an object', async (t) => {
      const dir = await dataDir(t);
      const storage = createFileStorage(dir);
      await storage.saveState('example.com', { failures: 1 });
      const file = join(dir, 'certs', 'example.com', 'meta.json');
      for (const text of ['', '{"failures": 1', 'not json', 'null', '[]', '[{"failures":1}]', '"text"', '42', 'true']) {
        await writeFile(file, text);
        assert.deepEqual(await storage.loadState('example.com'), {}, JSON.stringify(text));
      }
    });

    it('does not disturb the certificate beside it', async (t) => {
      const storage = createFileStorage(await dataDir(t));
      const issued = await issue(['example.com']);
      await storage.save('example.com', issued);
      await storage.saveState('example.com', { failures: 3 });
      assert.equal((await storage.load('example.com'))?.cert, issued.cert);
      assert.deepEqual(await storage.loadState('example.com'), { failures: 3 });
    });
  });

  describe('storage keys', () => {
    const hostile = ['../x', 'a/b', '..', '.', 'A', 'Example.com', '', '-x', 'x-', '.hidden', 'a..b', 'a\\b', 'a\u0000b', '/etc', `${'a'.repeat(254)}`];

    it('refuses a key that is not a lower-case host name, before touching any path', async (t) => {
      const root = await tempDir(t, 'berth-certs-');
      const dir = join(root, 'data');
      const storage = createFileStorage(dir);
      const issued = await issue(['example.com']);
      for (const key of hostile) {
        const label = JSON.stringify(key);
        await assert.rejects(storage.load(key), /Not a certificate storage key/, label);
        await assert.rejects(storage.save(key, issued), /Not a certificate storage key/, label);
        await assert.rejects(storage.loadState(key), /Not a certificate storage key/, label);
        await assert.rejects(storage.saveState(key, { failures: 1 }), /Not a certificate storage key/, label);
      }
      assert.deepEqual(await readdir(root), [], 'nothing was written anywhere');
    });

    it('accepts host names, including single-label and 253-character ones', async (t) => {
      const storage = createFileStorage(await dataDir(t));
      const issued = await issue(['example.com']);
      for (const key of ['example.com', 'x', 'a-b.example.com', '192.0.2.1', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`]) {
        await storage.save(key, issued);
        assert.equal((await storage.load(key))?.cert, issued.cert, key);
      }
    });

    it('lists stored keys sorted, leaving out self-signed, files and other names', async (t) => {
      const dir = await dataDir(t);
      const storage = createFileStorage(dir);
      assert.deepEqual(await storage.keys(), []);
      const issued = await issue(['example.com']);
      await storage.save('www.example.org', issued);
      await storage.save('blog.example.com', issued);
      await storage.saveState('pending.example.net', { names: ['pending.example.net'] });
      await mkdir(join(dir, 'certs', 'self-signed'));
      await mkdir(join(dir, 'certs', 'Upper.Case'));
      await mkdir(join(dir, 'certs', '.tmp'));
      await writeFile(join(dir, 'certs', 'stray.example.com'), 'a file, not a directory');
      assert.deepEqual(await storage.keys(), ['blog.example.com', 'pending.example.net', 'www.example.org']);
    });
  });
});
