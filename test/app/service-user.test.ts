import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { resolveServiceUser } from '../../src/app/service-user.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { BerthError } from '../../src/errors.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { serviceAccount } from '../helpers/service-account.ts';
import { tempDir } from '../helpers/temp.ts';

const run = promisify(execFile);

async function configWith(t: TestContext, server: string): Promise<{ config: ResolvedConfig; file: string }> {
  const dir = await tempDir(t, 'berth-service-user-');
  const file = join(dir, 'berth.toml');
  await writeFile(file, `data_dir = "data"\n[server]\n${server}\n[acme]\ndirectory = "off"\n`);
  return { config: await loadConfig(file, {}), file };
}

/** A logger whose messages are collected, with their levels. */
function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const { level, msg } = JSON.parse(line) as { level: string; msg: string };
        lines.push(`${level}: ${msg}`);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('resolveServiceUser()', () => {
  it('gives the uid and primary gid of the account [server] user names', async (t) => {
    const account = await serviceAccount(t);
    const { config } = await configWith(t, `user = "${account.name}"`);
    const logger = warnings();
    assert.deepEqual(resolveServiceUser(config, logger.logger), { uid: account.uid, gid: account.gid, name: account.name });
    assert.notEqual(account.uid, 0);
    assert.deepEqual(logger.lines, []);
  });

  it('refuses a named account that does not exist with E_CONFIG_INVALID, naming the useradd command that makes it', async (t) => {
    const { config, file } = await configWith(t, 'user = "berth-no-such-account"');
    assert.throws(
      () => resolveServiceUser(config, warnings().logger),
      (error) =>
        error instanceof BerthError &&
        error.code === 'E_CONFIG_INVALID' &&
        error.message.includes(file) &&
        error.message.includes('"berth-no-such-account"') &&
        error.message.includes('useradd --system') &&
        error.message.includes(' berth-no-such-account`'),
    );
  });

  it('keeps root with one warning when the default account berth does not exist', async (t) => {
    const { config } = await configWith(t, '');
    assert.equal(config.server.user, 'berth');
    await assert.rejects(run('id', ['-u', 'berth']), 'this machine has no account berth');
    const logger = warnings();
    assert.equal(resolveServiceUser(config, logger.logger), undefined);
    assert.equal(logger.lines.length, 1);
    assert.match(logger.lines[0] ?? '', /^warn: .*no account "berth" for \[server\] user/);
    assert.match(logger.lines[0] ?? '', /useradd --system .* berth`/);
  });

  it('keeps root without a word when [server] user = "root"', async (t) => {
    const { config } = await configWith(t, 'user = "root"');
    const logger = warnings();
    assert.equal(resolveServiceUser(config, logger.logger), undefined);
    assert.deepEqual(logger.lines, []);
  });

  it('has nothing to drop when Berth is not root, even for an account that does not exist', async (t) => {
    const account = await serviceAccount(t);
    const { file } = await configWith(t, 'user = "berth-no-such-account"');
    // The directory tempDir made is 0700: the unprivileged process must reach the config.
    await chmod(join(file, '..'), 0o755);
    const script = [
      `import { loadConfig } from ${JSON.stringify(new URL('../../src/config/load-config.ts', import.meta.url).href)};`,
      `import { resolveServiceUser } from ${JSON.stringify(new URL('../../src/app/service-user.ts', import.meta.url).href)};`,
      `const user = resolveServiceUser(await loadConfig(${JSON.stringify(file)}, {}));`,
      'console.log(JSON.stringify({ uid: process.getuid(), user: user ?? null }));',
    ].join('\n');
    const { stdout, stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { uid: account.uid, gid: account.gid });
    assert.deepEqual(JSON.parse(stdout), { uid: account.uid, user: null });
    assert.doesNotMatch(stderr, /Warning/);
  });
});
