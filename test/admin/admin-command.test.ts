/**
 * `berth admin` through `main()`, with a real config and state.db in a
 * temporary directory, and standard input a stream of the test's (a
 * terminal when the test says so).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { openAdminStore } from '../../src/admin/admin-store.ts';
import { createApiTokens } from '../../src/admin/api-tokens.ts';
import { verifyPassword } from '../../src/admin/passwords.ts';
import { createPasskeys } from '../../src/admin/passkeys.ts';
import { createSessions } from '../../src/admin/sessions.ts';
import { createSoftwareAuthenticator } from '../helpers/webauthn-authenticator.ts';
import { tempDir } from '../helpers/temp.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  input?: string;
  tty?: boolean;
  /** Filled with each setRawMode call when `tty` is set. */
  rawModes?: boolean[];
}

const CONFIG = [
  'data_dir = "data"',
  '[server]',
  'host = "127.0.0.1"',
  'http_port = 0',
  'https_port = 0',
  '[acme]',
  'directory = "off"',
  '[[sites]]',
  'name = "blog"',
  'domains = ["blog.test"]',
  '[[sites]]',
  'name = "docs"',
  'domains = ["docs.test"]',
  '',
].join('\n');

async function project(t: TestContext): Promise<string> {
  const dir = await tempDir(t, 'berth-admin-cli-');
  await writeFile(join(dir, 'berth.toml'), CONFIG);
  return dir;
}

async function berth(cwd: string, args: string[], options: RunOptions = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const sink = (write: (text: string) => void): Writable =>
    new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        write(chunk.toString());
        callback();
      },
    });
  const stdin = Object.assign(new PassThrough(), { isTTY: options.tty === true });
  if (options.tty === true) Object.assign(stdin, { setRawMode: (raw: boolean) => options.rawModes?.push(raw) });
  if (options.input !== undefined) stdin.write(options.input);
  stdin.end();
  const code = await main(args, { stdout: sink((text) => (stdout += text)), stderr: sink((text) => (stderr += text)), env: {}, cwd, stdin } as never);
  return { code, stdout, stderr };
}

function assertOk(run: Run): void {
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stderr, '');
}

function assertFailed(run: Run, code: 1 | 2, pattern: RegExp): void {
  assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^berth admin: /);
  assert.match(run.stderr, pattern);
}

function withStore<T>(cwd: string, work: (store: ReturnType<typeof openAdminStore>) => T): T {
  const store = openAdminStore(join(cwd, 'data'));
  try {
    return work(store);
  } finally {
    store.close();
  }
}

