import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { createAuthGate, parseAuthUsers, passwordHashProblem, SCRYPT_LIMITS, scryptPasswordHash, storedPassword } from '../../src/static/basic-auth.ts';

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('createAuthGate()', () => {
  const gate = createAuthGate([{ name: 'alice', hash: storedPassword('pässword:with colon') }], 'site');

  it('accepts the right user and password, UTF-8 and colons in the password included', () => {
    assert.equal(gate.check(basic('alice', 'pässword:with colon')), 'ok');
    assert.equal(gate.check(`basic  ${Buffer.from('alice:pässword:with colon').toString('base64')}`), 'ok');
  });

  const denied: Array<[string, string | undefined]> = [
    ['no header', undefined],
    ['an empty header', ''],
    ['another scheme', 'Bearer abc'],
    ['no credentials after the scheme', 'Basic '],
    ['base64 without a colon', `Basic ${Buffer.from('alice').toString('base64')}`],
    ['an empty user', basic('', 'pässword:with colon')],
    ['a wrong password', basic('alice', 'password')],
    ['a password one character short', basic('alice', 'pässword:with colo')],
    ['an unknown user', basic('bob', 'pässword:with colon')],
    ['a user name in another case', basic('Alice', 'pässword:with colon')],
    ['the stored hash as the password', basic('alice', storedPassword('x'))],
    ['a header over 4 KiB', `Basic ${'A'.repeat(5000)}`],
    ['characters outside base64', 'Basic !!!!'],
  ];
  for (const [name, header] of denied) {
    it(`denies ${name}`, () => {
      assert.equal(gate.check(header), 'denied');
    });
  }

  it('gives a 401 challenge that names the realm and is never cached', () => {
    assert.equal(gate.challenge.status, 401);
    const headers = gate.challenge.headers;
    assert.equal(headers[headers.indexOf('www-authenticate') + 1], 'Basic realm="site", charset="UTF-8"');
    assert.equal(headers[headers.indexOf('cache-control') + 1], 'no-store');
  });

  it('keeps a realm with quotes or control characters from breaking the challenge', () => {
    const challenge = createAuthGate([], 'a"b\\c\nd').challenge;
    assert.equal(challenge.headers[challenge.headers.indexOf('www-authenticate') + 1], 'Basic realm="a_b_c_d", charset="UTF-8"');
  });

  it('skips a stored hash it cannot read, so nobody gets in with it', () => {
    assert.equal(createAuthGate([{ name: 'a', hash: 'plain' }], 's').check(basic('a', 'plain')), 'denied');
  });
});

describe('createAuthGate() with scrypt hashes', () => {
  it('accepts the password of a hash and remembers the login, so a repeat costs no scrypt check', () => {
    const gate = createAuthGate([{ name: 'a', hash: scryptPasswordHash('right', 10) }], 's');
    assert.equal(gate.check(basic('a', 'right')), 'ok');
    // Spend the whole budget on wrong passwords: a remembered login still gets in.
    let busy = 0;
    for (let i = 0; i < SCRYPT_LIMITS.checksPerSecond * 5; i += 1) if (gate.check(basic('a', `wrong${i}`)) === 'busy') busy += 1;
    assert.ok(busy >= 1, 'no answer was busy');
    assert.equal(gate.check(basic('a', 'right')), 'ok');
  });

  it('answers busy instead of running more scrypt checks than the budget per second', () => {
    const gate = createAuthGate([{ name: 'a', hash: scryptPasswordHash('right', 10) }], 's');
    // The budget refills at checksPerSecond; ten times as many tries in a row run out of it.
    const results = Array.from({ length: SCRYPT_LIMITS.checksPerSecond * 10 }, (_, i) => gate.check(basic('a', `guess${i}`)));
    assert.ok(results.includes('busy'));
    assert.ok(results.filter((result) => result === 'busy').length > results.filter((result) => result === 'denied').length);
    assert.ok(!results.includes('ok'));
  });

  it('accepts the hash the command in docs/redirects-and-headers.md makes', async () => {
    const doc = await readFile(join(import.meta.dirname, '../../docs/redirects-and-headers.md'), 'utf8');
    const command = /^ {2}node -e '([^']+)' 'the password'$/m.exec(doc)?.[1];
    assert.ok(command !== undefined, 'the doc has no node -e command');
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', command, 'the password']);
    const hash = stdout.trim();
    assert.equal(passwordHashProblem(hash), undefined);
    assert.equal(createAuthGate([{ name: 'a', hash }], 's').check(basic('a', 'the password')), 'ok');
  });
});

describe('passwordHashProblem()', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['refuses a cost over the limit', '$scrypt$ln=18,r=8,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', /ln=18; use 1 to 17/],
    ['refuses too much memory', '$scrypt$ln=17,r=16,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', /more than 64 MiB/],
    ['refuses p over the limit', '$scrypt$ln=10,r=8,p=9$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', /p=9/],
    ['refuses a short salt', '$scrypt$ln=10,r=8,p=1$c2FsdA==$aGFzaGhhc2hoYXNoaGFzaA==', /salt/],
    ['refuses a short hash', '$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ=$aGFzaA==', /hash that is not/],
    ['refuses the stored HMAC form', storedPassword('x'), /stored form/],
  ];
  for (const [name, hash, problem] of cases) {
    it(name, () => {
      assert.match(passwordHashProblem(hash) ?? '', problem);
    });
  }
});

describe('parseAuthUsers()', () => {
  it('reads several users and stores no password as written', () => {
    const users = parseAuthUsers('  alice:one\tbob:two:three  ');
    assert.ok(Array.isArray(users));
    assert.deepEqual(users.map((user) => user.name), ['alice', 'bob']);
    assert.doesNotMatch(JSON.stringify(users), /one|three/);
  });

  it('refuses more than 100 users', () => {
    assert.match(String(parseAuthUsers(Array.from({ length: 101 }, (_, i) => `u${i}:p`).join(' '))), /the limit is 100/);
  });
});
