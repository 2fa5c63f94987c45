import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { buildEnvironment } from '../../src/deploy/build-env.ts';
import { runBuild } from '../../src/deploy/build-runner.ts';
import { tempDir } from '../helpers/temp.ts';

const parentEnv = {
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
  TZ: 'Europe/Berlin',
  https_proxy: 'http://proxy.internal:3128',
  NO_PROXY: 'localhost',
  BLOG_WEBHOOK_SECRET: 'whsec-1',
  GITHUB_TOKEN: 'ghp-2',
  AWS_SECRET_ACCESS_KEY: 'aws-3',
  API_KEY: 'key-4',
  DB_PASSWORD: 'pw-5',
  NODE_OPTIONS: '--inspect',
  NODE_ENV: 'production',
  BERTH_CONFIG: '/etc/berth/berth.toml',
  SHELL: '/bin/zsh',
};

const options = { home: '/data/sites/blog/cache/home', cacheDir: '/data/sites/blog/cache', parentEnv, nodeBinDir: '/opt/node/bin' };

describe('buildEnvironment()', () => {
  it('keeps only the allow-listed variables and adds Berth\'s own', () => {
    assert.deepEqual(buildEnvironment({}, {}, options), {
      PATH: '/opt/node/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      TZ: 'Europe/Berlin',
      https_proxy: 'http://proxy.internal:3128',
      NO_PROXY: 'localhost',
      HOME: '/data/sites/blog/cache/home',
      CI: 'true',
      BERTH: '1',
      npm_config_cache: '/data/sites/blog/cache/npm',
      npm_config_update_notifier: 'false',
      npm_config_fund: 'false',
      npm_config_audit: 'false',
    });
  });

  it('gives the build a TMPDIR of its own when one is passed', () => {
    assert.equal(buildEnvironment({}, {}, { ...options, tmpDir: '/data/sites/blog/cache/tmp' }).TMPDIR, '/data/sites/blog/cache/tmp');
    assert.equal(buildEnvironment({}, {}, { ...options, parentEnv: { ...parentEnv, TMPDIR: '/tmp/shared' } }).TMPDIR, undefined);
  });

  it('lets the repository settings and then the server config add and override', () => {
    const env = buildEnvironment(
      { HUGO_ENV: 'production', SHARED: 'repo', CI: 'false' },
      { SHARED: 'server', CMS_TOKEN: 'set on purpose' },
      options,
    );
    assert.equal(env.HUGO_ENV, 'production');
    assert.equal(env.SHARED, 'server');
    assert.equal(env.CI, 'false');
    assert.equal(env.CMS_TOKEN, 'set on purpose');
  });

  it('puts the Node running Berth first on PATH, once', () => {
    const env = buildEnvironment({}, {}, { ...options, parentEnv: { PATH: '/usr/bin:/opt/node/bin:/bin' } });
    assert.equal(env.PATH, '/opt/node/bin:/usr/bin:/bin');
    assert.equal(buildEnvironment({}, {}, { ...options, parentEnv: {}, nodeBinDir: '' }).PATH, '/usr/local/bin:/usr/bin:/bin');
    assert.equal(buildEnvironment({}, {}, { home: '/h', cacheDir: '/c', parentEnv: {} }).PATH?.split(':')[0], dirname(process.execPath));
  });

  it('gives a build that prints env no secret from Berth\'s environment', async (t) => {
    const cwd = await tempDir(t, 'berth-env-');
    const env = buildEnvironment({}, {}, {
      home: join(cwd, 'home'),
      cacheDir: cwd,
      parentEnv: { ...process.env, ...parentEnv, PATH: process.env.PATH },
    });
    const lines: string[] = [];
    await runBuild({ command: 'env', cwd, env, timeoutMs: 10_000, log: (_stream, line) => lines.push(line) });
    const names = lines.map((line) => line.slice(0, line.indexOf('=')));
    for (const name of ['BLOG_WEBHOOK_SECRET', 'GITHUB_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'API_KEY', 'DB_PASSWORD', 'NODE_OPTIONS', 'NODE_ENV', 'BERTH_CONFIG', 'SHELL']) {
      assert.ok(!names.includes(name), `${name} must not reach the build`);
    }
    assert.ok(!names.some((name) => /SECRET|TOKEN|KEY|PASSWORD/i.test(name)), names.join(' '));
    assert.ok(lines.includes('CI=true'));
    assert.ok(lines.includes('BERTH=1'));
    assert.ok(lines.includes(`HOME=${join(cwd, 'home')}`));
  });
});
