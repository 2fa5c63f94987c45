/**
 * Passkeys against a software authenticator (test/helpers/webauthn-authenticator.ts)
 * that makes real WebAuthn bytes: P-256 keys, CBOR attestation objects,
 * ECDSA signatures, all checked by the library as a browser's would be.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createPasskeys, PASSKEY_CHALLENGE_MS, removePasskey, type Passkeys } from '../../src/admin/passkeys.ts';
import type { AdminStore } from '../../src/admin/admin-store.ts';
import { createSoftwareAuthenticator, type SoftwareAuthenticator } from '../helpers/webauthn-authenticator.ts';
import { adminStore, testClock } from './admin-fixture.ts';

const RP = { id: 'admin.example.test', name: 'Berth', origin: 'https://admin.example.test' };

async function setup(t: TestContext, admins: string[] = ['alice']): Promise<{ store: AdminStore; passkeys: Passkeys; clock: ReturnType<typeof testClock> }> {
  const { store } = await adminStore(t);
  const clock = testClock();
  for (const name of admins) store.addAdmin({ name, passwordHash: undefined, createdAt: clock.now() });
  return { store, passkeys: createPasskeys(store, RP), clock };
}

/** Adds a passkey for `admin` the way the dashboard will: options, the browser's answer, verification. */
async function register(passkeys: Passkeys, admin: string, authenticator: SoftwareAuthenticator, now: number, label?: string): Promise<string> {
  const options = await passkeys.registrationOptions(admin, now);
  const info = await passkeys.verifyRegistration(admin, authenticator.create(options, RP.origin), now, label);
  return info.id;
}

async function signIn(passkeys: Passkeys, authenticator: SoftwareAuthenticator, now: number): Promise<string> {
  const { options, challengeId } = await passkeys.authenticationOptions(now);
  return passkeys.verifyAuthentication(challengeId, authenticator.get(options, RP.origin), now);
}

