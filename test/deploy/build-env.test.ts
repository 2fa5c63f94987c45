import assert from 'node:assert/strict';
import { chown, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { buildEnvironment, unprivilegedUser } from '../../src/deploy/build-env.ts';
import { runBuild } from '../../src/deploy/build-runner.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

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

describe('unprivilegedUser()', () => {
  it('is undefined when Berth is not root', () => {
    assert.equal(unprivilegedUser({ uid: 1000 }), undefined);
  });

  it('prefers a berth user, then nobody, from the passwd file', async (t) => {
    const dir = await tempDir(t, 'berth-passwd-');
    await writeTree(dir, {
      both: 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nberth:x:998:997::/var/lib/berth:/usr/sbin/nologin\n',
      nobody: 'root:x:0:0:root:/root:/bin/bash\n# comment\n\nnobody:x:65534:65533:nobody:/nonexistent:/usr/sbin/nologin\n',
    });
    assert.deepEqual(unprivilegedUser({ uid: 0, passwdFile: join(dir, 'both') }), { name: 'berth', uid: 998, gid: 997 });
    assert.deepEqual(unprivilegedUser({ uid: 0, passwdFile: join(dir, 'nobody') }), { name: 'nobody', uid: 65534, gid: 65533 });
  });

  it('never picks an account with uid 0', async (t) => {
    const dir = await tempDir(t, 'berth-passwd-');
    await writeTree(dir, { passwd: 'berth:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' });
    assert.equal(unprivilegedUser({ uid: 0, passwdFile: join(dir, 'passwd') })?.name, 'nobody');
  });

  it('refuses to go on as root when no account is found', async (t) => {
    const dir = await tempDir(t, 'berth-passwd-');
    await writeTree(dir, { passwd: 'root:x:0:0:root:/root:/bin/bash\n' });
    // `id` may still know nobody on this machine; only assert when it does not.
    try {
      const user = unprivilegedUser({ uid: 0, passwdFile: join(dir, 'passwd') });
      assert.notEqual(user?.uid, 0);
    } catch (error) {
      assert.ok(error instanceof BerthError && error.code === 'E_BUILD_CONFIG');
    }
  });

  it('runs the build as that user when Berth is root, else as Berth\'s own user', async (t) => {
    const user = unprivilegedUser();
    const work = await tempDir(t, 'berth-user-');
    await mkdir(join(work, 'home'));
    if (user !== undefined) await chown(work, user.uid, user.gid);
    const lines: string[] = [];
    await runBuild({
      command: 'id -u; id -g; id -G; touch written-by-build && echo ok',
      cwd: work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      timeoutMs: 10_000,
      log: (_stream, line) => lines.push(line),
      uid: user?.uid,
      gid: user?.gid,
    });
    if (process.getuid?.() === 0) {
      assert.ok(user !== undefined, 'root finds a user to build as');
      assert.notEqual(lines[0], '0');
      assert.deepEqual(lines, [String(user.uid), String(user.gid), String(user.gid), 'ok']);
    } else {
      assert.equal(user, undefined);
      assert.equal(lines[0], String(process.getuid?.()));
    }
  });
});