describe('berth admin add', () => {
  it('prints the whole address of the link, and where the dashboard is, once [admin] domain is set', async (t) => {
    const dir = await project(t);
    await writeFile(join(dir, 'berth.toml'), CONFIG.replace('https_port = 0', 'https_port = 8443') + '[admin]\ndomain = "berth.example.com"\n');
    const run = await berth(dir, ['admin', 'add', 'alice']);
    assertOk(run);
    assert.match(run.stdout, /^ {2}https:\/\/berth\.example\.com:8443\/_berth\/sign-in\?token=[A-Za-z0-9_-]{43}$/m);
    const withPassword = await berth(dir, ['admin', 'add', 'bob', '--password-stdin'], { input: 'bob has a long password\n' });
    assertOk(withPassword);
    assert.match(withPassword.stdout, /The dashboard is at https:\/\/berth\.example\.com:8443\/$/m);
  });

  it('adds an admin without a password and prints a one-time sign-in link that works once', async (t) => {
    const dir = await project(t);
    const run = await berth(dir, ['admin', 'add', 'alice']);
    assertOk(run);
    const token = /^ {2}\/_berth\/sign-in\?token=([A-Za-z0-9_-]{43})$/m.exec(run.stdout)?.[1];
    assert.ok(token, run.stdout);
    assert.match(run.stdout, /\[admin\] domain/);
    withStore(dir, (store) => {
      assert.equal(store.getAdmin('alice')?.passwordHash, undefined);
      const sessions = createSessions(store);
      assert.equal(sessions.useSignInLink(token), 'alice');
      assert.throws(() => sessions.useSignInLink(token), { code: 'E_ADMIN_LINK_USED' });
    });
    assertFailed(await berth(dir, ['admin', 'add', 'alice']), 1, /exists already.*\[E_ADMIN_EXISTS\]/);
    const again = await berth(dir, ['admin', 'link', 'alice']);
    assertOk(again);
    assert.match(again.stdout, /sign-in\?token=/);
    assertFailed(await berth(dir, ['admin', 'link', 'zoe']), 1, /\[E_ADMIN_UNKNOWN\]/);
  });

  it('sets a password read from standard input with --password-stdin', async (t) => {
    const dir = await project(t);
    const run = await berth(dir, ['admin', 'add', 'bob', '--password-stdin'], { input: 'bob has a long password\nignored\n' });
    assertOk(run);
    assert.doesNotMatch(run.stdout, /token=/);
    const hash = withStore(dir, (store) => store.getAdmin('bob')?.passwordHash);
    assert.equal(await verifyPassword('bob has a long password', hash), true);
    assertFailed(await berth(dir, ['admin', 'add', 'carl', '--password-stdin'], { input: 'short\n' }), 1, /at least 12.*\[E_ADMIN_PASSWORD\]/);
  });

  it('refuses --password when standard input is not a terminal, and adds nobody', async (t) => {
    const dir = await project(t);
    const run = await berth(dir, ['admin', 'add', 'carol', '--password'], { input: 'carol has a long password\ncarol has a long password\n' });
    assertFailed(run, 2, /not (a terminal|one).*--password-stdin.*\[E_USAGE\]/s);
    assert.equal(withStore(dir, (store) => store.getAdmin('carol')), undefined);
  });

  it('reads the password twice from a terminal, without echo', async (t) => {
    const dir = await project(t);
    const rawModes: boolean[] = [];
    const run = await berth(dir, ['admin', 'add', 'dave', '--password'], { tty: true, rawModes, input: 'dave typed thiz\u007fs slowly\rdave typed this slowly\r' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, 'Password: \nPassword again: \n', 'prompts only; nothing typed is shown');
    assert.equal(rawModes[0], true);
    assert.equal(rawModes.at(-1), false);
    const hash = withStore(dir, (store) => store.getAdmin('dave')?.passwordHash);
    assert.equal(await verifyPassword('dave typed this slowly', hash), true);

    const differ = await berth(dir, ['admin', 'add', 'erin', '--password'], { tty: true, input: 'erin password one\rerin password two\r' });
    assert.equal(differ.code, 1);
    assert.match(differ.stderr, /differ.*\[E_ADMIN_PASSWORD\]/);
    const interrupted = await berth(dir, ['admin', 'add', 'erin', '--password'], { tty: true, input: 'erin pass\u0003' });
    assert.equal(interrupted.code, 2);
    assert.match(interrupted.stderr, /Interrupted/);
    assert.equal(withStore(dir, (store) => store.getAdmin('erin')), undefined);
  });
});

describe('berth admin list, password and remove', () => {
  it('lists admins, replaces a password (ending sessions) and removes an admin with their sessions and tokens', async (t) => {
    const dir = await project(t);
    assertOk(await berth(dir, ['admin', 'list']));
    assertOk(await berth(dir, ['admin', 'add', 'alice']));
    assertOk(await berth(dir, ['admin', 'add', 'bob', '--password-stdin'], { input: 'bob has a long password\n' }));
    const listed = await berth(dir, ['admin', 'list', '--json']);
    assertOk(listed);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Array<{ name: string; password: boolean }>).map(({ name, password }) => [name, password]),
      [
        ['alice', false],
        ['bob', true],
      ],
    );
    const table = await berth(dir, ['admin', 'list']);
    assertOk(table);
    assert.match(table.stdout, /^ADMIN +PASSWORD +ADDED +SESSIONS +PASSKEYS\nalice +none \(links only\) .* 0\nbob +set .* 0\n/);

    const token = withStore(dir, (store) => {
      createSessions(store).start('alice');
      createSessions(store).start('bob');
      return createApiTokens(store).create({ name: 'alices-bot', sites: 'all', rights: 'read', createdBy: 'alice' }).token;
    });
    const password = await berth(dir, ['admin', 'password', 'bob', '--password-stdin'], { input: 'a new long password for bob\n' });
    assertOk(password);
    assert.match(password.stdout, /1 session ended/);

    const removed = await berth(dir, ['admin', 'remove', 'alice']);
    assertOk(removed);
    assert.match(removed.stdout, /removed; 1 session ended, 1 API token they made revoked/);
    withStore(dir, (store) => {
      assert.equal(store.getAdmin('alice'), undefined);
      assert.throws(() => createApiTokens(store).check(token, { site: 'blog', right: 'read' }), { code: 'E_ADMIN_TOKEN_INVALID' });
    });
    assertFailed(await berth(dir, ['admin', 'remove', 'alice']), 1, /\[E_ADMIN_UNKNOWN\]/);
  });
});

