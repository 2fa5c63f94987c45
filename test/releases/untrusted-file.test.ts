import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readUntrustedFile, type OpenUntrustedOptions } from '../../src/releases/untrusted-file.ts';
import { assertNotQuoted, secretFile } from '../helpers/secret-file.ts';
import { tempDir } from '../helpers/temp.ts';

const options: OpenUntrustedOptions = { maxBytes: 1024, label: 'the file', code: 'E_BUILD_CONFIG', linkCode: 'E_PUBLISH_SYMLINK' };

test('readUntrustedFile() refuses a file reached through a directory that is a link, though the file itself is not one', async (t) => {
  const secret = await secretFile(t, 'package.json');
  const root = await realpath(await tempDir(t));
  await symlink(secret.dir, join(root, 'sub'));
  await assert.rejects(readUntrustedFile(root, 'sub/package.json', options), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'E_PUBLISH_SYMLINK');
    assert.match(error.message, /^the file is reached through a symbolic link/);
    assertNotQuoted(error.message, secret);
    return true;
  });
});

test('readUntrustedFile() refuses a socket and a directory, and reads nothing past the cap', async (t) => {
  const root = await realpath(await tempDir(t));
  const server = createServer();
  server.listen(join(root, 'sock'));
  await once(server, 'listening');
  t.after(() => server.close());
  await assert.rejects(readUntrustedFile(root, 'sock', options), { code: 'E_BUILD_CONFIG', message: /^the file is a socket, not a regular file/ });
  await mkdir(join(root, 'dir'));
  await assert.rejects(readUntrustedFile(root, 'dir', options), { code: 'E_BUILD_CONFIG', message: /^the file is a directory, not a regular file/ });
  await writeFile(join(root, 'big'), Buffer.alloc(1025));
  await assert.rejects(readUntrustedFile(root, 'big', options), { code: 'E_BUILD_CONFIG', message: /^the file is 1025 bytes; the limit is 1024 bytes$/ });
  await writeFile(join(root, 'ok'), 'fine');
  assert.equal((await readUntrustedFile(root, 'ok', options))?.toString(), 'fine');
  assert.equal(await readUntrustedFile(root, 'missing', options), undefined);
  assert.equal(await readUntrustedFile(root, 'ok/below', options), undefined);
});
