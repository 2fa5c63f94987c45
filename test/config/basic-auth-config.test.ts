import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { createAuthGate, scryptPasswordHash } from '../../src/static/basic-auth.ts';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const cases = configCases('berth-basic-auth-');

function site(users: string): string {
  return ['[[sites]]', 'name = "blog"', 'domains = ["example.com"]', '[sites.basic_auth]', `users = [${users}]`].join('\n');
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

describe('[sites.basic_auth]', () => {
  it('reads a password from the environment and keeps only its hash', async () => {
    const { config, problems } = await cases.read(site('{ name = "alice", password = "${BLOG_ALICE}" }'), { BLOG_ALICE: 'pw-from-env' });
    assert.deepEqual(problems, []);
    const users = config?.sites[0]?.basicAuth;
    assert.deepEqual(users?.map((user) => user.name), ['alice']);
    assert.doesNotMatch(JSON.stringify(config), /pw-from-env/);
    assert.doesNotMatch(inspect(config, { depth: 10 }), /pw-from-env/);
    const gate = createAuthGate(users ?? [], 'blog');
    assert.equal(gate.check(basic('alice', 'pw-from-env')), 'ok');
    assert.equal(gate.check(basic('alice', 'other')), 'denied');
  });

  it('reads a password or a $scrypt$ hash from a file', async () => {
    const hash = scryptPasswordHash('hashed', 10);
    const { config, problems } = await cases.read(
      site('{ name = "a", password_file = "a.txt" }, { name = "b", password_file = "b.txt" }'),
      {},
      { 'a.txt': 'plain-from-file\n', 'b.txt': `${hash}\n` },
    );
    assert.deepEqual(problems, []);
    const gate = createAuthGate(config?.sites[0]?.basicAuth ?? [], 'blog');
    assert.equal(gate.check(basic('a', 'plain-from-file')), 'ok');
    assert.equal(gate.check(basic('b', 'hashed')), 'ok');
    assert.equal(gate.check(basic('b', hash)), 'denied');
  });

  it('accepts a $scrypt$ hash written in the file', async () => {
    const hash = scryptPasswordHash('hashed', 10);
    const { config, problems } = await cases.read(site(`{ name = "a", password = "${hash}" }`));
    assert.deepEqual(problems, []);
    assert.equal(createAuthGate(config?.sites[0]?.basicAuth ?? [], 'blog').check(basic('a', 'hashed')), 'ok');
  });

  it('leaves sites without basic_auth open', async () => {
    const { config } = await cases.read('[[sites]]\nname = "blog"\ndomains = ["example.com"]');
    assert.equal(config?.sites[0]?.basicAuth, undefined);
  });

  const refused: Array<{ name: string; users: string; env?: NodeJS.ProcessEnv; at: string; message: RegExp }> = [
    { name: 'refuses a plain password written in berth.toml, without echoing it', users: '{ name = "a", password = "hunter2" }', at: 'sites[0].basic_auth.users[0].password', message: /a plain password in the config file is refused/ },
    { name: 'refuses an unset environment variable', users: '{ name = "a", password = "${NOPE}" }', at: 'sites[0].basic_auth.users[0].password', message: /NOPE is not set/ },
    { name: 'refuses a missing password file', users: '{ name = "a", password_file = "missing.txt" }', at: 'sites[0].basic_auth.users[0].password_file', message: /no such file/ },
    { name: 'refuses a user without a password', users: '{ name = "a" }', at: 'sites[0].basic_auth.users[0]', message: /no password; set password = "\$\{BLOG_A_PASSWORD\}"/ },
    { name: 'refuses both password and password_file', users: '{ name = "a", password = "${X}", password_file = "x" }', env: { X: 'x' }, at: 'sites[0].basic_auth.users[0]', message: /both password and password_file/ },
    { name: 'refuses a user listed twice', users: '{ name = "a", password = "${X}" }, { name = "a", password = "${X}" }', env: { X: 'x' }, at: 'sites[0].basic_auth.users[1].name', message: /listed twice/ },
    { name: 'refuses a user name with a colon', users: '{ name = "a:b", password = "${X}" }', env: { X: 'x' }, at: 'sites[0].basic_auth.users[0].name', message: /not a valid user name/ },
    { name: 'refuses an empty list of users', users: '', at: 'sites[0].basic_auth.users', message: /list at least one user/ },
    { name: 'refuses an unknown key', users: '{ name = "a", pasword = "${X}" }', env: { X: 'x' }, at: 'sites[0].basic_auth.users[0].pasword', message: /did you mean "password"/ },
    { name: 'refuses a broken $scrypt$ hash', users: '{ name = "a", password = "$scrypt$ln=40,r=8,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==" }', at: 'sites[0].basic_auth.users[0].password', message: /the password hash has ln=40/ },
  ];
  for (const { name, users, env, at, message } of refused) {
    it(name, async () => {
      const { config, problems } = await cases.read(site(users), env ?? {});
      assert.equal(config, undefined);
      assert.match(problemAt(problems, at).message, message);
      assert.doesNotMatch(JSON.stringify(problems), /hunter2/);
    });
  }
});
