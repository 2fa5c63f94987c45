import assert from 'node:assert/strict';
import { webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { parseRenewalInfo, renewalInfoId } from '../../src/acme/renewal-info.ts';
import { isBerthError } from '../../src/errors.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const HOUR = 3_600_000;
const now = new Date('2025-01-01T12:00:00Z');

const RFC_EXAMPLE = '{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},"explanationURL":"https://acme.example.com/docs/ari"}';

function isOrderError(error: unknown): boolean {
  assert.ok(isBerthError(error), `expected a BerthError, got ${String(error)}`);
  assert.equal(error.code, 'E_ACME_ORDER');
  return true;
}

/** How long after `now` the renewal information says to ask again. */
function refetchIn(retryAfter: string | undefined): number {
  return parseRenewalInfo(RFC_EXAMPLE, retryAfter, now).fetchAfter.getTime() - now.getTime();
}

describe('parseRenewalInfo', () => {
  it('reads the RFC 9773 example response', () => {
    const info = parseRenewalInfo(RFC_EXAMPLE, undefined, now);
    assert.equal(info.start.toISOString(), '2025-01-02T04:00:00.000Z');
    assert.equal(info.end.toISOString(), '2025-01-03T04:00:00.000Z');
    assert.equal(info.explanationUrl, 'https://acme.example.com/docs/ari');
  });

  it('leaves the explanation URL undefined when it is absent or not a string', () => {
    const window = { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' };
    assert.equal(parseRenewalInfo(JSON.stringify({ suggestedWindow: window }), undefined, now).explanationUrl, undefined);
    assert.equal(parseRenewalInfo(JSON.stringify({ suggestedWindow: window, explanationURL: 42 }), undefined, now).explanationUrl, undefined);
  });

  it('accepts a window whose end equals its start', () => {
    const info = parseRenewalInfo('{"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-02T04:00:00Z"}}', undefined, now);
    assert.equal(info.start.getTime(), info.end.getTime());
  });

  it('asks again in six hours when there is no Retry-After', () => {
    assert.equal(refetchIn(undefined), 6 * HOUR);
  });

  it('reads Retry-After as seconds', () => {
    assert.equal(refetchIn('3600'), HOUR);
    assert.equal(refetchIn('120'), 120_000);
    assert.equal(refetchIn(' 7200 '), 2 * HOUR);
  });

  it('reads Retry-After as an HTTP date', () => {
    assert.equal(refetchIn('Wed, 01 Jan 2025 15:00:00 GMT'), 3 * HOUR);
    assert.equal(refetchIn(new Date(now.getTime() + 90 * 60_000).toUTCString()), 90 * 60_000);
  });

  it('asks again no sooner than a minute, whatever Retry-After says', () => {
    assert.equal(refetchIn('0'), 60_000);
    assert.equal(refetchIn('1'), 60_000);
    assert.equal(refetchIn('59'), 60_000);
    assert.equal(refetchIn('Wed, 01 Jan 2025 11:00:00 GMT'), 60_000);
    assert.equal(refetchIn('Thu, 01 Jan 1970 00:00:00 GMT'), 60_000);
  });

  it('asks again no later than a day, whatever Retry-After says', () => {
    assert.equal(refetchIn('86400'), 24 * HOUR);
    assert.equal(refetchIn('86401'), 24 * HOUR);
    assert.equal(refetchIn('999999999999999999999'), 24 * HOUR);
    assert.equal(refetchIn('Fri, 01 Jan 2100 00:00:00 GMT'), 24 * HOUR);
  });

  it('asks again in six hours when Retry-After is garbage', () => {
    for (const garbage of ['', 'soon', 'in 5 minutes', '60s', '1e3', '0x10']) {
      assert.equal(refetchIn(garbage), 6 * HOUR, JSON.stringify(garbage));
    }
  });

  it('asks again in six hours when Retry-After is garbage that V8 reads as a date', () => {
    for (const garbage of ['never 2', 'abc 12', 'Retry 10', '-5', '1.5']) {
      assert.equal(refetchIn(garbage), 6 * HOUR, JSON.stringify(garbage));
    }
  });

  it('rejects a body that is not JSON', () => {
    for (const body of ['', 'not json', '<html>502 Bad Gateway</html>', '{"suggestedWindow":']) {
      assert.throws(() => parseRenewalInfo(body, undefined, now), isOrderError, JSON.stringify(body));
    }
  });

  it('rejects JSON that is not an object with a suggested window', () => {
    for (const body of ['null', '[]', '[{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"}]', '"text"', '42', 'true', '{}', '{"suggestedWindow":null}', '{"suggestedWindow":"2025-01-02"}', '{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"}']) {
      assert.throws(() => parseRenewalInfo(body, undefined, now), isOrderError, body);
    }
  });

  it('rejects a window with a missing, non-string or invalid time', () => {
    const windows = [
      { end: '2025-01-03T04:00:00Z' },
      { start: '2025-01-02T04:00:00Z' },
      { start: 1735790400000, end: 1735876800000 },
      { start: '2025-01-02T04:00:00Z', end: null },
      { start: ['2025-01-02T04:00:00Z'], end: '2025-01-03T04:00:00Z' },
      { start: 'not a date', end: '2025-01-03T04:00:00Z' },
      { start: '2025-01-02T04:00:00Z', end: '2025-13-45T99:00:00Z' },
      { start: '', end: '' },
    ];
    for (const suggestedWindow of windows) {
      assert.throws(() => parseRenewalInfo(JSON.stringify({ suggestedWindow }), undefined, now), isOrderError, JSON.stringify(suggestedWindow));
    }
  });

  it('rejects a window that ends before it starts', () => {
    const body = '{"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}}';
    assert.throws(() => parseRenewalInfo(body, undefined, now), isOrderError);
  });

  it('rejects a huge body of junk', () => {
    const junk = '\u0000{]"<>'.repeat(500_000);
    assert.throws(() => parseRenewalInfo(junk, '3600', now), isOrderError);
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.throws(() => parseRenewalInfo(deep, undefined, now), isOrderError);
  });
});

interface TestCa {
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

/** A self-signed CA whose SubjectKeyIdentifier (and AuthorityKeyIdentifier) is `keyId`. */
async function createCa(keyId: string): Promise<TestCa> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Berth Test CA',
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2026-01-01T00:00:00Z'),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectKeyIdentifierExtension(keyId),
      new x509.AuthorityKeyIdentifierExtension(keyId),
    ],
  });
  return { cert, keys };
}

