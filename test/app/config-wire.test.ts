import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { fromWire, toWire, WIRE_VERSION } from '../../src/app/config-wire.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { isBerthError } from '../../src/errors.ts';
import { tempDir } from '../helpers/temp.ts';

const WEBHOOK_SECRET = 'webhook-secret-value-0001';
const TOKEN = 'repository-token-value-01';
const EAB_KEY = 'eab-hmac-key-value-0001';
const METRICS_TOKEN = 'metrics-token-value-0001';

async function fullConfig(t: import('node:test').TestContext): Promise<ResolvedConfig> {
  const dir = await tempDir(t);
  const file = join(dir, 'berth.toml');
  await writeFile(
    file,
    [
      'data_dir = "data"',
      '[server]',
      'http_port = 8080',
      'https_port = 8443',
      'workers = 3',
      '[acme]',
      'directory = "https://localhost:14000/dir"',
      '[acme.eab]',
      'kid = "kid-1"',
      'hmac_key = "${EAB_KEY}"',
      '[metrics]',
      'listen = "[::]:9187"',
      'token = "${METRICS_TOKEN}"',
      '[[sites]]',
      'name = "blog"',
      'domains = ["example.com", "www.example.com"]',
      'repo = "https://example.com/blog.git"',
      'token_env = "BLOG_TOKEN"',
      '[sites.build]',
      'environment = { NODE_ENV = "production" }',
      '[sites.webhook]',
      'forge = "github"',
      'secret = "${HOOK}"',
      '[sites.basic_auth]',
      'users = [{ name = "ann", password = "${ANN_PASSWORD}" }]',
      '[[sites]]',
      'name = "docs"',
      'domains = ["docs.example.com"]',
    ].join('\n'),
  );
  return loadConfig(file, { HOOK: WEBHOOK_SECRET, BLOG_TOKEN: TOKEN, EAB_KEY, METRICS_TOKEN, ANN_PASSWORD: 'a long password for ann' });
}

/** The wire form as the JSON IPC channel delivers it. */
function overTheChannel(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

function isWireError(reason: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isBerthError(error), String(error));
    assert.equal(error.code, 'E_CONFIG_WIRE');
    assert.match(error.message, /^Cannot use the configuration the supervisor sent: /);
    assert.match(error.message, reason);
    return true;
  };
}

test('a config sent over the channel comes back equal, secrets wrapped again and the result frozen', async (t) => {
  const config = await fullConfig(t);
  const back = fromWire(overTheChannel(toWire(config)));
  const site = back.sites[0];
  assert.equal(site?.webhook?.secret.reveal(), WEBHOOK_SECRET);
  assert.equal(site?.webhook?.secret.source, 'env HOOK');
  assert.equal(site?.token?.reveal(), TOKEN);
  assert.equal(back.acme.eab?.hmacKey.reveal(), EAB_KEY);
  assert.equal(back.metrics.token?.reveal(), METRICS_TOKEN);
  assert.deepEqual(back.metrics.listen, { host: '::', port: 9187 });
  // Printing or logging the arrived config shows where secrets came from, never their values.
  const shown = `${inspect(back, { depth: 10 })}${JSON.stringify(back)}`;
  for (const secret of [WEBHOOK_SECRET, TOKEN, EAB_KEY, METRICS_TOKEN]) assert.ok(!shown.includes(secret), 'no secret value in the printed config');
  assert.ok(Object.isFrozen(back) && Object.isFrozen(back.server) && Object.isFrozen(back.sites[0]?.domains));
  // Everything else is what the supervisor loaded, key for key.
  assert.deepEqual(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(config)));
  assert.deepEqual(back.sites[0]?.basicAuth, config.sites[0]?.basicAuth);
  assert.equal(back.server.workers, 3);
  assert.equal(back.sites[1]?.webhook, undefined);
});

test('a config that is not of this version is refused with E_CONFIG_WIRE', async (t) => {
  const wire = overTheChannel(toWire(await fullConfig(t))) as Record<string, unknown>;
  assert.throws(() => fromWire({ ...wire, berthConfig: WIRE_VERSION + 1 }), isWireError(/not config version 1 \(got 2\); run the supervisor and its children from the same Berth installation/));
  assert.throws(() => fromWire({ config: wire.config }), isWireError(/got undefined/));
});

