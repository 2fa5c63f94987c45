import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createApiTokens } from '../../src/admin/api-tokens.ts';
import { hashSecretToken } from '../../src/admin/secret-token.ts';
import { adminStore, MINUTE, testClock } from './admin-fixture.ts';

/** Every byte of state.db and its -wal and -shm files. */
async function stateDbBytes(dataDir: string): Promise<Buffer> {
  const names = (await readdir(dataDir)).filter((name) => name.startsWith('state.db'));
  return Buffer.concat(await Promise.all(names.map((name) => readFile(join(dataDir, name)))));
}

describe('API tokens', () => {
  it('are shown once and stored hashed: the token is nowhere in state.db', async (t) => {
    const { store, dataDir } = await adminStore(t);
    const tokens = createApiTokens(store);
    const { token, info } = tokens.create({ name: 'ci', sites: ['blog'], rights: 'deploy' });
    assert.match(token, /^berth_[A-Za-z0-9_-]{43}$/);
    assert.equal(info.name, 'ci');
    assert.doesNotMatch(JSON.stringify(tokens.list()), new RegExp(token.slice('berth_'.length)));
    const bytes = await stateDbBytes(dataDir);
    assert.equal(bytes.includes(token.slice('berth_'.length)), false, 'the token is not in state.db');
    assert.equal(bytes.includes(hashSecretToken(token)), true, 'its hash is (so the search above looks in the right bytes)');
    assert.equal((await stat(join(dataDir, 'state.db'))).mode & 0o777, 0o600);
  });

  it('allow only their sites and rights, deploy including read', async (t) => {
    const { store } = await adminStore(t);
    const clock = testClock();
    const tokens = createApiTokens(store);
    const reader = tokens.create({ name: 'reader', sites: ['blog', 'docs'], rights: 'read' }, clock.now()).token;
    const deployer = tokens.create({ name: 'deployer', sites: ['blog'], rights: 'deploy' }, clock.now()).token;
    const everything = tokens.create({ name: 'everything', sites: 'all', rights: 'deploy' }, clock.now()).token;

    assert.equal(tokens.check(reader, { site: 'docs', right: 'read' }, clock.now()).name, 'reader');
    assert.throws(() => tokens.check(reader, { site: 'blog', right: 'deploy' }, clock.now()), { code: 'E_ADMIN_TOKEN_SCOPE', message: /only read/ });
    assert.throws(() => tokens.check(reader, { site: 'shop', right: 'read' }, clock.now()), { code: 'E_ADMIN_TOKEN_SCOPE', message: /not for the site "shop"/ });
    assert.equal(tokens.check(deployer, { site: 'blog', right: 'deploy' }, clock.now()).name, 'deployer');
    assert.equal(tokens.check(deployer, { site: 'blog', right: 'read' }, clock.now()).name, 'deployer');
    assert.throws(() => tokens.check(deployer, { site: 'docs', right: 'read' }, clock.now()), { code: 'E_ADMIN_TOKEN_SCOPE' });
    assert.equal(tokens.check(everything, { site: 'a-site-added-later', right: 'deploy' }, clock.now()).name, 'everything');
  });

  it('refuse tokens never issued, malformed or cut short', async (t) => {
    const { store } = await adminStore(t);
    const tokens = createApiTokens(store);
    const { token } = tokens.create({ name: 'ci', sites: 'all', rights: 'read' });
    for (const bad of [undefined, '', 'berth_', token.slice(0, -1), `${token}A`, token.replace('berth_', 'other_'), `berth_${'A'.repeat(43)}`]) {
      assert.throws(() => tokens.check(bad, { site: 'blog', right: 'read' }), { code: 'E_ADMIN_TOKEN_INVALID' }, String(bad));
    }
  });

  it('are refused once revoked, and a revoked name can be given again', async (t) => {
    const { store } = await adminStore(t);
    const clock = testClock();
    const tokens = createApiTokens(store);
    const { token } = tokens.create({ name: 'ci', sites: ['blog'], rights: 'deploy' }, clock.now());
    assert.throws(() => tokens.create({ name: 'ci', sites: ['blog'], rights: 'read' }, clock.now()), { code: 'E_ADMIN_TOKEN_EXISTS' });
    clock.advance(MINUTE);
    tokens.revoke('ci', clock.now());
    assert.throws(() => tokens.check(token, { site: 'blog', right: 'read' }, clock.now()), { code: 'E_ADMIN_TOKEN_INVALID', message: /revoked/ });
    assert.throws(() => tokens.revoke('ci', clock.now()), { code: 'E_ADMIN_TOKEN_UNKNOWN' });
    const renewed = tokens.create({ name: 'ci', sites: ['blog'], rights: 'deploy' }, clock.now()).token;
    assert.equal(tokens.check(renewed, { site: 'blog', right: 'deploy' }, clock.now()).name, 'ci');
    assert.deepEqual(
      tokens.list().map((info) => [info.name, info.revokedAt === undefined ? 'active' : 'revoked']),
      [
        ['ci', 'revoked'],
        ['ci', 'active'],
      ],
    );
  });

  it('note when they were last used, and those made by a removed admin are revoked with them', async (t) => {
    const { store } = await adminStore(t);
    const clock = testClock();
    store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: clock.now() });
    const tokens = createApiTokens(store);
    const { token } = tokens.create({ name: 'alices-bot', sites: 'all', rights: 'read', createdBy: 'alice' }, clock.now());
    const kept = tokens.create({ name: 'cli-bot', sites: 'all', rights: 'read' }, clock.now()).token;
    assert.equal(tokens.list()[0]?.lastUsedAt, undefined);
    tokens.check(token, { site: 'blog', right: 'read' }, clock.now());
    assert.equal(tokens.list()[0]?.lastUsedAt, clock.now());
    store.removeAdmin('alice', clock.now());
    assert.throws(() => tokens.check(token, { site: 'blog', right: 'read' }, clock.now()), { code: 'E_ADMIN_TOKEN_INVALID' });
    assert.equal(tokens.check(kept, { site: 'blog', right: 'read' }, clock.now()).name, 'cli-bot');
  });

  it('refuse bad names, rights and empty site lists', async (t) => {
    const { store } = await adminStore(t);
    const tokens = createApiTokens(store);
    assert.throws(() => tokens.create({ name: 'Bad Name', sites: 'all', rights: 'read' }), { code: 'E_USAGE' });
    assert.throws(() => tokens.create({ name: 'ok', sites: [], rights: 'read' }), { code: 'E_USAGE' });
    assert.throws(() => tokens.create({ name: 'ok', sites: 'all', rights: 'admin' as never }), { code: 'E_USAGE' });
  });
});
