import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../src/admin/passwords.ts';
import { createSessions } from '../../src/admin/sessions.ts';
import { clientKey, createSignInLimit } from '../../src/admin/sign-in-limit.ts';
import { signInWithPassword } from '../../src/admin/sign-in.ts';
import { adminStore, MINUTE, testClock } from './admin-fixture.ts';

async function setup(t: TestContext) {
  const { store } = await adminStore(t);
  const clock = testClock();
  store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: clock.now() });
  return { store, clock };
}

describe('sign-in limit', () => {
  it('locks an admin after 5 wrong passwords from any addresses, then refuses even the right one without checking it', async (t) => {
    const { store, clock } = await setup(t);
    store.setPasswordHash('alice', await hashPassword('the right password'));
    const limit = createSignInLimit(store);
    const deps = { store, sessions: createSessions(store), limit };
    for (let attempt = 1; attempt <= 5; attempt++) {
      await assert.rejects(signInWithPassword(deps, 'alice', `guess number ${attempt}!`, { clientAddress: `198.51.100.${attempt}` }, clock.now), { code: 'E_ADMIN_SIGN_IN' });
    }
    await assert.rejects(signInWithPassword(deps, 'alice', 'the right password', { clientAddress: '203.0.113.9' }, clock.now), { code: 'E_ADMIN_LOCKED', message: /this name/ });
    assert.equal(limit.lockOf('alice', '203.0.113.9', clock.now())?.scope, 'admin');
    // Refused attempts do not count, so the lock ends on time.
    clock.advance(limit.options.lockMs - MINUTE);
    await assert.rejects(signInWithPassword(deps, 'alice', 'the right password', { clientAddress: '203.0.113.9' }, clock.now), { code: 'E_ADMIN_LOCKED' });
    clock.advance(MINUTE);
    const started = await signInWithPassword(deps, 'alice', 'the right password', { clientAddress: '203.0.113.9' }, clock.now);
    assert.equal(started.session.admin, 'alice');
  });

  it('bounds failures per client address whatever names it tries', async (t) => {
    const { store, clock } = await setup(t);
    const limit = createSignInLimit(store);
    const address = '192.0.2.77';
    for (let attempt = 0; attempt < limit.options.perClient; attempt++) {
      limit.check(`user${attempt}`, address, clock.now());
      limit.recordFailure(undefined, address, clock.now());
    }
    assert.throws(() => limit.check('anyone', address, clock.now()), { code: 'E_ADMIN_LOCKED', message: /this address/ });
    assert.doesNotThrow(() => limit.check('anyone', '192.0.2.78', clock.now()));
    clock.advance(limit.options.lockMs);
    assert.doesNotThrow(() => limit.check('anyone', address, clock.now()));
  });

  it('locks a name that is not an admin exactly as it locks an admin, so a lock tells no names', async (t) => {
    const { store, clock } = await setup(t);
    store.setPasswordHash('alice', await hashPassword('the right password'));
    const deps = { store, sessions: createSessions(store), limit: createSignInLimit(store) };
    const answers = async (name: string): Promise<string[]> => {
      const codes: string[] = [];
      for (let attempt = 1; attempt <= 6; attempt++) {
        const error = await signInWithPassword(deps, name, `wrong password ${attempt}`, { clientAddress: `2001:db8:${attempt}::1` }, clock.now).catch((caught: Error) => caught);
        codes.push(`${(error as { code?: string }).code}: ${(error as Error).message}`);
      }
      return codes;
    };
    assert.deepEqual(await answers('mallory'), await answers('alice'));
  });

  it('forgets failures once their window is over', async (t) => {
    const { store, clock } = await setup(t);
    const limit = createSignInLimit(store);
    for (let attempt = 0; attempt < limit.options.perAdmin - 1; attempt++) limit.recordFailure('alice', '192.0.2.1', clock.now());
    clock.advance(limit.options.windowMs);
    limit.recordFailure('alice', '192.0.2.1', clock.now());
    assert.doesNotThrow(() => limit.check('alice', '192.0.2.1', clock.now()));
    assert.equal(store.getAttempts('admin:alice')?.failures, 1);
  });

  it('clears an admin\'s count after a right password', async (t) => {
    const { store, clock } = await setup(t);
    const limit = createSignInLimit(store);
    for (let attempt = 0; attempt < limit.options.perAdmin - 1; attempt++) limit.recordFailure('alice', '192.0.2.1', clock.now());
    limit.recordSuccess('alice');
    limit.recordFailure('alice', '192.0.2.1', clock.now());
    assert.doesNotThrow(() => limit.check('alice', '192.0.2.1', clock.now()));
  });

  it('keeps the table bounded under 10,000 random client addresses, and the admin\'s lock with it', async (t) => {
    const { store, clock } = await setup(t);
    const limit = createSignInLimit(store, { maxKeys: 1000 });
    for (let attempt = 0; attempt < limit.options.perAdmin; attempt++) limit.recordFailure('alice', '192.0.2.1', clock.now());
    for (let index = 0; index < 10_000; index++) {
      const address = `${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;
      limit.recordFailure(index % 2 === 0 ? 'alice' : undefined, address, clock.now());
      assert.ok(store.countAttempts('client') <= 1000);
    }
    assert.ok(store.countAttempts() <= 1001, `${store.countAttempts()} rows`);
    assert.throws(() => limit.check('alice', '192.0.2.200', clock.now()), { code: 'E_ADMIN_LOCKED' });
    // Once every window is over, the next failure prunes what no longer counts.
    clock.advance(Math.max(limit.options.windowMs, limit.options.lockMs) + 1);
    limit.recordFailure(undefined, '192.0.2.1', clock.now());
    assert.equal(store.countAttempts(), 1);
  });

  it('counts an IPv6 address by its /64 and an IPv4-mapped one as IPv4', () => {
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(clientKey('::1'), '0:0:0:0::/64');
    assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('192.0.2.1'), '192.0.2.1');
    assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
