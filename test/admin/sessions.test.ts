import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSessions, readSessionCookie, SESSION_COOKIE, clearedSessionCookie } from '../../src/admin/sessions.ts';
import { createSignInLimit } from '../../src/admin/sign-in-limit.ts';
import { signInWithLink, signInWithPassword } from '../../src/admin/sign-in.ts';
import { hashPassword } from '../../src/admin/passwords.ts';
import { adminStore, DAY, HOUR, MINUTE, testClock } from './admin-fixture.ts';

async function setup(t: TestContext) {
  const { store, dataDir } = await adminStore(t);
  const clock = testClock();
  store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: clock.now() });
  store.addAdmin({ name: 'bob', passwordHash: undefined, createdAt: clock.now() });
  const sessions = createSessions(store);
  return { store, dataDir, clock, sessions };
}

describe('one-time sign-in links', () => {
  it('signs in once; the same link a second time is refused', async (t) => {
    const { clock, sessions } = await setup(t);
    const link = sessions.createSignInLink('alice', clock.now());
    assert.match(link.path, /^\/_berth\/sign-in\?token=[A-Za-z0-9_-]{43}$/);
    assert.equal(link.path, `/_berth/sign-in?token=${link.token}`);
    const started = signInWithLink({ sessions }, link.token, {}, clock.now());
    assert.equal(started.session.admin, 'alice');
    clock.advance(MINUTE);
    assert.throws(() => signInWithLink({ sessions }, link.token, {}, clock.now()), { code: 'E_ADMIN_LINK_USED' });
  });

  it('is refused once expired, and stays unused', async (t) => {
    const { clock, sessions } = await setup(t);
    const link = sessions.createSignInLink('alice', clock.now());
    clock.advance(sessions.options.linkMs);
    assert.throws(() => sessions.useSignInLink(link.token, clock.now()), { code: 'E_ADMIN_LINK_EXPIRED' });
    assert.throws(() => sessions.useSignInLink(link.token, clock.now()), { code: 'E_ADMIN_LINK_EXPIRED' });
  });

  it('works until just before it expires', async (t) => {
    const { clock, sessions } = await setup(t);
    const link = sessions.createSignInLink('alice', clock.now());
    clock.advance(sessions.options.linkMs - 1);
    assert.equal(sessions.useSignInLink(link.token, clock.now()), 'alice');
  });

  it('is refused when its admin was removed, and for tokens never issued', async (t) => {
    const { store, clock, sessions } = await setup(t);
    const link = sessions.createSignInLink('alice', clock.now());
    assert.equal(store.removeAdmin('alice', clock.now()), true);
    assert.throws(() => sessions.useSignInLink(link.token, clock.now()), { code: 'E_ADMIN_LINK_INVALID' });
    assert.throws(() => sessions.useSignInLink('A'.repeat(43), clock.now()), { code: 'E_ADMIN_LINK_INVALID' });
    assert.throws(() => sessions.useSignInLink(`${link.token}x`, clock.now()), { code: 'E_ADMIN_LINK_INVALID' });
    assert.throws(() => sessions.createSignInLink('alice', clock.now()), { code: 'E_ADMIN_UNKNOWN' });
  });
});

