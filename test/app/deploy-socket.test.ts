import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstat, readFile, writeFile } from 'node:fs/promises';
import { deploySocketPath, listenDeploySocket, parseDeployRequest } from '../../src/app/deploy-socket.ts';
import { handDeployToServer } from '../../src/app/hand-deploy-to-server.ts';
import { BerthError } from '../../src/errors.ts';
import { createLogger } from '../../src/log/logger.ts';
import { tempDir } from '../helpers/temp.ts';

const SHA = 'a'.repeat(40);
const logger = createLogger({ level: 'silent' });

test('parseDeployRequest takes a site, a full ref and a full commit id, and names what is wrong with anything else', () => {
  assert.deepEqual(parseDeployRequest(JSON.stringify({ site: 'blog', ref: 'refs/heads/main', sha: SHA })), { site: 'blog', ref: 'refs/heads/main', sha: SHA });
  assert.deepEqual(parseDeployRequest(JSON.stringify({ site: 'blog', ref: 'refs/heads/feature/x-1', sha: 'b'.repeat(64) })), { site: 'blog', ref: 'refs/heads/feature/x-1', sha: 'b'.repeat(64) });
  assert.deepEqual(parseDeployRequest(JSON.stringify({ site: 'blog', ref: 'refs/heads/main' })), { site: 'blog', ref: 'refs/heads/main' });
  const refused: Array<[unknown, RegExp]> = [
    ['{', /not JSON/],
    [null, /not a JSON object/],
    [[1], /not a JSON object/],
    [{ site: 'blog', ref: 'refs/heads/main', sha: SHA, trigger: 'webhook' }, /unknown field "trigger"/],
    [{ site: '../etc', ref: 'refs/heads/main' }, /site "..\/etc" is not a site name/],
    [{ site: 7, ref: 'refs/heads/main' }, /site 7 is not a site name/],
    [{ site: 'blog', ref: 'main' }, /not a full ref/],
    [{ site: 'blog', ref: 'refs/heads/../../x' }, /not a full ref/],
    [{ site: 'blog', ref: 'refs/heads/a b' }, /not a full ref/],
    [{ site: 'blog', ref: '--upload-pack=x' }, /not a full ref/],
    [{ site: 'blog', ref: 'refs/heads/main', sha: 'HEAD' }, /sha "HEAD" is not a full commit id/],
    [{ site: 'blog', ref: 'refs/heads/main', sha: SHA.toUpperCase() }, /not a full commit id/],
  ];
  for (const [input, message] of refused) {
    const parsed = parseDeployRequest(typeof input === 'string' ? input : JSON.stringify(input));
    assert.ok('error' in parsed, JSON.stringify(input));
    assert.match(parsed.error, message);
  }
});

test('the deploy socket is created 0600 whatever the umask, replaces a stale socket, and answers with the deploy or the error and its code', async (t) => {
  const dir = await tempDir(t);
  const path = deploySocketPath(dir);
  // A socket left behind by a server that was killed.
  spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.ok((await lstat(path)).isSocket());

  const umask = process.umask(0);
  let socket;
  try {
    socket = await listenDeploySocket({
      dataDir: dir,
      logger,
      submit: async (request) => {
        if (request.site !== 'blog') throw new BerthError('E_SITE_UNKNOWN', `No site named ${request.site}`);
        return '20261204T205821Z-8e8a5f';
      },
    });
  } finally {
    process.umask(umask);
  }
  assert.ok(socket !== undefined);
  t.after(() => socket.close());
  assert.equal((await lstat(path)).mode & 0o777, 0o600);
  assert.deepEqual(await handDeployToServer(dir, { site: 'blog', ref: 'refs/heads/main', sha: SHA }), { kind: 'queued', deploy: '20261204T205821Z-8e8a5f' });
  assert.deepEqual(await handDeployToServer(dir, { site: 'nope', ref: 'refs/heads/main', sha: SHA }), { kind: 'refused', error: 'No site named nope', code: 'E_SITE_UNKNOWN' });
  await socket.close();
  await assert.rejects(lstat(path), { code: 'ENOENT' });
  assert.equal((await handDeployToServer(dir, { site: 'blog', ref: 'refs/heads/main' })).kind, 'unavailable', 'no socket: the deploy may run elsewhere');
});

test('a regular file at deploy.sock is left alone and no socket is made; a client does not take it for the server', async (t) => {
  const dir = await tempDir(t);
  const path = deploySocketPath(dir);
  await writeFile(path, 'not a socket');
  const lines: string[] = [];
  const socket = await listenDeploySocket({
    dataDir: dir,
    logger: createLogger({ level: 'warn', destination: { write: (line: string) => lines.push(line) } }),
    submit: () => Promise.resolve('never'),
  });
  assert.equal(socket, undefined);
  assert.equal(lines.length, 1);
  assert.match(String((JSON.parse(lines[0] as string) as { msg: unknown }).msg), /is not a socket; remove it and restart berth serve/);
  assert.equal(await readFile(path, 'utf8'), 'not a socket');
  assert.deepEqual(await handDeployToServer(dir, { site: 'blog', ref: 'refs/heads/main' }), { kind: 'unavailable', reason: `${path} is not a socket` });
});
