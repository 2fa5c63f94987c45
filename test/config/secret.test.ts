import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
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

  it('refuses a file far too large to be a secret', async () => {
    const file = path.join(dir, 'large');
    await writeFile(file, 'x'.repeat(70_000));
    const result = await resolveSecretFile(file);
    assert.ok(!result.ok);
    assert.match(result.message, /70000 bytes/);
  });
});
