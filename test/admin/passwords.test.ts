import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkPasswordRules, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../../src/admin/passwords.ts';

describe('passwords', () => {
  it('verifies the password a hash was made from, and no other', async () => {
    const hash = await hashPassword('correct horse battery');
    assert.match(hash, /^\$scrypt\$ln=15,r=8,p=3\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.equal(await verifyPassword('correct horse battery', hash), true);
    assert.equal(await verifyPassword('correct horse batterY', hash), false);
    assert.equal(await verifyPassword('', hash), false);
  });

  it('salts each hash, so one password gives two different hashes', async () => {
    const [first, second] = await Promise.all([hashPassword('the same password'), hashPassword('the same password')]);
    assert.notEqual(first, second);
    assert.equal(await verifyPassword('the same password', second), true);
  });

  it('says no for an admin without a hash and for a stored value that is not a hash Berth wrote', async () => {
    assert.equal(await verifyPassword('anything at all', undefined), false);
    assert.equal(await verifyPassword('anything at all', 'anything at all'), false);
    const hash = await hashPassword('a password long enough');
    // A tampered hash asking for absurd parameters is not run.
    assert.equal(await verifyPassword('a password long enough', hash.replace('ln=15', 'ln=40')), false);
    assert.equal(await verifyPassword('a password long enough', hash.slice(0, -2)), false);
  });

  it('refuses passwords that are too short or too long', async () => {
    assert.throws(() => checkPasswordRules('x'.repeat(MIN_PASSWORD_LENGTH - 1)), { code: 'E_ADMIN_PASSWORD' });
    assert.doesNotThrow(() => checkPasswordRules('x'.repeat(MIN_PASSWORD_LENGTH)));
    await assert.rejects(hashPassword('short'), { code: 'E_ADMIN_PASSWORD' });
    await assert.rejects(hashPassword('x'.repeat(1025)), { code: 'E_ADMIN_PASSWORD' });
  });
});
