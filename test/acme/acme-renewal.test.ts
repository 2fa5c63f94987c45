import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { renewalInfoId } from '../../src/acme/renewal-info.ts';
import { checkedSince, handshake, startAcmeServer, waitFor, type Handshake } from '../helpers/acme.ts';
import { startAriProxy } from '../helpers/ari-proxy.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

interface Meta {
  names?: string[];
  directoryUrl?: string;
  obtainedAt?: string;
  failures?: number;
  nextCheck?: string;
  lastError?: { code: string; message: string };
  ari?: { start: string; end: string; chosen: string; fetchAfter: string; explanationUrl?: string };
}

const readMeta = async (dir: string, key: string): Promise<Meta> => JSON.parse(await readFile(join(dir, 'data', 'certs', key, 'meta.json'), 'utf8')) as Meta;

function getJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    httpsRequest(url, { ca }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    })
      .on('error', reject)
      .end();
  });
}

/** Pebble, and the proxy that adds RFC 9773 renewal information in front of it, in a new directory. */
async function pebbleBehindAriProxy(t: TestContext) {
  const dir = await tempDir(t);
  const httpPort = await freePort();
  const pebble = await startPebble(t, dir, { httpPort });
  const proxy = await startAriProxy(dir, pebble);
  t.after(() => proxy.close());
  return { dir, httpPort, pebble, proxy, root: await pebble.root() };
}

/** The first certificate with serial other than `not`, valid against `root`. */
function servedOtherThan(port: number, name: string, root: string, not: string | undefined) {
  return async (): Promise<Handshake | undefined> => {
    const seen = await handshake(port, name, root);
    return seen.authorized && seen.serial !== not ? seen : undefined;
  };
}

