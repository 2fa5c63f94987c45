import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  createSecret,
  parseEnvReference,
  resolveSecretFile,
  resolveSecretValue,
  suggestEnvName,
  WEBHOOK_SECRET_MIN_LENGTH,
} from '../../src/config/secret.ts';

const VALUE = 'correct-horse-battery-staple';

describe('createSecret()', () => {
  it('reveals the value only through reveal()', () => {
    const secret = createSecret(VALUE, 'env HOOK');
    assert.equal(secret.reveal(), VALUE);
    assert.equal(secret.source, 'env HOOK');
  });

  it('shows only its source when printed, serialised or inspected', () => {
    const secret = createSecret(VALUE, 'env HOOK');
    const shown = '[secret from env HOOK]';
    assert.equal(String(secret), shown);
    assert.equal(`${secret}`, shown);
    assert.equal(JSON.stringify({ secret }), `{"secret":"${shown}"}`);
    assert.equal(inspect(secret), shown);
    assert.equal(inspect({ nested: { secret } }, { depth: 10, showHidden: true }).includes(VALUE), false);
    assert.deepEqual(Object.keys(secret), ['source']);
  });

  it('cannot be changed', () => {
    const secret = createSecret(VALUE, 'env HOOK');
    assert.throws(() => {
      (secret as { source: string }).source = 'elsewhere';
    }, TypeError);
  });
});

describe('parseEnvReference()', () => {
  it('accepts only a whole-value ${NAME}', () => {
    assert.equal(parseEnvReference('${HOOK_SECRET}'), 'HOOK_SECRET');
    assert.equal(parseEnvReference('${_x1}'), '_x1');
    for (const text of ['$HOOK', '${}', '${1A}', '${A-B}', 'x${A}', '${A}x', '${ A }']) {
      assert.equal(parseEnvReference(text), undefined, text);
    }
  });
});

describe('suggestEnvName()', () => {
  it('derives a variable name from the site name', () => {
    assert.equal(suggestEnvName('blog'), 'BLOG_WEBHOOK_SECRET');
    assert.equal(suggestEnvName('my-blog'), 'MY_BLOG_WEBHOOK_SECRET');
    assert.equal(suggestEnvName('1st'), 'BERTH_WEBHOOK_SECRET');
    assert.equal(suggestEnvName(''), 'BERTH_WEBHOOK_SECRET');
  });
});

describe('resolveSecretValue()', () => {
  it('reads a ${NAME} reference from the environment', () => {
    const result = resolveSecretValue('${HOOK}', { HOOK: VALUE }, 'X');
    assert.equal(result.ok, true);
    assert.ok(result.ok);
    assert.equal(result.secret.reveal(), VALUE);
    assert.equal(result.secret.source, 'env HOOK');
    assert.equal(result.warning, undefined);
  });

  it('names a missing or empty variable', () => {
    const missing = resolveSecretValue('${HOOK}', {}, 'X');
    assert.ok(!missing.ok);
    assert.match(missing.message, /environment variable HOOK is not set/);
    const empty = resolveSecretValue('${HOOK}', { HOOK: '' }, 'X');
    assert.ok(!empty.ok);
    assert.match(empty.message, /environment variable HOOK is empty/);
  });

  it('accepts a literal secret with a warning that does not contain it', () => {
    const result = resolveSecretValue(VALUE, {}, 'BLOG_WEBHOOK_SECRET');
    assert.ok(result.ok);
    assert.equal(result.secret.reveal(), VALUE);
    assert.equal(result.secret.source, 'config file');
    assert.match(result.warning ?? '', /\$\{BLOG_WEBHOOK_SECRET\}/);
    assert.equal(result.warning?.includes(VALUE), false);
  });

  it('refuses a malformed reference without echoing it', () => {
    const text = '${not valid}-and-more';
    const result = resolveSecretValue(text, {}, 'X');
    assert.ok(!result.ok);
    assert.equal(result.message.includes(text), false);
  });

  it('refuses an empty secret', () => {
    assert.equal(resolveSecretValue('', {}, 'X').ok, false);
  });

  it('refuses a webhook secret shorter than 16 characters without telling it', () => {
    for (const short of ['q', 'fifteen-chars-x']) {
      const fromEnv = resolveSecretValue('${HOOK}', { HOOK: short }, 'X');
      assert.ok(!fromEnv.ok);
      assert.equal(fromEnv.message, 'the webhook secret in environment variable HOOK is shorter than 16 characters, so it could be guessed; make a long random one, e.g. with `openssl rand -hex 32`, and give the forge the same value');
      const literal = resolveSecretValue(short, {}, 'X');
      assert.ok(!literal.ok);
      assert.match(literal.message, /^the webhook secret written in the config file is shorter than 16 characters/);
      assert.equal(literal.message.includes(short), false);
    }
    assert.equal(WEBHOOK_SECRET_MIN_LENGTH, 16);
    assert.ok(resolveSecretValue('${HOOK}', { HOOK: 'sixteen-chars-xy' }, 'X').ok);
    // Counted in characters, not bytes or UTF-16 units.
    assert.ok(!resolveSecretValue('${HOOK}', { HOOK: '🔑'.repeat(15) }, 'X').ok);
  });

  it('takes a key whose length is not ours to choose as it is', () => {
    const keys = { value: 'hmac_key', file: 'hmac_key_file', what: 'the EAB HMAC key' };
    assert.ok(resolveSecretValue('${EAB}', { EAB: 'k' }, 'EAB', keys).ok);
  });
});

