/**
 * `berth init` through `main()`, with real files in a temporary directory
 * and real streams for input and output.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { FORGES } from '../../src/config/config-schema.ts';
import { tempDir } from '../helpers/temp.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `berth init …` in `cwd`; `input` is fed to standard input, a terminal when `tty` is set. */
async function runInit(cwd: string, args: string[], options: { input?: string; tty?: boolean } = {}): Promise<Run> {
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
  if (options.input !== undefined) stdin.write(options.input);
  stdin.end();
  const code = await main(['init', ...args], { stdout: sink((text) => (stdout += text)), stderr: sink((text) => (stderr += text)), env: {}, cwd, stdin } as never);
  return { code, stdout, stderr };
}

const GITHUB = ['--domain', 'example.com', '--domain', 'www.example.com', '--repo', 'https://github.com/you/blog.git', '--email', 'you@example.com', '--data-dir', 'data'];

async function secretOf(dir: string, site: string): Promise<string> {
  return (await readFile(join(dir, 'secrets', `${site}-webhook-secret`), 'utf8')).trim();
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

describe('berth init with options', () => {
  it('writes a config loadConfig accepts, with the answers given and a private secret file', async (t: TestContext) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, [...GITHUB, '--branch', 'published', '--site', 'blog', '--yes']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');

    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.dataDir, join(dir, 'data'));
    assert.equal(config.acme.email, 'you@example.com');
    assert.equal(config.sites.length, 1);
    const site = config.sites[0];
    assert.ok(site);
    assert.equal(site.name, 'blog');
    assert.deepEqual(site.domains, ['example.com', 'www.example.com']);
    assert.equal(site.repo, 'https://github.com/you/blog.git');
    assert.equal(site.branch, 'published');
    assert.equal(site.webhook?.forge, 'github');

    const secretFile = join(dir, 'secrets', 'blog-webhook-secret');
    const secret = await secretOf(dir, 'blog');
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.equal(site.webhook?.secret.reveal(), secret);
    assert.equal(String(site.webhook?.secret), `[secret from file ${secretFile}]`);
    assert.equal((await stat(secretFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'secrets'))).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'berth.toml'))).mode & 0o777, 0o600);

    const toml = await readFile(join(dir, 'berth.toml'), 'utf8');
    assert.match(toml, /^secret_file = "secrets\/blog-webhook-secret"/m);
    assert.ok(!toml.includes(secret), 'the config holds no secret');
    assert.equal(run.stdout.split(secret).length - 1, 1, 'the secret is printed once');
  });

  it('derives the site name from the first domain and defaults the branch and data directory', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, ['--domain', 'WWW.Example.COM,shop.example.com', '--repo', 'git@github.com:you/shop.git']);
    assert.equal(run.code, 0, run.stderr);
    const toml = await readFile(join(dir, 'berth.toml'), 'utf8');
    assert.match(toml, /^data_dir = "\/var\/lib\/berth"$/m);
    assert.match(toml, /^name = "example-com"$/m);
    assert.match(toml, /^domains = \["www\.example\.com", "shop\.example\.com"\]$/m);
    assert.match(toml, /^branch = "main"$/m);
    assert.match(toml, /^# email = /m, 'no email: the key is left commented out');
  });

  it('writes --config FILE, creating its directory, with the secret beside it', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, [...GITHUB, '--config', 'etc/berth/site.toml']);
    assert.equal(run.code, 0, run.stderr);
    const config = await loadConfig(join(dir, 'etc', 'berth', 'site.toml'), {});
    assert.equal(config.sites[0]?.webhook?.secret.reveal(), (await readFile(join(dir, 'etc', 'berth', 'secrets', 'example-com-webhook-secret'), 'utf8')).trim());
  });

  it('guesses the forge from the repository host', async (t) => {
    const cases: Array<[string, string]> = [
      ['https://github.com/you/blog.git', 'github'],
      ['git@gitlab.com:you/blog.git', 'gitlab'],
      ['https://bitbucket.org/you/blog.git', 'bitbucket'],
      ['ssh://git@codeberg.org/you/blog.git', 'forgejo'],
      ['https://gitea.example.org/you/blog.git', 'gitea'],
    ];
    for (const [repo, forge] of cases) {
      const dir = await tempDir(t);
      const run = await runInit(dir, ['--domain', 'example.com', '--repo', repo]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal((await loadConfig(join(dir, 'berth.toml'), {})).sites[0]?.webhook?.forge, forge, repo);
    }
  });

  it('needs --forge when the host says nothing, and --forge wins over the guess', async (t) => {
    const dir = await tempDir(t);
    const unknown = await runInit(dir, ['--domain', 'example.com', '--repo', 'https://git.example.net/you/blog.git']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Missing --forge FORGE \(github, gitlab, gitea, forgejo, bitbucket, generic\).*\[E_USAGE\]/);
    assert.equal(await exists(join(dir, 'berth.toml')), false);

    const chosen = await runInit(dir, ['--domain', 'example.com', '--repo', 'https://github.com/you/blog.git', '--forge', 'generic']);
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.equal((await loadConfig(join(dir, 'berth.toml'), {})).sites[0]?.webhook?.forge, 'generic');
  });

  it('prints what to enter in each forge, and the DNS records and ports', async (t) => {
    const expected: Record<string, RegExp[]> = {
      github: [/Payload URL: +https:\/\/example\.com\/_berth\/hooks\/blog\n/, /Content type: +application\/json\n/, /Which events: +Just the push event/, /SSL verification: +Enable SSL verification/],
      gitlab: [/URL: +https:\/\/example\.com\/_berth\/hooks\/blog\n/, /Secret token: +[0-9a-f]{64}\n/, /Trigger: +Push events \(branch filter: wildcard pattern "main"/, /application\/json/],
      gitea: [/Target URL: +https:\/\/example\.com\/_berth\/hooks\/blog\n/, /HTTP method: +POST/, /POST content type: +application\/json/, /Trigger on: +Push events/, /Branch filter: +main/, /-> Gitea\n/],
      forgejo: [/Target URL: +https:\/\/example\.com\/_berth\/hooks\/blog\n/, /HTTP method: +POST/, /POST content type: +application\/json/, /Trigger on: +Push events/, /-> Forgejo\n/],
      bitbucket: [/URL: +https:\/\/example\.com\/_berth\/hooks\/blog\n/, /Triggers: +Repository push/, /application\/json/, /Secret: +[0-9a-f]{64} +\(required/],
      generic: [/Request: +POST https:\/\/example\.com\/_berth\/hooks\/blog\n/, /Content-Type: application\/json/, /X-Berth-Signature: sha256=<lower-case hex HMAC-SHA256 of the exact body bytes/, /"ref":"refs\/heads\/main"/],
    };
    for (const forge of FORGES) {
      const dir = await tempDir(t);
      const run = await runInit(dir, ['--domain', 'example.com,www.example.com', '--repo', 'https://git.example.net/x.git', '--forge', forge, '--site', 'blog']);
      assert.equal(run.code, 0, run.stderr);
      const secret = await secretOf(dir, 'blog');
      assert.ok(run.stdout.includes(secret), `${forge}: the secret is printed`);
      for (const pattern of expected[forge] ?? []) assert.match(run.stdout, pattern, forge);
      if (forge !== 'generic') assert.match(run.stdout, /Only pushes to main are deployed/, forge);
      assert.match(run.stdout, /printed below once/);
      assert.match(run.stdout, /\n {2}example\.com +A +(<your server's IPv4>|\d+\.\d+\.\d+\.\d+)\n/);
      assert.match(run.stdout, /\n {2}www\.example\.com +A +(<your server's IPv4>|\d+\.\d+\.\d+\.\d+)\n/);
      assert.match(run.stdout, /open TCP ports 80 and 443/);
      assert.match(run.stdout, /security group or security list/);
    }
  });

  it('lists a domain given twice once, with a note', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, ['--domain', 'example.com', '--domain', 'EXAMPLE.com', '--domain', 'bücher.example,xn--bcher-kva.example', '--repo', 'https://github.com/a/b.git']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await loadConfig(join(dir, 'berth.toml'), {})).sites[0]?.domains, ['example.com', 'xn--bcher-kva.example']);
    assert.match(run.stderr, /note: example\.com was given twice; it is listed once/);
    assert.match(run.stderr, /note: xn--bcher-kva\.example was given twice/);
  });
});

describe('berth init and the dashboard', () => {
  it('--admin-domain writes [admin] domain, and prints its DNS record and how to make the first admin', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, [...GITHUB, '--admin-domain', 'Berth.Example.com', '--yes']);
    assert.equal(run.code, 0, run.stderr);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.admin.domain, 'berth.example.com');
    const toml = await readFile(join(dir, 'berth.toml'), 'utf8');
    assert.match(toml, /\n# The dashboard and JSON API, on a host name of their own; see docs\/dashboard\.md\.\n(# .*\n)*\[admin\]\ndomain = "berth\.example\.com"\n/);
    assert.match(run.stdout, /\n {2}the dashboard at https:\/\/berth\.example\.com\/\n/);
    assert.match(run.stdout, /\n {2}www\.example\.com +A +\S.*\n {2}berth\.example\.com +A +(<your server's IPv4>|\d+\.\d+\.\d+\.\d+)\n/);
    assert.ok(run.stdout.includes(`\n  berth admin add NAME --config ${join(dir, 'berth.toml')}\n`), run.stdout);
    assert.match(run.stdout, /nothing answers at https:\/\/berth\.example\.com\/ until the dashboard has an admin/);
  });

  it('is off with --yes unless --admin-domain is given, the key left as a commented-out example', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, [...GITHUB, '--yes'], { tty: true, input: 'berth.example.com\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await loadConfig(join(dir, 'berth.toml'), {})).admin.domain, undefined);
    assert.match(await readFile(join(dir, 'berth.toml'), 'utf8'), /^# \[admin\]\n# domain = "berth\.example\.com"$/m);
    assert.doesNotMatch(run.stdout, /berth admin add|dashboard|berth\.example\.com/);
  });
});

describe('berth init refuses to overwrite', () => {
  it('an existing config without --force, and replaces it with --force, keeping the secret', async (t) => {
    const dir = await tempDir(t);
    assert.equal((await runInit(dir, GITHUB)).code, 0);
    const secret = await secretOf(dir, 'example-com');
    const before = await readFile(join(dir, 'berth.toml'), 'utf8');

    const refused = await runInit(dir, [...GITHUB.slice(0, 2), '--repo', 'https://github.com/you/other.git']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /berth\.toml already exists; pass --force to replace it.*\[E_INIT_EXISTS\]/);
    assert.equal(await readFile(join(dir, 'berth.toml'), 'utf8'), before);

    const forced = await runInit(dir, ['--domain', 'example.com', '--repo', 'https://github.com/you/other.git', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.sites[0]?.repo, 'https://github.com/you/other.git');
    assert.equal(await secretOf(dir, 'example-com'), secret, 'the secret the forge has is kept');
    assert.match(forced.stdout, /Kept the webhook secret already in/);
    assert.ok(forced.stdout.includes(secret));
  });

  it('a config path that is a directory, even with --force', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'berth.toml'));
    const run = await runInit(dir, [...GITHUB, '--force']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /berth\.toml is a directory.*\[E_INIT_EXISTS\]/);
  });

  it('a secret file with no usable secret, unless --force', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'secrets'));
    await writeFile(join(dir, 'secrets', 'example-com-webhook-secret'), '  \n');
    const refused = await runInit(dir, GITHUB);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /secret_file .*example-com-webhook-secret holds only white space; pass --force to replace it.*\[E_INIT_EXISTS\]/);
    assert.equal(await exists(join(dir, 'berth.toml')), false, 'nothing written');

    const forced = await runInit(dir, [...GITHUB, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await secretOf(dir, 'example-com'), /^[0-9a-f]{64}$/);
  });
});