describe('passkeys', () => {
  it('are added by an admin and then sign that admin in, without a name', async (t) => {
    const { store, passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();

    const options = await passkeys.registrationOptions('alice', clock.now());
    assert.equal(options.rp.id, RP.id);
    assert.equal(options.user.name, 'alice');
    assert.notEqual(Buffer.from(options.user.id, 'base64url').toString('utf8'), 'alice', 'the user handle is not the name');
    assert.equal(Buffer.from(options.user.id, 'base64url').length, 32);
    assert.equal(options.authenticatorSelection?.residentKey, 'required');
    assert.equal(options.authenticatorSelection?.userVerification, 'preferred');
    assert.deepEqual(options.excludeCredentials, []);
    assert.equal(options.timeout, PASSKEY_CHALLENGE_MS);

    const info = await passkeys.verifyRegistration('alice', authenticator.create(options, RP.origin), clock.now());
    assert.equal(info.id, authenticator.credentialId);
    assert.equal(info.admin, 'alice');
    assert.equal(info.label, 'passkey 1');
    assert.deepEqual(info.transports, ['internal', 'hybrid']);
    assert.equal(info.lastUsedAt, undefined);
    assert.equal('publicKey' in info, false, 'a summary never carries the key');

    clock.advance(60_000);
    const start = await passkeys.authenticationOptions(clock.now());
    assert.match(start.challengeId, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(start.options.rpId, RP.id);
    assert.equal(start.options.allowCredentials, undefined, 'discoverable: the browser offers what it has');
    assert.equal(await passkeys.verifyAuthentication(start.challengeId, authenticator.get(start.options, RP.origin), clock.now()), 'alice');

    const [listed] = passkeys.list('alice');
    assert.equal(listed?.counter, 1);
    assert.equal(listed?.lastUsedAt, clock.now());
    assert.equal(store.listPasskeys().length, 1);
  });

  it('keep one user handle per admin and exclude the passkeys the admin has', async (t) => {
    const { passkeys, clock } = await setup(t, ['alice', 'bob']);
    const first = createSoftwareAuthenticator();
    const id = await register(passkeys, 'alice', first, clock.now(), 'laptop');
    const again = await passkeys.registrationOptions('alice', clock.now());
    assert.equal(again.user.id, first.userHandle);
    assert.deepEqual(again.excludeCredentials?.map((credential) => credential.id), [id]);
    const bobs = await passkeys.registrationOptions('bob', clock.now());
    assert.notEqual(bobs.user.id, first.userHandle);
    assert.deepEqual(bobs.excludeCredentials, []);

    await passkeys.verifyRegistration('alice', createSoftwareAuthenticator().create(again, RP.origin), clock.now());
    assert.deepEqual(passkeys.list('alice').map((passkey) => passkey.label), ['laptop', 'passkey 2']);
  });

  it('work on the local demo origin, a port on admin.localhost', async (t) => {
    const { store, clock } = await setup(t);
    const local = { id: 'admin.localhost', name: 'Berth demo', origin: 'https://admin.localhost:8443' };
    const passkeys = createPasskeys(store, local);
    const authenticator = createSoftwareAuthenticator();
    const options = await passkeys.registrationOptions('alice', clock.now());
    await passkeys.verifyRegistration('alice', authenticator.create(options, local.origin), clock.now());
    const { options: request, challengeId } = await passkeys.authenticationOptions(clock.now());
    assert.equal(await passkeys.verifyAuthentication(challengeId, authenticator.get(request, local.origin), clock.now()), 'alice');
  });

  it('work with an authenticator that does not verify the user (a key without a PIN)', async (t) => {
    const { passkeys, clock } = await setup(t);
    const key = createSoftwareAuthenticator({ userVerified: false });
    await register(passkeys, 'alice', key, clock.now());
    assert.equal(await signIn(passkeys, key, clock.now()), 'alice');
  });

  it('are refused from another origin, with the origin to use', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    const options = await passkeys.registrationOptions('alice', clock.now());
    await assert.rejects(passkeys.verifyRegistration('alice', authenticator.create(options, RP.origin, { origin: 'https://evil.test' }), clock.now()), {
      code: 'E_ADMIN_PASSKEY',
      message: /on "https:\/\/evil\.test", not on https:\/\/admin\.example\.test; open the dashboard at/,
    });
    await register(passkeys, 'alice', authenticator, clock.now());
    const { options: request, challengeId } = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(challengeId, authenticator.get(request, RP.origin, { origin: 'http://admin.example.test' }), clock.now()), {
      code: 'E_ADMIN_PASSKEY',
      message: /not on https:\/\/admin\.example\.test/,
    });
  });

  it('are refused for another RP id', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    const options = await passkeys.registrationOptions('alice', clock.now());
    await assert.rejects(passkeys.verifyRegistration('alice', authenticator.create(options, RP.origin, { rpId: 'example.test' }), clock.now()), {
      code: 'E_ADMIN_PASSKEY',
      message: /another RP id than admin\.example\.test/,
    });
    assert.deepEqual(passkeys.list('alice'), []);
    await register(passkeys, 'alice', authenticator, clock.now());
    const { options: request, challengeId } = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(challengeId, authenticator.get(request, RP.origin, { rpId: 'other.example.test' }), clock.now()), {
      code: 'E_ADMIN_PASSKEY',
      message: /another RP id/,
    });
  });

  it('use a challenge once: a replayed answer is refused', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    const options = await passkeys.registrationOptions('alice', clock.now());
    const answer = authenticator.create(options, RP.origin);
    await passkeys.verifyRegistration('alice', answer, clock.now());
    await assert.rejects(passkeys.verifyRegistration('alice', answer, clock.now()), { code: 'E_ADMIN_PASSKEY', message: /no challenge is pending/ });

    const { options: request, challengeId } = await passkeys.authenticationOptions(clock.now());
    const assertion = authenticator.get(request, RP.origin);
    assert.equal(await passkeys.verifyAuthentication(challengeId, assertion, clock.now()), 'alice');
    await assert.rejects(passkeys.verifyAuthentication(challengeId, assertion, clock.now()), { code: 'E_ADMIN_PASSKEY', message: /answered already.*start the sign-in again/ });
  });

  it('use a challenge once even when the first answer fails', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    await register(passkeys, 'alice', authenticator, clock.now());
    const { options, challengeId } = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(challengeId, authenticator.get(options, RP.origin, { badSignature: true }), clock.now()), { code: 'E_ADMIN_SIGN_IN' });
    await assert.rejects(passkeys.verifyAuthentication(challengeId, authenticator.get(options, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY' });
  });

  it('refuse a challenge answered after 5 minutes', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    const options = await passkeys.registrationOptions('alice', clock.now());
    clock.advance(PASSKEY_CHALLENGE_MS);
    await assert.rejects(passkeys.verifyRegistration('alice', authenticator.create(options, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY', message: /expired.*5 minutes/ });

    await register(passkeys, 'alice', authenticator, clock.now());
    const { options: request, challengeId } = await passkeys.authenticationOptions(clock.now());
    clock.advance(PASSKEY_CHALLENGE_MS - 1);
    const late = authenticator.get(request, RP.origin);
    clock.advance(1);
    await assert.rejects(passkeys.verifyAuthentication(challengeId, late, clock.now()), { code: 'E_ADMIN_PASSKEY', message: /expired/ });
  });

  it('refuse an answer to another challenge: another admin\'s, or another sign-in\'s', async (t) => {
    const { passkeys, clock } = await setup(t, ['alice', 'bob']);
    const authenticator = createSoftwareAuthenticator();
    const bobsOptions = await passkeys.registrationOptions('bob', clock.now());
    await assert.rejects(passkeys.verifyRegistration('alice', authenticator.create(bobsOptions, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY', message: /no challenge is pending/ });
    await passkeys.registrationOptions('alice', clock.now());
    await assert.rejects(passkeys.verifyRegistration('alice', authenticator.create(bobsOptions, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY', message: /another challenge/ });
    assert.deepEqual(passkeys.list('alice'), []);

    await register(passkeys, 'alice', authenticator, clock.now());
    const one = await passkeys.authenticationOptions(clock.now());
    const other = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(one.challengeId, authenticator.get(other.options, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY', message: /another challenge/ });
  });

  it('refuse a copied authenticator once its counter falls behind', async (t) => {
    const { passkeys, clock } = await setup(t);
    const original = createSoftwareAuthenticator();
    await register(passkeys, 'alice', original, clock.now());
    const copy = original.clone();
    assert.equal(await signIn(passkeys, original, clock.now()), 'alice');
    assert.equal(await signIn(passkeys, original, clock.now()), 'alice');
    // The copy's counter says 1, the server saw 2: the library refuses counters that do not grow.
    await assert.rejects(signIn(passkeys, copy, clock.now()), { code: 'E_ADMIN_SIGN_IN', message: /counted fewer uses.*--remove/ });
    assert.equal(passkeys.list('alice')[0]?.counter, 2, 'the stored counter is not lowered');
    assert.equal(await signIn(passkeys, original, clock.now()), 'alice');
  });

  it('refuse an unknown passkey, a bad signature and a user handle of another admin as a wrong password is refused', async (t) => {
    const { passkeys, clock } = await setup(t, ['alice', 'bob']);
    await assert.rejects(signIn(passkeys, createSoftwareAuthenticator(), clock.now()), { code: 'E_ADMIN_SIGN_IN', message: /not known to Berth/ });
    const alices = createSoftwareAuthenticator();
    const bobs = createSoftwareAuthenticator();
    await register(passkeys, 'alice', alices, clock.now());
    await register(passkeys, 'bob', bobs, clock.now());
    const { options, challengeId } = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(challengeId, alices.get(options, RP.origin, { badSignature: true }), clock.now()), { code: 'E_ADMIN_SIGN_IN', message: /signature did not verify/ });
    const next = await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(next.challengeId, alices.get(next.options, RP.origin, { userHandle: bobs.userHandle }), clock.now()), { code: 'E_ADMIN_SIGN_IN', message: /another user/ });
    assert.equal(await signIn(passkeys, bobs, clock.now()), 'bob');
  });

  it('stop working when removed, or when their admin is', async (t) => {
    const { store, passkeys, clock } = await setup(t, ['alice', 'bob']);
    const laptop = createSoftwareAuthenticator();
    const phone = createSoftwareAuthenticator();
    const laptopId = await register(passkeys, 'alice', laptop, clock.now());
    await register(passkeys, 'alice', phone, clock.now());
    assert.throws(() => passkeys.remove('bob', laptopId), { code: 'E_ADMIN_PASSKEY_UNKNOWN' }, "not bob's to remove");
    passkeys.remove('alice', laptopId);
    assert.throws(() => passkeys.remove('alice', laptopId), { code: 'E_ADMIN_PASSKEY_UNKNOWN' });
    await assert.rejects(signIn(passkeys, laptop, clock.now()), { code: 'E_ADMIN_SIGN_IN' });
    assert.equal(await signIn(passkeys, phone, clock.now()), 'alice');

    store.removeAdmin('alice', clock.now());
    assert.deepEqual(store.listPasskeys(), [], 'the passkeys went with the admin');
    assert.equal(store.getPasskeyUserHandle('alice'), undefined);
    await assert.rejects(signIn(passkeys, phone, clock.now()), { code: 'E_ADMIN_SIGN_IN' });
    assert.throws(() => passkeys.list('alice'), { code: 'E_ADMIN_UNKNOWN' });
    await assert.rejects(passkeys.registrationOptions('alice', clock.now()), { code: 'E_ADMIN_UNKNOWN' });

    // A new admin of the same name is someone else: a new user handle, and the old passkey still signs no one in.
    store.addAdmin({ name: 'alice', passwordHash: undefined, createdAt: clock.now() });
    const fresh = await passkeys.registrationOptions('alice', clock.now());
    assert.notEqual(fresh.user.id, phone.userHandle);
    await assert.rejects(signIn(passkeys, phone, clock.now()), { code: 'E_ADMIN_SIGN_IN' });
  });

  it('are removed by their whole id, or by a start of it that only one has', async (t) => {
    const { store, passkeys, clock } = await setup(t);
    const one = await register(passkeys, 'alice', createSoftwareAuthenticator(), clock.now());
    const two = await register(passkeys, 'alice', createSoftwareAuthenticator(), clock.now());
    assert.throws(() => removePasskey(store, 'alice', one.slice(0, 3)), { code: 'E_ADMIN_PASSKEY_UNKNOWN' }, 'too short a start matches nothing');
    assert.throws(() => removePasskey(store, 'alice', ''), { code: 'E_ADMIN_PASSKEY_UNKNOWN' });
    assert.equal(removePasskey(store, 'alice', one.slice(0, 12)).id, one);
    assert.equal(removePasskey(store, 'alice', two).id, two);
    assert.deepEqual(passkeys.list('alice'), []);
  });

  it('refuse a passkey added twice, and bad labels', async (t) => {
    const { passkeys, clock } = await setup(t, ['alice', 'bob']);
    const authenticator = createSoftwareAuthenticator();
    await register(passkeys, 'alice', authenticator, clock.now());
    const bobs = await passkeys.registrationOptions('bob', clock.now());
    await assert.rejects(passkeys.verifyRegistration('bob', authenticator.create(bobs, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY', message: /added already/ });
    for (const label of ['', '   ', 'x'.repeat(65), 'tab\there']) {
      await passkeys.registrationOptions('bob', clock.now());
      await assert.rejects(passkeys.verifyRegistration('bob', {}, clock.now(), label), { code: 'E_ADMIN_PASSKEY', message: /label/ }, JSON.stringify(label));
    }
  });

  it('refuse malformed answers with a short message that does not repeat them', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    await register(passkeys, 'alice', authenticator, clock.now());
    const { options } = await passkeys.authenticationOptions(clock.now());
    const good = authenticator.get(options, RP.origin);
    const marker = 'HOSTILE_MARKER';
    const cases: Array<[string, unknown]> = [
      ['not JSON', `{${marker}`],
      ['a JSON array', `[${JSON.stringify(marker)}]`],
      ['a number', 42],
      ['null', null],
      ['huge text', JSON.stringify({ ...good, padding: marker.repeat(10_000) })],
      ['an id of the wrong type', { ...good, id: 5, rawId: 5 }],
      ['an id that is not base64url', { ...good, id: `${marker}+/==`, rawId: `${marker}+/==` }],
      ['a huge id', { ...good, id: marker.repeat(200), rawId: marker.repeat(200) }],
      ['rawId not id', { ...good, rawId: 'AAAA' }],
      ['another type', { ...good, type: marker }],
      ['no response', { ...good, response: undefined }],
      ['a response that is an array', { ...good, response: [marker] }],
      ['clientDataJSON not a string', { ...good, response: { ...good.response, clientDataJSON: { marker } } }],
      ['padded signature', { ...good, response: { ...good.response, signature: `${good.response.signature}==` } }],
      ['clientDataJSON that is not JSON', { ...good, response: { ...good.response, clientDataJSON: Buffer.from(marker).toString('base64url') } }],
      ['authenticator data cut short', { ...good, response: { ...good.response, authenticatorData: 'AAAA' } }],
      ['a prototype trick', JSON.parse(`{"__proto__": {"id": "${good.id}"}}`)],
    ];
    for (const [what, input] of cases) {
      const { challengeId } = await passkeys.authenticationOptions(clock.now());
      await assert.rejects(
        passkeys.verifyAuthentication(challengeId, input, clock.now()),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'E_ADMIN_PASSKEY', `${what}: ${error.message}`);
          assert.ok(error.message.length < 300, `${what}: short message`);
          assert.doesNotMatch(error.message, new RegExp(marker), `${what}: not repeated`);
          return true;
        },
        what,
      );
    }
    for (const challengeId of [undefined, '', 'x', 'A'.repeat(22), `${marker}`]) {
      await assert.rejects(passkeys.verifyAuthentication(challengeId, good, clock.now()), { code: 'E_ADMIN_PASSKEY' }, String(challengeId));
    }

    const newcomer = createSoftwareAuthenticator();
    const registrationCases: Array<[string, (answer: ReturnType<SoftwareAuthenticator['create']>) => unknown]> = [
      ['text that is not JSON', () => 'nope'],
      ['an attestation object of the wrong type', (answer) => ({ ...answer, response: { ...answer.response, attestationObject: 7 } })],
      ['an attestation object that is not CBOR', (answer) => ({ ...answer, response: { ...answer.response, attestationObject: Buffer.from(marker).toString('base64url') } })],
    ];
    for (const [what, bend] of registrationCases) {
      const creation = await passkeys.registrationOptions('alice', clock.now());
      await assert.rejects(passkeys.verifyRegistration('alice', bend(newcomer.create(creation, RP.origin)), clock.now()), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'E_ADMIN_PASSKEY', `${what}: ${error.message}`);
        assert.doesNotMatch(error.message, new RegExp(marker), what);
        return true;
      });
    }
    // Transports are a hint: unknown ones are dropped, not refused.
    const answer = newcomer.create(await passkeys.registrationOptions('alice', clock.now()), RP.origin);
    const info = await passkeys.verifyRegistration('alice', { ...answer, response: { ...answer.response, transports: ['usb', marker, 5, 'usb'] } }, clock.now());
    assert.deepEqual(info.transports, ['usb']);
  });

  it('forget the oldest pending sign-ins past 10,000', async (t) => {
    const { passkeys, clock } = await setup(t);
    const authenticator = createSoftwareAuthenticator();
    await register(passkeys, 'alice', authenticator, clock.now());
    const first = await passkeys.authenticationOptions(clock.now());
    const second = await passkeys.authenticationOptions(clock.now());
    for (let i = 0; i < 9_999; i += 1) await passkeys.authenticationOptions(clock.now());
    await assert.rejects(passkeys.verifyAuthentication(first.challengeId, authenticator.get(first.options, RP.origin), clock.now()), { code: 'E_ADMIN_PASSKEY' });
    assert.equal(await passkeys.verifyAuthentication(second.challengeId, authenticator.get(second.options, RP.origin), clock.now()), 'alice');
  });

  it('need an https origin on the RP id', async (t) => {
    const { store } = await setup(t);
    for (const rp of [
      { id: 'admin.example.test', name: 'x', origin: 'http://admin.example.test' },
      { id: 'admin.example.test', name: 'x', origin: 'https://evil.test' },
      { id: 'admin.example.test', name: 'x', origin: 'https://admin.example.test/dashboard' },
      { id: '', name: 'x', origin: 'https://admin.example.test' },
      { id: 'admin.example.test', name: 'x', origin: 'not a url' },
    ]) {
      assert.throws(() => createPasskeys(store, rp), { code: 'E_ADMIN_PASSKEY' }, JSON.stringify(rp));
    }
    createPasskeys(store, { id: 'localhost', name: 'x', origin: 'http://localhost:8080' });
  });
});
