import assert from 'node:assert/strict';
import { handshake, waitFor, type Handshake } from './acme.ts';
import { getHttps, githubPush } from './docker.ts';
import type { GuideShell } from './guide.ts';
import type { Pebble } from './pebble.ts';

/**
 * The part of docs/guide.md both ways of installing share (steps 4 and 5),
 * and the checks around it: the first deploy, its log, the certificate, a
 * push through the forge's webhook, `berth certs --renew`.
 */

/** A server the guide set up: its shell, where its port 443 is, and the CA it got its certificate from. */
export interface GuideServer {
  readonly sh: GuideShell;
  readonly address: string;
  readonly pebble: Pebble;
  readonly pebbleRoot: string;
}

/**
 * The config with Pebble in place of Let's Encrypt: its directory, the
 * certificate of its API at `caPath` (as the server sees it), and a short
 * retry delay. The tests' stand-in for the reader's CA; nothing else changes.
 */
export function withPebble(config: string, pebble: Pick<Pebble, 'directoryUrl'>, caPath: string): string {
  const changed = config.replace(/^directory = "letsencrypt".*$/m, `directory = "${pebble.directoryUrl}"\nca_file = "${caPath}"\nretry_delay = "5s"`);
  assert.notEqual(changed, config, 'the config names Let\'s Encrypt as its directory');
  return changed;
}

/** Waits until `address`:443 presents a certificate for example.com that chains to Pebble's root. */
export function certifiedHandshake(server: Pick<GuideServer, 'address' | 'pebbleRoot'>, what: string): Promise<Handshake> {
  return waitFor(async () => {
    const seen = await handshake(443, 'example.com', server.pebbleRoot, server.address).catch(() => undefined);
    return seen?.authorized === true ? seen : undefined;
  }, what, 120_000, 250);
}

/** Waits until https://example.com/ on `address` serves a page containing `text`. */
export async function servedPage(server: Pick<GuideServer, 'address' | 'pebbleRoot'>, text: string, what: string): Promise<void> {
  await waitFor(async () => {
    const page = await getHttps(server.address, 443, 'example.com', '/', server.pebbleRoot).catch(() => undefined);
    return page?.body.includes(text) === true ? true : undefined;
  }, what, 120_000, 250);
}

/**
 * Step 5, then step 4's webhook: `berth deploy`, `berth deploys` and
 * `berth logs` for its id (put in place of the guide's example id), the
 * certificate, `berth certs` and curl, a push of `heading` signed with
 * `secret` as GitHub sends it, and `berth certs --renew`. Returns the first
 * deploy's id.
 */
export async function deployCertifyPush(server: GuideServer, options: { push: (heading: string) => Promise<string>; secret: string; heading: string }): Promise<string> {
  const { sh, pebble } = server;
  assert.match(await sh.run('both.deploy'), /live/);
  const list = JSON.parse(await sh.exec('berth deploys --json 2>/dev/null')) as Array<{ id: string; state: string }>;
  const id = list[0]?.id ?? '';
  assert.equal(list[0]?.state, 'live');
  sh.substitute('20261127T0855', id);
  const deploys = await sh.run('both.deploys');
  assert.ok(deploys.includes(id), deploys);

  const served = await certifiedHandshake(server, 'the certificate from Pebble');
  assert.deepEqual(served.names.toSorted(), ['example.com', 'www.example.com']);
  const certs = await sh.run('both.certs');
  assert.match(certs, /Pebble Intermediate/);
  assert.match(certs, /HTTP\/2 200/);

  const sha = await options.push(options.heading);
  const hook = await getHttps(server.address, 443, 'example.com', '/_berth/hooks/blog', server.pebbleRoot, githubPush(sha, options.secret));
  assert.equal(hook.status, 202, hook.body);
  await servedPage(server, options.heading, 'the pushed commit to be served');

  const issued = pebble.issued().length;
  await sh.run('both.renew');
  assert.equal(pebble.issued().length, issued + 1, 'berth certs --renew ordered a new certificate');
  return id;
}