describe('ACME renewal', () => {
  it('renews a short-lived certificate when a third of its lifetime is left (Pebble offers no ARI)', async (t) => {
    const dir = await tempDir(t);
    const httpPort = await freePort();
    const pebble = await startPebble(t, dir, { httpPort, validitySeconds: 15 });
    const root = await pebble.root();
    // Debian's Pebble 2.4 has no renewalInfo in its directory, so the lifetime rule applies.
    assert.equal((await getJson(pebble.directoryUrl, await readFile(pebble.caFile, 'utf8'))).renewalInfo, undefined);
    const server = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites: [{ name: 'blog', domains: ['short.example.com'] }] });

    const first = await waitFor(servedOtherThan(server.httpsPort, 'short.example.com', root, undefined), 'the first certificate');
    const firstPem = await readFile(join(dir, 'data', 'certs', 'short.example.com', 'cert.pem'), 'utf8');
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(firstPem);
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    const due = notAfter - (notAfter - notBefore) / 3;

    const second = await waitFor(servedOtherThan(server.httpsPort, 'short.example.com', root, first.serial), 'the renewed certificate', 30_000);
    const meta = await readMeta(dir, 'short.example.com');
    const renewedAt = Date.parse(meta.obtainedAt ?? '');
    // Certificate times have whole seconds: allow one either side.
    assert.ok(renewedAt >= due - 1_000, `renewed at ${new Date(renewedAt).toISOString()}, before the renewal time ${new Date(due).toISOString()}`);
    assert.ok(renewedAt < notAfter, 'renewed before the old certificate expired');
    assert.equal(meta.ari, undefined);
    assert.deepEqual(pebble.issued(), [first.serial, second.serial]);
    assert.ok(server.logs.some((line) => line.msg === 'ordering a certificate' && line.reason === 'renewal is due'));
  });

  it('keeps the moment it chose inside a future ARI window and does not renew before it', async (t) => {
    const { dir, httpPort, pebble, proxy, root } = await pebbleBehindAriProxy(t);
    const start = new Date(Date.now() + 3 * 86_400_000);
    const end = new Date(Date.now() + 4 * 86_400_000);
    proxy.window = () => ({ start, end });
    const server = await startAcmeServer(t, { dir, directoryUrl: proxy.directoryUrl, caFile: proxy.caFile, httpPort, sites: [{ name: 'blog', domains: ['window.example.com'] }] });
    const first = await waitFor(servedOtherThan(server.httpsPort, 'window.example.com', root, undefined), 'the first certificate');

    const meta = await waitFor(async () => {
      const read = await readMeta(dir, 'window.example.com');
      return read.ari === undefined ? undefined : read;
    }, 'renewal information in meta.json');
    const ari = meta.ari;
    assert.ok(ari !== undefined);
    assert.equal(ari.start, start.toISOString());
    assert.equal(ari.end, end.toISOString());
    const chosen = Date.parse(ari.chosen);
    assert.ok(chosen >= start.getTime() && chosen <= end.getTime(), `chosen ${ari.chosen} is inside the window`);
    assert.equal(ari.explanationUrl, 'https://ca.example/why');
    // Retry-After: 60 from the CA: not asked again before then.
    assert.ok(Date.parse(ari.fetchAfter) - Date.now() > 30_000);
    // The id asked for is the RFC 9773 id of the served certificate.
    const pem = await readFile(join(dir, 'data', 'certs', 'window.example.com', 'cert.pem'), 'utf8');
    assert.deepEqual([...new Set(proxy.asked)], [await renewalInfoId(pem)]);
    // A check that runs from here on sees the window ahead and orders nothing.
    await checkedSince(join(dir, 'data'), 'window.example.com', Date.now());
    assert.deepEqual(pebble.issued(), [first.serial], 'nothing renewed before the window');
    assert.equal(proxy.orders.length, 1);
    assert.equal(proxy.orders[0]?.replaces, undefined, 'a first order replaces nothing');
  });

  it('renews inside a past ARI window with `replaces`, keeps serving the old certificate while the CA refuses, and backs off', async (t) => {
    const { dir, httpPort, pebble, proxy, root } = await pebbleBehindAriProxy(t);
    // The CA wants the first certificate replaced now (as after a revocation
    // announcement), and its successor in a few days...
    const past = { start: new Date(Date.now() - 2 * 3_600_000), end: new Date(Date.now() - 3_600_000) };
    const later = { start: new Date(Date.now() + 3 * 86_400_000), end: new Date(Date.now() + 4 * 86_400_000) };
    proxy.window = (_id, index) => (index === 0 ? past : later);
    // ...but refuses every order after the first one for a while.
    proxy.allowOrders = 1;
    const server = await startAcmeServer(t, { dir, directoryUrl: proxy.directoryUrl, caFile: proxy.caFile, httpPort, sites: [{ name: 'blog', domains: ['ari.example.com'] }] });
    const first = await waitFor(servedOtherThan(server.httpsPort, 'ari.example.com', root, undefined), 'the first certificate');
    const firstPem = await readFile(join(dir, 'data', 'certs', 'ari.example.com', 'cert.pem'), 'utf8');

    const failures = await waitFor(() => {
      const lines = server.logs.filter((line) => line.code === 'E_ACME_ORDER' && typeof line.attempt === 'number');
      return lines.length >= 3 ? lines : undefined;
    }, 'three failed renewals');
    // The first: a certificate due the moment it was obtained is not ordered again at once (no order loop).
    assert.match(String(failures[0]?.msg), /moments ago cannot be used as it is \(renewal is due\); not ordering again right away/);
    assert.deepEqual(failures.slice(0, 3).map((line) => line.retryIn), ['1s', '2s', '4s']);
    // The certificate is far from expiry, so a failed renewal is a warning, not an error.
    assert.equal(failures[1]?.level, 'warn');
    assert.match(String(failures[1]?.msg), /refusing new orders.*the current certificate expires in/);
    const during = await handshake(server.httpsPort, 'ari.example.com', root);
    assert.equal(during.authorized, true);
    assert.equal(during.serial, first.serial, 'the old certificate is still served');
    const failed = await readMeta(dir, 'ari.example.com');
    assert.ok((failed.failures ?? 0) >= 2);
    assert.equal(failed.lastError?.code, 'E_ACME_ORDER');

    proxy.allowOrders = Number.POSITIVE_INFINITY;
    const renewed = await waitFor(servedOtherThan(server.httpsPort, 'ari.example.com', root, first.serial), 'the renewed certificate', 30_000);
    assert.deepEqual(pebble.issued(), [first.serial, renewed.serial]);
    const id = await renewalInfoId(firstPem);
    const renewalOrders = proxy.orders.slice(1);
    // Each try names the certificate it replaces; refused, it asks once more without (a CA may refuse `replaces` alone).
    const naming = renewalOrders.filter((order) => order.replaces !== undefined);
    assert.ok(naming.length >= 3);
    for (const order of naming) assert.equal(order.replaces, id);
    assert.equal(renewalOrders.at(-1)?.replaces, id, 'the order that succeeded named the certificate it replaces');
    assert.ok(server.logs.some((line) => line.msg === 'the CA refused the order naming the certificate it replaces; ordering without'));
    const meta = await readMeta(dir, 'ari.example.com');
    assert.equal(meta.failures, 0);
    assert.equal(meta.lastError, undefined);
    // The new certificate's window is days away: no further renewal.
    await checkedSince(join(dir, 'data'), 'ari.example.com', Date.now());
    assert.equal(pebble.issued().length, 2);
  });

  it('replaces a certificate from another CA at the next start', async (t) => {
    const { dir, httpPort, pebble, proxy, root } = await pebbleBehindAriProxy(t);
    const sites = [{ name: 'blog', domains: ['moved.example.com'] }];
    const before = await startAcmeServer(t, { dir, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, httpPort, sites });
    const first = await waitFor(servedOtherThan(before.httpsPort, 'moved.example.com', root, undefined), 'the first certificate');
    await before.stop();
    assert.equal((await readMeta(dir, 'moved.example.com')).directoryUrl, pebble.directoryUrl);

    // Another directory URL stands for another CA (as when leaving letsencrypt-staging).
    const after = await startAcmeServer(t, { dir, directoryUrl: proxy.directoryUrl, caFile: proxy.caFile, httpPort, sites });
    const second = await waitFor(servedOtherThan(after.httpsPort, 'moved.example.com', root, first.serial), 'a certificate from the new CA');
    assert.ok(after.logs.some((line) => line.msg === 'ordering a certificate' && String(line.reason).startsWith('the certificate is from another CA')));
    assert.deepEqual(pebble.issued(), [first.serial, second.serial]);
    assert.equal((await readMeta(dir, 'moved.example.com')).directoryUrl, proxy.directoryUrl);
  });
});