/** A leaf signed by `ca`, with the given serial and (unless null) an AuthorityKeyIdentifier. */
async function createLeaf(ca: TestCa, serialNumber: string, authorityKeyId: string | null): Promise<x509.X509Certificate> {
  const keys = await generateKeys();
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'example.com' }])];
  if (authorityKeyId !== null) extensions.push(new x509.AuthorityKeyIdentifierExtension(authorityKeyId));
  return x509.X509CertificateGenerator.create({
    serialNumber,
    subject: 'CN=example.com',
    issuer: ca.cert.subject,
    notBefore: new Date('2025-01-01T00:00:00Z'),
    notAfter: new Date('2025-04-01T00:00:00Z'),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
}

/** Reads one DER TLV at `offset`: its tag, and where its content starts and ends. */
function readTlv(der: Uint8Array, offset: number): { tag: number; start: number; end: number } {
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] as number);
    start += count;
  }
  return { tag, start, end: start + length };
}

/** The content bytes of the serialNumber INTEGER, read straight from the certificate's DER. */
function serialDerContent(cert: x509.X509Certificate): Buffer {
  const der = new Uint8Array(cert.rawData);
  const certificate = readTlv(der, 0);
  const tbs = readTlv(der, certificate.start);
  let field = readTlv(der, tbs.start);
  if (field.tag === 0xa0) field = readTlv(der, field.end); // the explicit [0] version
  assert.equal(field.tag, 0x02, 'serialNumber is an INTEGER');
  return Buffer.from(der.subarray(field.start, field.end));
}

const KEY_ID = '0123456789abcdef0123456789abcdef01234567';