describe('berth init refuses bad input, naming the option', () => {
  const long = 'a'.repeat(10_240);
  const cases: Array<{ args: string[]; flag: string; says: RegExp }> = [
    { args: ['--domain', 'https://example.com/'], flag: '--domain', says: /is a URL; write just the host name/ },
    { args: ['--domain', 'example.com:8080'], flag: '--domain', says: /has a port/ },
    { args: ['--domain', '*.example.com'], flag: '--domain', says: /wildcard/ },
    { args: ['--domain', `${long}.com`], flag: '--domain', says: /label longer than 63|longer than 253/ },
    { args: ['--domain', 'example.com\nevil.com'], flag: '--domain', says: /contains white space/ },
    { args: ['--domain', 'example.com,,www.example.com'], flag: '--domain', says: /empty name/ },
    { args: ['--domain', 'exa mple.com'], flag: '--domain', says: /white space/ },
    { args: ['--domain', ''], flag: '--domain', says: /empty/ },
    { args: ['--site', '../x'], flag: '--site', says: /not a valid site name; use 1 to 63 lower-case letters/ },
    { args: ['--site', 'Blog'], flag: '--site', says: /not a valid site name/ },
    { args: ['--site', long], flag: '--site', says: /not a valid site name/ },
    { args: ['--forge', 'gitbucket'], flag: '--forge', says: /unknown forge "gitbucket"; use one of github, gitlab, gitea, forgejo, bitbucket, generic/ },
    { args: ['--repo', '--upload-pack=touch /tmp/x'], flag: '--repo', says: /starts with "-"/ },
    { args: ['--repo', 'https://github.com/a/b.git\n[server]'], flag: '--repo', says: /control character/ },
    { args: ['--repo', `https://github.com/${long}`], flag: '--repo', says: /characters long; a clone URL is at most 2048/ },
    { args: ['--branch', 'a..b'], flag: '--branch', says: /not a valid git branch name/ },
    { args: ['--branch', '-x'], flag: '--branch', says: /starts with "-"/ },
    { args: ['--branch', long], flag: '--branch', says: /forges send refs of at most 255 characters/ },
    { args: ['--email', 'not-an-email'], flag: '--email', says: /not an email address/ },
    { args: ['--email', `${long}@example.com`], flag: '--email', says: /an email address is at most 254/ },
    { args: ['--admin-domain', 'https://berth.example.com/'], flag: '--admin-domain', says: /is a URL; write just the host name/ },
    { args: ['--admin-domain', 'berth.example.com:8443'], flag: '--admin-domain', says: /has a port/ },
    { args: ['--admin-domain', 'EXAMPLE.com'], flag: '--admin-domain', says: /"EXAMPLE\.com" is one of the site's domains; the dashboard needs a host name of its own, such as "berth\.example\.com"/ },
    { args: ['--admin-domain', `${long}.com`], flag: '--admin-domain', says: /label longer than 63|longer than 253/ },
    { args: ['--admin-domain', 'berth.example.com\n[server]'], flag: '--admin-domain', says: /contains white space/ },
    { args: ['--data-dir', '~/berth'], flag: '--data-dir', says: /starts with "~"/ },
    { args: ['--data-dir', 'data\ndir'], flag: '--data-dir', says: /control character/ },
  ];
  for (const { args, flag, says } of cases) {
    it(`${flag} ${JSON.stringify(args[1]).slice(0, 40)}`, async (t) => {
      const dir = await tempDir(t);
      const base = ['--domain', 'example.com', '--repo', 'https://github.com/you/blog.git'];
      const run = await runInit(dir, [...base, `${args[0]}=${args[1]}`]);
      assert.equal(run.code, 2, run.stderr);
      assert.equal(run.stdout, '');
      assert.ok(run.stderr.startsWith(`berth init: ${flag}: `), run.stderr);
      assert.match(run.stderr, says);
      assert.match(run.stderr, /\[E_USAGE\]\n\nUsage: berth init/);
      assert.ok(run.stderr.length < 1000, 'a long value is shortened in the message');
      assert.ok(!run.stderr.includes('\n[server]') && !run.stderr.includes('example.com\nevil'), 'no raw newline from the value');
      assert.deepEqual(await readdir(dir), [], 'nothing written');
    });
  }

  it('positional arguments', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, ['example.com']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^berth init: takes no arguments besides its options; "example\.com" is one too many \(give the domain with --domain\)/);
  });
});