describe('resolveSecretFile()', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-secret-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the file and drops one trailing newline', async () => {
    for (const [content, expected] of [
      [`${VALUE}\n`, VALUE],
      [`${VALUE}\r\n`, VALUE],
      [VALUE, VALUE],
      [`${VALUE}\n\n`, `${VALUE}\n`],
      [` ${VALUE} `, ` ${VALUE} `],
    ] as const) {
      const file = path.join(dir, 'secret');
      await writeFile(file, content);
      const result = await resolveSecretFile(file);
      assert.ok(result.ok);
      assert.equal(result.secret.reveal(), expected);
      assert.equal(result.secret.source, `file ${file}`);
    }
  });

  it('reports a missing file, a directory, an empty file', async () => {
    const missing = await resolveSecretFile(path.join(dir, 'nope'));
    assert.ok(!missing.ok);
    assert.match(missing.message, /cannot read secret_file .*nope: no such file/);

    const sub = path.join(dir, 'sub');
    await mkdir(sub, { recursive: true });
    const directory = await resolveSecretFile(sub);
    assert.ok(!directory.ok);
    assert.match(directory.message, /is a directory/);

    const empty = path.join(dir, 'empty');
    await writeFile(empty, '\n');
    const emptyResult = await resolveSecretFile(empty);
    assert.ok(!emptyResult.ok);
    assert.match(emptyResult.message, /is empty/);

    const blank = path.join(dir, 'blank');
    await writeFile(blank, '  \t\n');
    assert.equal((await resolveSecretFile(blank)).ok, false);
  });

  it('reports a path that cannot be read as a file', async () => {
    // A directory fails to read for every user, root included.
    const result = await resolveSecretFile(dir);
    assert.ok(!result.ok);
    assert.match(result.message, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(result.message, /directory|cannot be read|EISDIR/i);
  });

  it('refuses a named pipe without waiting for a writer, and a device without reading it', { timeout: 30_000 }, async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const piped = await resolveSecretFile(fifo);
    assert.ok(!piped.ok);
    assert.equal(piped.message, `secret_file ${fifo} is a named pipe (FIFO); point secret_file at a regular file that holds only the secret`);
    for (const device of ['/dev/zero', '/dev/urandom', '/dev/null']) {
      const result = await resolveSecretFile(device);
      assert.ok(!result.ok);
      assert.equal(result.message, `secret_file ${device} is a device; point secret_file at a regular file that holds only the secret`);
    }
    // A link to a regular file is followed: Docker and Kubernetes secrets are links.
    const target = path.join(dir, 'target');
    await writeFile(target, `${VALUE}\n`);
    await symlink(target, path.join(dir, 'link'));
    const linked = await resolveSecretFile(path.join(dir, 'link'));
    assert.ok(linked.ok);
    assert.equal(linked.secret.reveal(), VALUE);
    // ...and a link to a pipe is refused like the pipe.
    await symlink(fifo, path.join(dir, 'link-to-fifo'));
    const viaLink = await resolveSecretFile(path.join(dir, 'link-to-fifo'));
    assert.ok(!viaLink.ok);
    assert.match(viaLink.message, /is a named pipe \(FIFO\)/);
  });

  it('refuses a secret file holding fewer than 16 characters', async () => {
    const file = path.join(dir, 'short');
    await writeFile(file, 'q\n');
    const result = await resolveSecretFile(file);
    assert.ok(!result.ok);
    assert.match(result.message, /^the webhook secret in secret_file \S+short is shorter than 16 characters/);
  });

  it('refuses a file far too large to be a secret', async () => {
    const file = path.join(dir, 'large');
    await writeFile(file, 'x'.repeat(70_000));
    const result = await resolveSecretFile(file);
    assert.ok(!result.ok);
    assert.match(result.message, /70000 bytes/);
  });
});