test('malformed messages are refused with the field that is wrong, never a value', async (t) => {
  const config = await fullConfig(t);
  const wire = overTheChannel(toWire(config)) as { berthConfig: number; config: Record<string, unknown> };
  /** A deep copy with the value at a dotted path of `config` replaced (undefined: removed). */
  const change = (path: string, value: unknown): unknown => {
    const copy = structuredClone(wire) as { config: Record<string, unknown> };
    const keys = path.split('.');
    const last = keys.pop() as string;
    let at: Record<string, unknown> = copy.config;
    for (const key of keys) at = at[key] as Record<string, unknown>;
    if (value === undefined) Reflect.deleteProperty(at, last);
    else at[last] = value;
    return copy;
  };
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /the message is not an object \(undefined\)/],
    [null, /the message is not an object \(null\)/],
    ['{"berthConfig":1}', /the message is not an object \(string\)/],
    [[wire], /the message is not an object \(a list\)/],
    [{ berthConfig: WIRE_VERSION }, /config is not an object \(undefined\)/],
    [change('server', undefined), /server is not an object \(undefined\)/],
    [change('dataDir', 'relative/data'), /dataDir is not an absolute path/],
    [change('server.httpPort', '80'), /server.httpPort is not a port or false \(string\)/],
    [change('server.httpsPort', 70_000), /server.httpsPort is not a port or false \(number\)/],
    [change('server.workers', 0), /server.workers is not a count from 1 to 64/],
    [change('server.maxConnections', 1.5), /server.maxConnections is not a whole number/],
    [change('server.accessLog', 'yes'), /server.accessLog is not true or false/],
    [change('sites', {}), /sites is not a list \(an object\)/],
    [change('sites.0.domains', []), /sites\[0\].domains is not a list of names/],
    [change('sites.0.domains', ['a', 7]), /sites\[0\].domains is not a list of names/],
    [change('sites.0.webhook.secret', WEBHOOK_SECRET), /sites\[0\].webhook.secret is not an object \(string\)/],
    [change('sites.0.token', { value: TOKEN }), /sites\[0\].token is not a secret/],
    [change('acme.eab.hmacKey', { secret: 7, source: 'env' }), /acme.eab.hmacKey is not a secret/],
    [change('metrics', undefined), /metrics is not an object \(undefined\)/],
    [change('metrics.listen.port', '9187'), /metrics.listen.port is not a port \(string\)/],
    [change('metrics.token', METRICS_TOKEN), /metrics.token is not an object \(string\)/],
    [change('metrics.token', { secret: 7, source: 'env' }), /metrics.token is not a secret/],
  ];
  for (const [message, reason] of cases) {
    assert.throws(() => fromWire(message), isWireError(reason), String(reason));
    try {
      fromWire(message);
    } catch (error) {
      for (const secret of [WEBHOOK_SECRET, TOKEN, EAB_KEY]) assert.ok(!String((error as Error).message).includes(secret), 'no secret in the message');
    }
  }
});

test('a config naming a site twice is refused, and an oversized one with thousands of sites still checks every site', async (t) => {
  const wire = overTheChannel(toWire(await fullConfig(t))) as { berthConfig: number; config: { sites: unknown[] } };
  const twice = structuredClone(wire);
  twice.config.sites.push(structuredClone(twice.config.sites[1]));
  assert.throws(() => fromWire(twice), isWireError(/sites\[2\].name "docs" appears twice/));
  const many = structuredClone(wire);
  const docs = many.config.sites[1] as { name: string };
  many.config.sites = Array.from({ length: 5000 }, (_, index) => ({ ...docs, name: `site-${index}` }));
  assert.equal(fromWire(many).sites.length, 5000);
  (many.config.sites[4999] as { domains: unknown }).domains = 'docs.example.com';
  assert.throws(() => fromWire(many), isWireError(/sites\[4999\].domains is not a list of names/));
});