describe('berth init without a terminal', () => {
  it('names the missing option and exits 2', async (t) => {
    const dir = await tempDir(t);
    const noDomain = await runInit(dir, ['--repo', 'https://github.com/you/blog.git']);
    assert.equal(noDomain.code, 2);
    assert.match(noDomain.stderr, /Missing --domain DOMAIN.*pass it as an option \[E_USAGE\]/);
    const noRepo = await runInit(dir, ['--domain', 'example.com']);
    assert.equal(noRepo.code, 2);
    assert.match(noRepo.stderr, /Missing --repo URL/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('--yes asks nothing even on a terminal', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, ['--domain', 'example.com', '--yes'], { tty: true, input: 'https://github.com/a/b.git\n' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Missing --repo URL/);
  });
});

describe('berth init on a terminal', () => {
  it('asks for what is missing, shows defaults in brackets, and asks again after a bad answer', async (t) => {
    const dir = await tempDir(t);
    const input = [
      'https://example.com', // refused: a URL
      'example.com, www.example.com',
      'https://berth.example.com/', // refused: a URL
      'berth.example.com:8443', // refused: a port
      'WWW.example.com', // refused: one of the site's domains
      `${'a'.repeat(64)}.example.com`, // refused: too long
      'Berth.example.com',
      '-oops', // refused: starts with "-"
      'https://codeberg.org/you/blog.git',
      '', // forge: the guess
      '', // branch: main
      '../x', // refused
      '', // site: the default
      'you@', // refused
      'you@example.com',
      '',
    ].join('\n');
    const run = await runInit(dir, ['--data-dir', 'data'], { tty: true, input });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Domain\(s\), comma-separated: /);
    assert.match(run.stderr, /"https:\/\/example\.com" is a URL; write just the host name.*; try again/);
    assert.match(run.stderr, /The dashboard and JSON API answer on a host name of their own.*\nDashboard host name, e\.g\. berth\.example\.com \(Enter for none\): /);
    assert.match(run.stderr, /"https:\/\/berth\.example\.com\/" is a URL.*; try again/);
    assert.match(run.stderr, /"berth\.example\.com:8443" has a port.*; try again/);
    assert.match(run.stderr, /"WWW\.example\.com" is one of the site's domains; the dashboard needs a host name of its own, such as "berth\.example\.com"; try again/);
    assert.match(run.stderr, /has a label longer than 63 characters; try again/);
    assert.match(run.stderr, /starts with "-", which a repository cannot; try again/);
    assert.match(run.stderr, /Forge \(github, gitlab, gitea, forgejo, bitbucket, generic\) \[forgejo\]: /);
    assert.match(run.stderr, /Branch to deploy \[main\]: /);
    assert.match(run.stderr, /Site name \[example-com\]: /);
    assert.match(run.stderr, /"\.\.\/x" is not a valid site name/);
    assert.match(run.stderr, /"you@" is not an email address/);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    const site = config.sites[0];
    assert.deepEqual(site?.domains, ['example.com', 'www.example.com']);
    assert.equal(site?.repo, 'https://codeberg.org/you/blog.git');
    assert.equal(site?.webhook?.forge, 'forgejo');
    assert.equal(site?.name, 'example-com');
    assert.equal(site?.branch, 'main');
    assert.equal(config.acme.email, 'you@example.com');
    assert.equal(config.admin.domain, 'berth.example.com');
    assert.match(run.stdout, /\n {2}berth\.example\.com +A /);
    assert.match(run.stdout, /\n {2}berth admin add NAME --config \S+berth\.toml\n/);
  });

  it('asks only for what the options leave out', async (t) => {
    const dir = await tempDir(t);
    const given = ['--domain', 'example.com', '--repo', 'https://github.com/a/b.git', '--forge', 'github', '--branch', 'dev', '--site', 's', '--email', 'a@example.com'];
    for (const adminDomain of ['admin.example.com', '']) {
      const run = await runInit(dir, [...given, '--admin-domain', adminDomain, '--force'], { tty: true, input: '' });
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '', '--admin-domain "" says no dashboard, and is not asked');
      assert.equal((await loadConfig(join(dir, 'berth.toml'), {})).admin.domain, adminDomain === '' ? undefined : adminDomain);
    }
  });

  it('takes an empty answer to the dashboard question as no dashboard', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, ['--domain', 'www.example.com', '--repo', 'https://github.com/a/b.git', '--email', ''], { tty: true, input: '\n\n\n\n\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Dashboard host name, e\.g\. berth\.example\.com \(Enter for none\): /);
    assert.doesNotMatch(run.stderr, /\[berth\.example\.com\]/, 'the suggestion is not a default');
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.admin.domain, undefined);
    assert.doesNotMatch(run.stdout, /berth admin add/);
  });

  it('refuses a site domain that --admin-domain already took, and asks again', async (t) => {
    const dir = await tempDir(t);
    const input = ['example.com,berth.example.com', 'example.com', 'https://github.com/a/b.git', '', '', '', '', ''].join('\n'); // forge, branch, site, email: Enter
    const run = await runInit(dir, ['--admin-domain', 'berth.example.com'], { tty: true, input });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /"berth\.example\.com" is the dashboard's host name \(--admin-domain\); give the site names of its own; try again/);
    assert.doesNotMatch(run.stderr, /Dashboard host name/);
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.deepEqual(config.sites[0]?.domains, ['example.com']);
    assert.equal(config.admin.domain, 'berth.example.com');
  });

  it('stops with nothing written when the input ends', async (t) => {
    const dir = await tempDir(t);
    const run = await runInit(dir, [], { tty: true, input: 'example.com\n\n' });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /The input ended before --repo was answered; nothing was written .*\[E_USAGE\]/);
    assert.deepEqual(await readdir(dir), []);
  });
});