describe('renewalInfoId', () => {
  it('joins the base64url AKI key id and serial DER bytes with a dot', async () => {
    const ca = await createCa(KEY_ID);
    const leaf = await createLeaf(ca, '0a1b2c3d4e5f', KEY_ID);
    const serial = serialDerContent(leaf);
    assert.deepEqual(serial, Buffer.from('0a1b2c3d4e5f', 'hex'));
    const expected = `${Buffer.from(KEY_ID, 'hex').toString('base64url')}.${serial.toString('base64url')}`;
    assert.equal(await renewalInfoId(leaf.toString('pem')), expected);
    assert.equal(expected, 'ASNFZ4mrze8BI0VniavN7wEjRWc.ChssPU5f');
  });

  it('keeps the leading zero byte DER needs for a serial whose first byte is 0x80 or more', async () => {
    const ca = await createCa(KEY_ID);
    const leaf = await createLeaf(ca, 'f00dcafe01', KEY_ID);
    const serial = serialDerContent(leaf);
    assert.deepEqual(serial, Buffer.from('00f00dcafe01', 'hex'));
    assert.equal(await renewalInfoId(leaf.toString('pem')), `${Buffer.from(KEY_ID, 'hex').toString('base64url')}.${serial.toString('base64url')}`);
  });

  it('handles a one-byte serial and a long random one like a real CA issues', async () => {
    const ca = await createCa(KEY_ID);
    for (const hex of ['05', '7f', '80', Buffer.from(webcrypto.getRandomValues(new Uint8Array(18))).toString('hex')]) {
      const leaf = await createLeaf(ca, hex, KEY_ID);
      const [, serialPart] = (await renewalInfoId(leaf.toString('pem'))).split('.');
      assert.equal(serialPart, serialDerContent(leaf).toString('base64url'), hex);
    }
  });

  it('uses the key id of the AuthorityKeyIdentifier, not the issuer key it was signed with', async () => {
    const ca = await createCa(KEY_ID);
    const other = 'fedcba9876543210fedcba9876543210fedcba98';
    const leaf = await createLeaf(ca, '1234', other);
    const [keyPart] = (await renewalInfoId(leaf.toString('pem'))).split('.');
    assert.equal(keyPart, Buffer.from(other, 'hex').toString('base64url'));
  });

  it('reproduces the RFC 9773 section 4.1 example', async () => {
    const keyId = '69885b6b87464041e1b37b847ba0ae2cde01c8d4';
    const ca = await createCa(keyId);
    const leaf = await createLeaf(ca, '0087654321', keyId);
    assert.deepEqual(serialDerContent(leaf), Buffer.from('0087654321', 'hex'));
    assert.equal(new NodeX509Certificate(leaf.toString('pem')).serialNumber, '87654321');
    assert.equal(await renewalInfoId(leaf.toString('pem')), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('takes the id from the first certificate of a PEM chain', async () => {
    const ca = await createCa(KEY_ID);
    const leaf = await createLeaf(ca, '0a1b2c', 'aa'.repeat(20));
    const leafId = await renewalInfoId(leaf.toString('pem'));
    const caId = await renewalInfoId(ca.cert.toString('pem'));
    assert.notEqual(leafId, caId);
    assert.equal(await renewalInfoId(`${leaf.toString('pem')}\n${ca.cert.toString('pem')}\n`), leafId);
    assert.equal(await renewalInfoId(`${ca.cert.toString('pem')}\n${leaf.toString('pem')}\n`), caId);
    assert.equal(await renewalInfoId(`subject=CN = example.com\n\n${leaf.toString('pem')}\n${ca.cert.toString('pem')}`), leafId);
  });

  it('rejects a certificate without an Authority Key Identifier', async () => {
    const ca = await createCa(KEY_ID);
    const leaf = await createLeaf(ca, '0a1b2c', null);
    assert.equal(leaf.getExtension(x509.AuthorityKeyIdentifierExtension), null);
    await assert.rejects(renewalInfoId(leaf.toString('pem')), isOrderError);
    await assert.rejects(renewalInfoId(`${leaf.toString('pem')}\n${ca.cert.toString('pem')}`), isOrderError);
  });
});
