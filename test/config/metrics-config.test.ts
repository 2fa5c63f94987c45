import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import check from '../../src/cli/commands/check.ts';
import { isLoopback, parseListenAddress } from '../../src/config/listen-address.ts';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const cases = configCases('berth-metrics-config-');
const SITE = '\n[[sites]]\nname = "blog"\ndomains = ["example.com"]\n';
const TOKEN = 'a-metrics-token-of-some-length';

describe('[metrics]', () => {
  it('listens on 127.0.0.1:9187 with no token by default', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n${SITE}`);
    assert.deepEqual(problems, []);
    assert.deepEqual(config?.metrics.listen, { host: '127.0.0.1', port: 9187 });
    assert.equal(config?.metrics.token, undefined);
  });

  it('is turned off with listen = false', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = false\n${SITE}`);
    assert.deepEqual(problems, []);
    assert.equal(config?.metrics.listen, undefined);
  });

  it('takes an IPv6 loopback address in brackets', async () => {
    const { config } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = "[::1]:9100"\n${SITE}`);
    assert.deepEqual(config?.metrics.listen, { host: '::1', port: 9100 });
  });

  it('refuses an address reachable from other machines without a token', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = "0.0.0.0:9187"\n${SITE}`);
    assert.equal(config, undefined);
    assert.match(problemAt(problems, 'metrics.listen').message, /reachable from other machines.*token/);
  });

  it('accepts such an address with a token from the environment, kept secret', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = "0.0.0.0:9187"\ntoken = "\${METRICS_TOKEN}"\n${SITE}`, { METRICS_TOKEN: TOKEN });
    assert.deepEqual(problems, []);
    assert.equal(config?.metrics.token?.reveal(), TOKEN);
    assert.doesNotMatch(JSON.stringify(config), new RegExp(TOKEN));
  });

  it('reads the token from token_file', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = "[::]:9187"\ntoken_file = "metrics-token"\n${SITE}`, {}, { 'metrics-token': `${TOKEN}\n` });
    assert.deepEqual(problems, []);
    assert.equal(config?.metrics.token?.reveal(), TOKEN);
  });

  it('refuses a short token, both token and token_file, and a token from an unset variable', async () => {
    const short = await cases.read(`data_dir = "data"\n[metrics]\ntoken = "\${METRICS_TOKEN}"\n${SITE}`, { METRICS_TOKEN: 'short' });
    assert.match(problemAt(short.problems, 'metrics.token').message, /16/);
    const both = await cases.read(`data_dir = "data"\n[metrics]\ntoken = "\${METRICS_TOKEN}"\ntoken_file = "x"\n${SITE}`, { METRICS_TOKEN: TOKEN }, { x: TOKEN });
    assert.match(problemAt(both.problems, 'metrics').message, /both token and token_file/);
    const unset = await cases.read(`data_dir = "data"\n[metrics]\ntoken = "\${METRICS_TOKEN}"\n${SITE}`);
    assert.match(problemAt(unset.problems, 'metrics.token').message, /METRICS_TOKEN/);
  });

  it('names what would work for an address it cannot use', async () => {
    for (const listen of ['"localhost:9187"', '"9187"', '"127.0.0.1:99999"', '"::1:9187"', 'true', '9187']) {
      const { config, problems } = await cases.read(`data_dir = "data"\n[metrics]\nlisten = ${listen}\n${SITE}`);
      assert.equal(config, undefined, listen);
      assert.match(problemAt(problems, 'metrics.listen').message, /127\.0\.0\.1:9187|port/, listen);
    }
  });

  it('suggests the right key for a misspelt one', async () => {
    const { problems } = await cases.read(`data_dir = "data"\n[metrics]\nlsten = "127.0.0.1:9187"\n${SITE}`);
    assert.match(problemAt(problems, 'metrics.lsten').message, /did you mean "listen"/);
  });
});

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('berth check with [metrics]', () => {
  it('fails on a listen address other machines reach without a token, naming the key and the fix', async () => {
    const cwd = await mkdtemp(path.join(cases.root(), 'check-'));
    await writeFile(path.join(cwd, 'berth.toml'), `data_dir = "data"\n[metrics]\nlisten = "0.0.0.0:9187"\n${SITE}`);
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await check.run({ values: { config: undefined }, positionals: [] }, { stdout, stderr, env: {}, cwd });
    assert.notEqual(code, 0);
    assert.match(`${stdout.text}${stderr.text}`, /metrics\.listen.*reachable from other machines.*token/s);
  });
});

describe('parseListenAddress() and isLoopback()', () => {
  it('reads IPv4 and bracketed IPv6 addresses with a port', () => {
    assert.deepEqual(parseListenAddress('10.0.0.2:0'), { ok: true, address: { host: '10.0.0.2', port: 0 } });
    assert.deepEqual(parseListenAddress('[fe80::1]:80'), { ok: true, address: { host: 'fe80::1', port: 80 } });
    assert.equal(parseListenAddress('[10.0.0.2]:80').ok, false);
    assert.equal(parseListenAddress('300.0.0.1:80').ok, false);
  });

  it('knows loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1']) assert.equal(isLoopback(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::2']) assert.equal(isLoopback(host), false, host);
  });
});