describe('berth admin sessions', () => {
  it('lists active sessions and revokes one, all of an admin, or all', async (t) => {
    const dir = await project(t);
    assertOk(await berth(dir, ['admin', 'add', 'alice']));
    assertOk(await berth(dir, ['admin', 'add', 'bob']));
    const [a1, a2, b1] = withStore(dir, (store) => {
      const sessions = createSessions(store);
      return [sessions.start('alice', { userAgent: 'Firefox/140' }), sessions.start('alice'), sessions.start('bob')];
    });
    assert.ok(a1 && a2 && b1);
    const listed = await berth(dir, ['admin', 'sessions']);
    assertOk(listed);
    assert.match(listed.stdout, /^ID +ADMIN +SIGNED IN +LAST SEEN +ENDS BY +BROWSER\n/);
    for (const started of [a1, a2, b1]) assert.match(listed.stdout, new RegExp(`^${started.session.id} `, 'm'));
    assert.match(listed.stdout, /Firefox\/140/);
    assert.doesNotMatch(listed.stdout, new RegExp(a1.token));
    const json = JSON.parse((await berth(dir, ['admin', 'sessions', 'bob', '--json'])).stdout) as Array<{ id: string }>;
    assert.deepEqual(json.map((session) => session.id), [b1.session.id]);

    assertFailed(await berth(dir, ['admin', 'sessions', 'bob', '--revoke', a1.session.id]), 1, /not one of bob's.*\[E_ADMIN_SESSION_UNKNOWN\]/);
    assertOk(await berth(dir, ['admin', 'sessions', '--revoke', a1.session.id]));
    assertFailed(await berth(dir, ['admin', 'sessions', '--revoke', a1.session.id]), 1, /\[E_ADMIN_SESSION_UNKNOWN\]/);
    const ended = await berth(dir, ['admin', 'sessions', 'alice', '--revoke-all']);
    assertOk(ended);
    assert.match(ended.stdout, /1 session ended for alice/);
    withStore(dir, (store) => {
      const sessions = createSessions(store);
      for (const started of [a1, a2]) assert.throws(() => sessions.check(started.token), { code: 'E_ADMIN_SESSION' });
      assert.equal(sessions.check(b1.token).session.admin, 'bob');
    });
    assert.match((await berth(dir, ['admin', 'sessions', '--revoke-all'])).stdout, /1 session ended/);
    assert.match((await berth(dir, ['admin', 'sessions'])).stdout, /^No active sessions/);
    assertFailed(await berth(dir, ['admin', 'sessions', 'zoe']), 1, /\[E_ADMIN_UNKNOWN\]/);
  });
});

describe('berth admin passkeys', () => {
  it('lists an admin\'s passkeys, counts them in the admin list, and removes one by the start of its id', async (t) => {
    const dir = await project(t);
    assertOk(await berth(dir, ['admin', 'add', 'alice']));
    assertOk(await berth(dir, ['admin', 'add', 'bob']));
    const none = await berth(dir, ['admin', 'passkeys', 'alice']);
    assertOk(none);
    assert.match(none.stdout, /^alice has no passkeys; they add one from the dashboard/);

    // Added as the dashboard will add them: the browser's part is a software authenticator.
    const rp = { id: 'admin.blog.test', name: 'Berth', origin: 'https://admin.blog.test' };
    const laptop = createSoftwareAuthenticator();
    const phone = createSoftwareAuthenticator();
    const store = openAdminStore(join(dir, 'data'));
    try {
      const passkeys = createPasskeys(store, rp);
      for (const [authenticator, label] of [[laptop, 'laptop'], [phone, 'phone']] as const) {
        const options = await passkeys.registrationOptions('alice');
        await passkeys.verifyRegistration('alice', authenticator.create(options, rp.origin), Date.now(), label);
      }
      const { options, challengeId } = await passkeys.authenticationOptions();
      assert.equal(await passkeys.verifyAuthentication(challengeId, phone.get(options, rp.origin)), 'alice');
    } finally {
      store.close();
    }

    const listed = await berth(dir, ['admin', 'passkeys', 'alice']);
    assertOk(listed);
    assert.match(listed.stdout, new RegExp(`^ID +LABEL +ADDED +LAST USED\n${laptop.credentialId.slice(0, 12)} +laptop +.* never\n${phone.credentialId.slice(0, 12)} +phone +.*(?<!never)\n$`));
    const json = JSON.parse((await berth(dir, ['admin', 'passkeys', 'alice', '--json'])).stdout) as Array<{ id: string; label: string; lastUsedAt: string | null }>;
    assert.deepEqual(json.map(({ id, label }) => [id, label]), [[laptop.credentialId, 'laptop'], [phone.credentialId, 'phone']]);
    assert.equal(json[0]?.lastUsedAt, null);
    assert.match((await berth(dir, ['admin', 'list'])).stdout, /\nalice +none +.* 2\nbob +none \(links only\) .* 0\n/);

    assertFailed(await berth(dir, ['admin', 'passkeys', 'bob', '--remove', laptop.credentialId.slice(0, 12)]), 1, /bob has no passkey.*\[E_ADMIN_PASSKEY_UNKNOWN\]/);
    const removed = await berth(dir, ['admin', 'passkeys', 'alice', '--remove', laptop.credentialId.slice(0, 12)]);
    assertOk(removed);
    assert.match(removed.stdout, /^Passkey \S+ \("laptop"\) of alice removed/);
    assertFailed(await berth(dir, ['admin', 'passkeys', 'alice', '--remove', laptop.credentialId]), 1, /\[E_ADMIN_PASSKEY_UNKNOWN\]/);
    assert.deepEqual(JSON.parse((await berth(dir, ['admin', 'passkeys', 'alice', '--json'])).stdout).map((passkey: { label: string }) => passkey.label), ['phone']);
    assert.match((await berth(dir, ['admin', 'remove', 'alice'])).stdout, /^Admin "alice" removed; 1 passkey removed\.\n$/);
    withStore(dir, (store) => assert.deepEqual(store.listPasskeys(), []));
    assertFailed(await berth(dir, ['admin', 'passkeys', 'alice']), 1, /\[E_ADMIN_UNKNOWN\]/);
  });
});

describe('berth admin token', () => {
  it('makes a token shown once, lists tokens without it, and revokes one', async (t) => {
    const dir = await project(t);
    const made = await berth(dir, ['admin', 'token', 'add', 'deploy-bot', '--sites', 'blog,docs', '--rights', 'deploy']);
    assertOk(made);
    const token = made.stdout.trimEnd().split('\n').at(-1) as string;
    assert.match(token, /^berth_[A-Za-z0-9_-]{43}$/);
    assert.match(made.stdout, /for sites blog, docs, to read and deploy/);
    withStore(dir, (store) => assert.equal(createApiTokens(store).check(token, { site: 'docs', right: 'deploy' }).name, 'deploy-bot'));

    assertOk(await berth(dir, ['admin', 'token', 'add', 'status', '--sites', 'all', '--rights', 'read']));
    const listed = await berth(dir, ['admin', 'token', 'list']);
    assertOk(listed);
    assert.match(listed.stdout, /^TOKEN +SITES +RIGHTS +MADE +BY +LAST USED +STATE\ndeploy-bot +blog,docs +deploy .*\(command line\) +(?!never)\S.* +active\nstatus +all +read /);
    assert.doesNotMatch(listed.stdout, /berth_/);
    const json = await berth(dir, ['admin', 'token', 'list', '--json']);
    assert.doesNotMatch(json.stdout, new RegExp(token.slice(6)));

    assertOk(await berth(dir, ['admin', 'token', 'revoke', 'deploy-bot']));
    withStore(dir, (store) => assert.throws(() => createApiTokens(store).check(token, { site: 'blog', right: 'read' }), { code: 'E_ADMIN_TOKEN_INVALID' }));
    assertFailed(await berth(dir, ['admin', 'token', 'revoke', 'deploy-bot']), 1, /\[E_ADMIN_TOKEN_UNKNOWN\]/);
    assertFailed(await berth(dir, ['admin', 'token', 'add', 'status', '--sites', 'all', '--rights', 'read']), 1, /\[E_ADMIN_TOKEN_EXISTS\]/);
    assertFailed(await berth(dir, ['admin', 'token', 'add', 'x', '--sites', 'blgo', '--rights', 'read']), 1, /did you mean "blog"\?.*\[E_SITE_UNKNOWN\]/);
  });
});

describe('berth admin with bad arguments', () => {
  it('exits 2 with the usage, and changes nothing', async (t) => {
    const dir = await project(t);
    const cases: Array<[string[], RegExp]> = [
      [['admin'], /needs a command/],
      [['admin', 'frob'], /not a berth admin command/],
      [['admin', 'lst'], /did you mean "list"\?/],
      [['admin', 'add'], /needs a name/],
      [['admin', 'add', 'a', 'b'], /one too many/],
      [['admin', 'add', 'Bad Name'], /not a valid admin name/],
      [['admin', 'add', 'alice', '--sites', 'blog'], /--sites does not go with berth admin add/],
      [['admin', 'list', 'alice'], /takes no name/],
      [['admin', 'sessions', '--revoke', 'x', '--revoke-all'], /not both/],
      [['admin', 'passkeys'], /needs a name/],
      [['admin', 'passkeys', 'alice', '--remove', 'x', '--json'], /does not go with --remove/],
      [['admin', 'passkeys', 'alice', '--revoke', 'x'], /--revoke does not go with berth admin passkeys/],
      [['admin', 'remove', 'alice', '--remove', 'x'], /--remove does not go with berth admin remove/],
      [['admin', 'token'], /takes add, list or revoke/],
      [['admin', 'token', 'add', 'ci', '--sites', 'blog'], /needs --rights/],
      [['admin', 'token', 'add', 'ci', '--sites', 'blog', '--rights', 'admin'], /--rights "admin" is not known/],
      [['admin', 'token', 'add', 'ci', '--rights', 'read'], /needs --sites/],
      [['admin', 'list', '--frob'], /unknown option --frob/],
      [['admin', 'a', 'b', 'c', 'd'], /one too many/],
    ];
    for (const [args, pattern] of cases) {
      const run = await berth(dir, args);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.equal(run.stdout, '', args.join(' '));
      assert.match(run.stderr, pattern, args.join(' '));
      assert.match(run.stderr, /Usage: berth admin add NAME/, args.join(' '));
    }
    const listed = await berth(dir, ['admin', 'list', '--json']);
    assert.deepEqual(JSON.parse(listed.stdout), []);
  });

  it('answers --help', async (t) => {
    const dir = await project(t);
    for (const args of [['admin', '--help'], ['admin', 'token', 'add', '--help'], ['help', 'admin']]) {
      const run = await berth(dir, args);
      assertOk(run);
      assert.match(run.stdout, /^Usage: berth admin add NAME/);
      assert.match(run.stdout, /--revoke-all/);
      assert.match(run.stdout, /passkeys NAME +an admin's passkeys[\s\S]*?Passkeys are added from the dashboard/);
    }
  });
});