describe('sessions', () => {
  it('get a new id at each sign-in, and a value planted before sign-in never becomes a session', async (t) => {
    const { clock, sessions } = await setup(t);
    const planted = 'P'.repeat(43);
    const first = sessions.start('alice', { previousToken: planted }, clock.now());
    const second = sessions.start('alice', { previousToken: first.token }, clock.now());
    assert.notEqual(first.token, planted);
    assert.notEqual(second.token, first.token);
    assert.notEqual(second.session.id, first.session.id);
    assert.throws(() => sessions.check(planted, clock.now()), { code: 'E_ADMIN_SESSION' });
    // Signing in again from the same browser ends the session it had.
    assert.throws(() => sessions.check(first.token, clock.now()), { code: 'E_ADMIN_SESSION', message: /revoked/ });
    assert.equal(sessions.check(second.token, clock.now()).session.id, second.session.id);
  });

  it('are stored by hash only', async (t) => {
    const { store, clock, sessions } = await setup(t);
    const started = sessions.start('alice', {}, clock.now());
    const stored = store.getSession(started.session.id);
    assert.ok(stored);
    assert.notEqual(stored.tokenHash, started.token);
    assert.doesNotMatch(JSON.stringify(stored), new RegExp(started.token));
  });

  it('end after the idle time without use, and stay alive while used', async (t) => {
    const { clock, sessions } = await setup(t);
    const idle = sessions.options.idleMs;
    const used = sessions.start('alice', {}, clock.now());
    const unused = sessions.start('bob', {}, clock.now());
    clock.advance(idle - MINUTE);
    sessions.check(used.token, clock.now());
    clock.advance(MINUTE);
    assert.throws(() => sessions.check(unused.token, clock.now()), { code: 'E_ADMIN_SESSION', message: /unused/ });
    assert.equal(sessions.check(used.token, clock.now()).session.admin, 'alice');
    assert.deepEqual(sessions.list(undefined, clock.now()).map((session) => session.admin), ['alice']);
  });

  it('end at the absolute lifetime however much they are used', async (t) => {
    const { clock, sessions } = await setup(t);
    const started = sessions.start('alice', {}, clock.now());
    const end = clock.now() + sessions.options.absoluteMs;
    while (clock.now() + HOUR < end) {
      clock.advance(HOUR);
      sessions.check(started.token, clock.now());
    }
    clock.advance(end - clock.now());
    assert.throws(() => sessions.check(started.token, clock.now()), { code: 'E_ADMIN_SESSION', message: /after its sign-in/ });
    assert.equal(sessions.options.absoluteMs, 7 * DAY);
  });

  it('can be revoked one at a time, or all of an admin', async (t) => {
    const { clock, sessions } = await setup(t);
    const [a1, a2, a3] = [0, 1, 2].map(() => sessions.start('alice', {}, clock.now()));
    const b1 = sessions.start('bob', {}, clock.now());
    assert.ok(a1 && a2 && a3);
    sessions.revoke(a1.session.id, clock.now());
    assert.throws(() => sessions.check(a1.token, clock.now()), { code: 'E_ADMIN_SESSION', message: /revoked/ });
    sessions.check(a2.token, clock.now());
    assert.throws(() => sessions.revoke(a1.session.id, clock.now()), { code: 'E_ADMIN_SESSION_UNKNOWN' });
    assert.equal(sessions.revokeAll('alice', clock.now()), 2);
    for (const started of [a2, a3]) assert.throws(() => sessions.check(started.token, clock.now()), { code: 'E_ADMIN_SESSION' });
    assert.equal(sessions.check(b1.token, clock.now()).session.admin, 'bob');
    assert.equal(sessions.revokeAll(undefined, clock.now()), 1);
    assert.throws(() => sessions.check(b1.token, clock.now()), { code: 'E_ADMIN_SESSION' });
  });

  it('end when their admin is removed', async (t) => {
    const { store, clock, sessions } = await setup(t);
    const started = sessions.start('alice', {}, clock.now());
    store.removeAdmin('alice', clock.now());
    assert.throws(() => sessions.check(started.token, clock.now()), { code: 'E_ADMIN_SESSION' });
    assert.throws(() => sessions.start('alice', {}, clock.now()), { code: 'E_ADMIN_UNKNOWN' });
  });

  it('set a __Host- cookie that is HttpOnly, Secure and SameSite=Strict', async (t) => {
    const { clock, sessions } = await setup(t);
    const started = sessions.start('alice', { userAgent: `Browser/1 ${'x'.repeat(500)}` }, clock.now());
    assert.equal(started.cookie, `__Host-berth_session=${started.token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=604800`);
    assert.equal(clearedSessionCookie(), '__Host-berth_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0');
    assert.equal(started.session.userAgent?.length, 200);
    assert.equal(readSessionCookie(`theme=dark; ${SESSION_COOKIE}=${started.token}; x=1`), started.token);
    assert.equal(readSessionCookie(`${SESSION_COOKIE}=a; ${SESSION_COOKIE}=b`), undefined);
    assert.equal(readSessionCookie(undefined), undefined);
  });
});

describe('CSRF tokens', () => {
  it('are accepted for their own session only', async (t) => {
    const { clock, sessions } = await setup(t);
    const alice = sessions.start('alice', {}, clock.now());
    const bob = sessions.start('bob', {}, clock.now());
    const aliceActive = sessions.check(alice.token, clock.now());
    const bobActive = sessions.check(bob.token, clock.now());
    assert.equal(aliceActive.csrfToken, alice.csrfToken);
    assert.notEqual(alice.csrfToken, bob.csrfToken);
    sessions.verifyCsrf(aliceActive, alice.csrfToken);
    assert.throws(() => sessions.verifyCsrf(aliceActive, bob.csrfToken), { code: 'E_ADMIN_CSRF' });
    assert.throws(() => sessions.verifyCsrf(bobActive, alice.csrfToken), { code: 'E_ADMIN_CSRF' });
    assert.throws(() => sessions.verifyCsrf(aliceActive, undefined), { code: 'E_ADMIN_CSRF' });
    assert.throws(() => sessions.verifyCsrf(aliceActive, ''), { code: 'E_ADMIN_CSRF' });
    // A new sign-in of the same admin has a new token.
    const again = sessions.start('alice', {}, clock.now());
    assert.throws(() => sessions.verifyCsrf(sessions.check(again.token, clock.now()), alice.csrfToken), { code: 'E_ADMIN_CSRF' });
  });
});

describe('password sign-in', () => {
  it('starts a session for the right password, and answers a wrong one and an unknown name alike', async (t) => {
    const { store, clock, sessions } = await setup(t);
    store.setPasswordHash('alice', await hashPassword('alice has a long password'));
    const deps = { store, sessions, limit: createSignInLimit(store) };
    const context = { clientAddress: '192.0.2.10' };
    const started = await signInWithPassword(deps, 'alice', 'alice has a long password', context, clock.now);
    assert.equal(sessions.check(started.token, clock.now()).session.admin, 'alice');
    await assert.rejects(signInWithPassword(deps, 'alice', 'not her password at all', context, clock.now), { code: 'E_ADMIN_SIGN_IN', message: 'Wrong admin name or password' });
    await assert.rejects(signInWithPassword(deps, 'mallory', 'alice has a long password', context, clock.now), { code: 'E_ADMIN_SIGN_IN', message: 'Wrong admin name or password' });
    // bob has no password: links only.
    await assert.rejects(signInWithPassword(deps, 'bob', 'alice has a long password', context, clock.now), { code: 'E_ADMIN_SIGN_IN' });
  });
});
