import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createChallengeStore } from '../../src/acme/challenge-store.ts';
import { CHALLENGE_PREFIX } from '../../src/server/challenge-responder.ts';
import { tempDir } from '../helpers/temp.ts';

/** A base64url token of the length Let's Encrypt sends (43 characters). */
const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTHORIZATION = `${TOKEN}.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEY2-nMIXw`;

async function dataDir(t: Parameters<typeof tempDir>[0]): Promise<string> {
  return join(await tempDir(t, 'berth-challenges-'), 'data');
}

describe('challenge store', () => {
  it('answers a token that was put, until it is removed', async (t) => {
    const store = createChallengeStore(await dataDir(t));
    assert.equal(await store.lookup(TOKEN), undefined);
    await store.put(TOKEN, KEY_AUTHORIZATION);
    assert.equal(await store.lookup(TOKEN), KEY_AUTHORIZATION);
    await store.remove(TOKEN);
    assert.equal(await store.lookup(TOKEN), undefined);
  });

  it('keeps tokens apart', async (t) => {
    const store = createChallengeStore(await dataDir(t));
    await store.put('token-a', 'token-a.key');
    await store.put('token_B', 'token_B.key');
    assert.equal(await store.lookup('token-a'), 'token-a.key');
    assert.equal(await store.lookup('token_B'), 'token_B.key');
    assert.equal(await store.lookup('token-b'), undefined);
    await store.remove('token-a');
    assert.equal(await store.lookup('token-a'), undefined);
    assert.equal(await store.lookup('token_B'), 'token_B.key');
  });

  it('replaces the key authorization of a token put twice', async (t) => {
    const dir = await dataDir(t);
    const store = createChallengeStore(dir);
    await store.put(TOKEN, 'first');
    await store.put(TOKEN, 'second');
    assert.equal(await store.lookup(TOKEN), 'second');
    assert.equal(await createChallengeStore(dir).lookup(TOKEN), 'second');
  });

  it('removing a token that was never put is harmless', async (t) => {
    const store = createChallengeStore(await dataDir(t));
    await store.remove(TOKEN);
    await store.remove('../x');
    assert.equal(await store.lookup(TOKEN), undefined);
  });

  it('is shared through the data directory with another store (another process)', async (t) => {
    const dir = await dataDir(t);
    const ordering = createChallengeStore(dir);
    const serving = createChallengeStore(dir);
    assert.equal(await serving.lookup(TOKEN), undefined);
    await ordering.put(TOKEN, KEY_AUTHORIZATION);
    assert.equal(await readFile(join(dir, 'acme', 'challenges', TOKEN), 'utf8'), KEY_AUTHORIZATION);
    assert.equal(await serving.lookup(TOKEN), KEY_AUTHORIZATION);
    await ordering.remove(TOKEN);
    assert.equal(await serving.lookup(TOKEN), undefined);
    assert.deepEqual(await readdir(join(dir, 'acme', 'challenges')), []);
  });

  it('writes key authorizations 0600 in a 0700 directory', async (t) => {
    const dir = await dataDir(t);
    await createChallengeStore(dir).put(TOKEN, KEY_AUTHORIZATION);
    assert.equal((await stat(join(dir, 'acme')).then((s) => s.mode)) & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'acme', 'challenges'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'acme', 'challenges', TOKEN))).mode & 0o777, 0o600);
    // Written atomically: nothing but the token itself is left behind.
    assert.deepEqual(await readdir(join(dir, 'acme', 'challenges')), [TOKEN]);
  });

  it('refuses to put a token that is not base64url, writing nothing', async (t) => {
    const dir = await dataDir(t);
    const store = createChallengeStore(dir);
    for (const token of ['', '../x', 'a/b', 'a.b', 'a b', 'tok=', 'a+b', 'é', 'x'.repeat(257), 'a\u0000b']) {
      await assert.rejects(store.put(token, 'nope'), /not base64url/, JSON.stringify(token));
      assert.equal(await store.lookup(token), undefined);
    }
    assert.deepEqual(await readdir(dir).catch(() => []), []);
  });

  it('stores the longest token it accepts (128 characters), and refuses a longer one', async (t) => {
    const dir = await dataDir(t);
    const token = 'A'.repeat(128);
    await createChallengeStore(dir).put(token, 'long');
    assert.equal(await createChallengeStore(dir).lookup(token), 'long');
    await assert.rejects(createChallengeStore(dir).put('A'.repeat(129), 'longer'), /not base64url/);
  });

  it('answers undefined for tokens longer than a file name can be, instead of throwing', async (t) => {
    const dir = await dataDir(t);
    const store = createChallengeStore(dir);
    await store.put(TOKEN, KEY_AUTHORIZATION); // an order in progress: the challenges directory exists
    for (const length of [255, 256]) {
      assert.equal(await createChallengeStore(dir).lookup('B'.repeat(length)), undefined, `length ${length}`);
    }
  });

  describe('a hostile token in a request path', () => {
    const hostile = ['../x', '../secret.txt', '../../secret.txt', '..%2F..%2Fetc', '..%2Fsecret.txt', 'a/b', '', 'x'.repeat(300), 'x\u0000y', 'tökén', '\u202e', '..', '.', 'a.b', `${CHALLENGE_PREFIX}x`];

    it('never reaches a file outside the challenges directory', async (t) => {
      const dir = await dataDir(t);
      const store = createChallengeStore(dir);
      await store.put(TOKEN, KEY_AUTHORIZATION);
      // Files a path traversal would land on: beside the challenges directory, and above it.
      await writeFile(join(dir, 'acme', 'secret.txt'), 'SECRET-ACME');
      await writeFile(join(dir, 'secret.txt'), 'SECRET-DATA');
      await mkdir(join(dir, 'acme', 'challenges', 'a'));
      await writeFile(join(dir, 'acme', 'challenges', 'a', 'b'), 'SECRET-NESTED');
      assert.equal(await readFile(join(dir, 'acme', 'challenges', '..', 'secret.txt'), 'utf8'), 'SECRET-ACME');
      for (const token of hostile) {
        assert.equal(await store.lookup(token), undefined, JSON.stringify(token));
        assert.equal(await createChallengeStore(dir).lookup(token), undefined, JSON.stringify(token));
      }
    });

    it('is refused by its shape, even when a file of that name exists', async (t) => {
      const dir = await dataDir(t);
      const challenges = join(dir, 'acme', 'challenges');
      await mkdir(challenges, { recursive: true });
      for (const name of ['..%2F..%2Fetc', 'tökén', 'a.b', 'x'.repeat(255), 'x'.repeat(128)]) await writeFile(join(challenges, name), `file ${name}`);
      const store = createChallengeStore(dir);
      for (const token of ['..%2F..%2Fetc', 'tökén', 'a.b', 'x'.repeat(255)]) assert.equal(await store.lookup(token), undefined, token);
      // A well-formed name is read, which shows the files above were reachable had the shape been allowed.
      assert.equal(await store.lookup('x'.repeat(128)), `file ${'x'.repeat(128)}`);
    });

    it('is not removed either: remove leaves files it has no business with', async (t) => {
      const dir = await dataDir(t);
      await mkdir(join(dir, 'acme', 'challenges'), { recursive: true });
      await writeFile(join(dir, 'acme', 'secret.txt'), 'SECRET-ACME');
      await createChallengeStore(dir).remove('../secret.txt');
      assert.equal(await readFile(join(dir, 'acme', 'secret.txt'), 'utf8'), 'SECRET-ACME');
    });
  });
});
