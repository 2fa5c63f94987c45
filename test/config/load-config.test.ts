import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { isBerthError } from '../../src/errors.ts';
import { type ConfigProblem, findConfigPath, loadConfig, readConfig } from '../../src/config/load-config.ts';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const cases = configCases('berth-config-');
const read = cases.read;

function errors(problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.filter((problem) => problem.severity === 'error');
}

const SITE = `
[[sites]]
name = "blog"
domains = ["example.com"]
`;

describe('readConfig() defaults', () => {
  it('fills in every default for a minimal site', async () => {
    const { config, problems, file } = await read(SITE);
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.equal(config.configPath, file);
    assert.equal(config.dataDir, '/var/lib/berth');
    assert.deepEqual(config.server, {
      host: '::',
      httpPort: 80,
      httpsPort: 443,
      tls: { certFile: undefined, keyFile: undefined },
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
      maxHeaderBytes: 16_384,
      maxConnections: 10_000,
      memoryCacheBytes: 67_108_864,
      workers: availableParallelism(),
      shutdownTimeoutMs: 10_000,
      accessLog: true,
      user: 'berth',
      httpsRedirect: true,
      httpsRedirectPort: undefined,
    });
    assert.deepEqual(config.acme, {
      email: undefined,
      directory: 'letsencrypt',
      directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
      eab: undefined,
      profile: undefined,
      caFile: undefined,
      checkIntervalMs: 600_000,
      retryDelayMs: 60_000,
    });
    assert.deepEqual(config.log, { level: 'info' });
    assert.deepEqual(config.deploy, { concurrency: 1, buildUidBase: 200_000, allowUnisolatedBuilds: false, history: { keepDeploys: 100, keepDays: 30, keepDeliveriesDays: 30 } });
    assert.deepEqual(config.sites, [
      {
        name: 'blog',
        domains: ['example.com'],
        repo: undefined,
        branch: 'main',
        build: { command: undefined, publish: undefined, environment: {}, timeoutMs: 900_000, maxProcesses: 1024, maxOutputBytes: 1_073_741_824 },
        webhook: undefined,
        retain: 10,
        deployKeyFile: undefined,
        token: undefined,
        submodules: false,
        pollIntervalMs: undefined,
        hsts: undefined,
      },
    ]);
  });

  it('accepts an empty file, warning that no site is configured', async () => {
    const { config, problems } = await read('');
    assert.ok(config);
    assert.deepEqual(config.sites, []);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.severity, 'warning');
    assert.equal(problems[0]?.path, 'sites');
  });

  it('defaults the signature header of a webhook', async () => {
    const { config } = await read(`${SITE}[sites.webhook]\nforge = "generic"\nsecret = "\${HOOK}"\n`, { HOOK: 'generic-hook-secret-1' });
    assert.equal(config?.sites[0]?.webhook?.signatureHeader, 'X-Berth-Signature');
  });
});

describe('readConfig() with every key set', () => {
  const FULL = `
data_dir = "state"

[server]
host = "127.0.0.1"
http_port = 8080
https_port = false
headers_timeout = "5s"
request_timeout = "1m"
idle_timeout = "90s"
shutdown_timeout = "500ms"
max_header_size = "32KiB"
max_connections = 500
memory_cache = 262144
workers = 2
access_log = false
user = "www-data"
https_redirect = false
https_redirect_port = 443

[server.tls]
cert_file = "tls/cert.pem"
key_file = "/etc/berth/key.pem"

[acme]
email = "ops@example.com"
directory = "https://localhost:14000/dir"
profile = "shortlived"
ca_file = "pebble.pem"
check_interval = "1m"
retry_delay = "30s"

[acme.eab]
kid = "kid-1"
hmac_key = "\${EAB_KEY}"

[log]
level = "debug"

[deploy]
concurrency = 2
build_uid_base = 300000
allow_unisolated_builds = true
keep_deploys = 10
keep_days = 7
keep_deliveries_days = 3

[[sites]]
name = "blog"
domains = ["Example.com", "www.example.com"]
repo = "https://github.com/you/blog.git"
branch = "release"
retain = 3
deploy_key_file = "keys/blog"
token_env = "BLOG_TOKEN"
submodules = true
poll = "5m"
hsts = { max_age = 600, include_subdomains = true, preload = true }

[sites.build]
command = "npm ci && npm run build"
publish = "dist"
environment = { NODE_ENV = "production", API_URL = "https://api.example.com" }
timeout = "20m"
max_processes = 64
max_output_size = "10MiB"

[sites.webhook]
forge = "generic"
secret_file = "secrets/blog"
signature_header = "X-Signature"

[[sites]]
name = "docs"
domains = ["docs.example.com"]
repo = "../docs-repo"
hsts = true

[sites.webhook]
forge = "gitea"
secret = "\${DOCS_SECRET}"
`;

  it('resolves each key into the resolved config', async () => {
    const { config, problems, dir } = await read(FULL, { DOCS_SECRET: 'docs-secret-value-0001', BLOG_TOKEN: 'blog-token-value', EAB_KEY: 'eab-key-value' }, { 'secrets/blog': 'blog-secret-value-0001\n' });
    assert.deepEqual(problems, []);
    assert.ok(config);
    assert.equal(config.dataDir, path.join(dir, 'state'));
    assert.deepEqual(config.server, {
      host: '127.0.0.1',
      httpPort: 8080,
      httpsPort: false,
      tls: { certFile: path.join(dir, 'tls/cert.pem'), keyFile: '/etc/berth/key.pem' },
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 60_000,
      idleTimeoutMs: 90_000,
      maxHeaderBytes: 32_768,
      maxConnections: 500,
      memoryCacheBytes: 262_144,
      workers: 2,
      shutdownTimeoutMs: 500,
      accessLog: false,
      user: 'www-data',
      httpsRedirect: false,
      httpsRedirectPort: 443,
    });
    const { eab, ...acme } = config.acme;
    assert.deepEqual(acme, {
      email: 'ops@example.com',
      directory: 'https://localhost:14000/dir',
      // server.tls gives the certificate, so no ACME.
      directoryUrl: undefined,
      profile: 'shortlived',
      caFile: path.join(dir, 'pebble.pem'),
      checkIntervalMs: 60_000,
      retryDelayMs: 30_000,
    });
    assert.equal(eab?.kid, 'kid-1');
    assert.equal(eab?.hmacKey.reveal(), 'eab-key-value');
    assert.equal(eab?.hmacKey.source, 'env EAB_KEY');
    assert.deepEqual(config.log, { level: 'debug' });
    assert.deepEqual(config.deploy, { concurrency: 2, buildUidBase: 300_000, allowUnisolatedBuilds: true, history: { keepDeploys: 10, keepDays: 7, keepDeliveriesDays: 3 } });

    const [blog, docs] = config.sites;
    assert.ok(blog && docs);
    assert.equal(blog.name, 'blog');
    assert.deepEqual(blog.domains, ['example.com', 'www.example.com']);
    assert.equal(blog.repo, 'https://github.com/you/blog.git');
    assert.equal(blog.branch, 'release');
    assert.equal(blog.retain, 3);
    assert.deepEqual(blog.build, {
      command: 'npm ci && npm run build',
      publish: 'dist',
      environment: { NODE_ENV: 'production', API_URL: 'https://api.example.com' },
      timeoutMs: 1_200_000,
      maxProcesses: 64,
      maxOutputBytes: 10_485_760,
    });
    assert.equal(blog.deployKeyFile, path.join(dir, 'keys/blog'));
    assert.equal(blog.token?.reveal(), 'blog-token-value');
    assert.equal(blog.token?.source, 'env BLOG_TOKEN');
    assert.equal(blog.submodules, true);
    assert.equal(blog.pollIntervalMs, 300_000);
    assert.equal(docs.pollIntervalMs, undefined);
    assert.equal(blog.hsts, 'max-age=600; includeSubDomains; preload');
    assert.equal(docs.hsts, 'max-age=31536000');
    assert.equal(blog.webhook?.forge, 'generic');
    assert.equal(blog.webhook?.signatureHeader, 'X-Signature');
    assert.equal(blog.webhook?.secret.reveal(), 'blog-secret-value-0001');
    assert.equal(blog.webhook?.secret.source, `file ${path.join(dir, 'secrets/blog')}`);

    assert.equal(docs.repo, path.resolve(dir, '../docs-repo'));
    assert.equal(docs.webhook?.forge, 'gitea');
    assert.equal(docs.webhook?.secret.reveal(), 'docs-secret-value-0001');
    assert.equal(docs.webhook?.secret.source, 'env DOCS_SECRET');
  });

  it('returns a deeply frozen config', async () => {
    const { config } = await read(FULL, { DOCS_SECRET: 'docs-secret-value-0001', BLOG_TOKEN: 'z', EAB_KEY: 'k' }, { 'secrets/blog': 'blog-secret-value-0001' });
    assert.ok(config);
    for (const part of [config, config.server, config.server.tls, config.acme, config.log, config.sites, config.sites[0], config.sites[0]?.domains, config.sites[0]?.build, config.sites[0]?.build.environment, config.sites[0]?.webhook]) {
      assert.equal(Object.isFrozen(part), true);
    }
    assert.throws(() => {
      (config.server as { httpPort: number }).httpPort = 1;
    }, TypeError);
  });
});

describe('readConfig() paths', () => {
  it('resolves data_dir against the directory of the config file', async () => {
    for (const [value, expected] of [
      ['data', (dir: string) => path.join(dir, 'data')],
      ['./a/../b', (dir: string) => path.join(dir, 'b')],
      ['../up', (dir: string) => path.resolve(dir, '../up')],
      ['/srv/berth', () => '/srv/berth'],
    ] as const) {
      const { config, dir } = await read(`data_dir = "${value}"\n${SITE}`);
      assert.equal(config?.dataDir, expected(dir), value);
    }
  });

  it('keeps remote repositories as written and resolves local ones', async () => {
    for (const [repo, local] of [
      ['https://github.com/you/blog.git', false],
      ['ssh://git@example.com/blog.git', false],
      ['git@github.com:you/blog.git', false],
      ['github.com:you/blog.git', false],
      ['file:///srv/git/blog.git', false],
      ['../blog.git', true],
      ['/srv/git/blog.git', true],
      ['repos/with:colon', true],
    ] as const) {
      const { config, dir } = await read(`${SITE}repo = "${repo}"\n`);
      assert.equal(config?.sites[0]?.repo, local ? path.resolve(dir, repo) : repo, repo);
    }
  });

  it('refuses a path starting with ~, which is not expanded', async () => {
    const { problems } = await read(`data_dir = "~/berth"\n${SITE}`);
    assert.match(problemAt(problems, 'data_dir').message, /"~\/berth" starts with "~"/);
  });
});

describe('readConfig() secrets', () => {
  it('reads a repository token from the variable token_env names, and reports it missing', async () => {
    const ok = await read(`${SITE}token_env = "BLOG_TOKEN"\n`, { BLOG_TOKEN: 'tok-123' });
    assert.equal(ok.config?.sites[0]?.token?.reveal(), 'tok-123');
    assert.doesNotMatch(String(ok.config?.sites[0]?.token), /tok-123/);
    const missing = await read(`${SITE}token_env = "BLOG_TOKEN"\n`, {});
    assert.equal(missing.config, undefined);
    assert.match(problemAt(missing.problems, 'sites[0].token_env').message, /BLOG_TOKEN is not set or empty/);
    const bad = await read(`${SITE}token_env = "not-a-name"\n`, {});
    assert.match(problemAt(bad.problems, 'sites[0].token_env').message, /not a valid environment variable name/);
  });

  const hook = (lines: string) => `${SITE}\n[sites.webhook]\nforge = "github"\n${lines}\n`;

  it('takes ${NAME} from the environment', async () => {
    const { config, problems } = await read(hook('secret = "${BLOG_HOOK}"'), { BLOG_HOOK: 'from-env-0123456789' });
    assert.deepEqual(problems, []);
    assert.equal(config?.sites[0]?.webhook?.secret.reveal(), 'from-env-0123456789');
    assert.equal(config?.sites[0]?.webhook?.secret.source, 'env BLOG_HOOK');
  });

  it('reports a missing or empty variable by name, with its line', async () => {
    for (const env of [{}, { BLOG_HOOK: '' }]) {
      const { config, problems } = await read(hook('secret = "${BLOG_HOOK}"'), env);
      assert.equal(config, undefined);
      const problem = problemAt(problems, 'sites[0].webhook.secret');
      assert.equal(problem.severity, 'error');
      assert.match(problem.message, /environment variable BLOG_HOOK is (not set|empty)/);
      assert.equal(problem.line, 8);
    }
  });

  it('reads secret_file relative to the config directory', async () => {
    const { config, dir } = await read(hook('secret_file = "hook.txt"'), {}, { 'hook.txt': 'from-file-0123456789\n' });
    assert.equal(config?.sites[0]?.webhook?.secret.reveal(), 'from-file-0123456789');
    assert.equal(config?.sites[0]?.webhook?.secret.source, `file ${path.join(dir, 'hook.txt')}`);
  });

  it('reports a missing or empty secret file', async () => {
    const missing = await read(hook('secret_file = "nope.txt"'));
    assert.equal(missing.config, undefined);
    assert.match(problemAt(missing.problems, 'sites[0].webhook.secret_file').message, /cannot read secret_file .*nope\.txt: no such file/);

    const empty = await read(hook('secret_file = "empty.txt"'), {}, { 'empty.txt': '' });
    assert.equal(empty.config, undefined);
    assert.match(problemAt(empty.problems, 'sites[0].webhook.secret_file').message, /is empty/);
  });

  it('accepts a literal secret with a warning', async () => {
    const { config, problems } = await read(hook('secret = "literal-value-123"'));
    assert.ok(config);
    assert.equal(config.sites[0]?.webhook?.secret.reveal(), 'literal-value-123');
    const warning = problemAt(problems, 'sites[0].webhook.secret');
    assert.equal(warning.severity, 'warning');
    assert.match(warning.message, /\$\{BLOG_WEBHOOK_SECRET\}/);
  });

  it('wants exactly one of secret and secret_file', async () => {
    const both = await read(hook('secret = "${A}"\nsecret_file = "f"'), { A: 'a-webhook-secret-0001' }, { f: 'b-webhook-secret-0001' });
    assert.match(problemAt(both.problems, 'sites[0].webhook').message, /both secret and secret_file/);
    const neither = await read(hook(''));
    assert.match(problemAt(neither.problems, 'sites[0].webhook').message, /no secret; set secret = "\$\{BLOG_WEBHOOK_SECRET\}"/);
  });

  it('warns that signature_header matters only for the generic forge', async () => {
    const { config, problems } = await read(hook('secret = "${A}"\nsignature_header = "X-Sig"'), { A: 'a-webhook-secret-0001' });
    assert.ok(config);
    assert.equal(problemAt(problems, 'sites[0].webhook.signature_header').severity, 'warning');
  });
});

describe('readConfig() unknown keys', () => {
  it('rejects an unknown key in every table, each with its line', async () => {
    const toml = `bogus_root = 1
[server]
hots = "::"
[server.tls]
cert = "x"
[acme]
mail = "a@b.c"
[log]
lvl = "info"
[metrics]
listn = "127.0.0.1:9187"
[[sites]]
name = "blog"
domains = ["example.com"]
domain = "x"
[sites.build]
cmd = "make"
[sites.webhook]
forge = "github"
secret = "\${A}"
secrets = "y"
`;
    const { config, problems } = await read(toml, { A: 'a-webhook-secret-0001' });
    assert.equal(config, undefined);
    const expected: [string, number][] = [
      ['bogus_root', 1],
      ['server.hots', 3],
      ['server.tls.cert', 5],
      ['acme.mail', 7],
      ['log.lvl', 9],
      ['metrics.listn', 11],
      ['sites[0].domain', 15],
      ['sites[0].build.cmd', 17],
      ['sites[0].webhook.secrets', 21],
    ];
    assert.deepEqual(
      errors(problems).map((problem) => [problem.path, problem.line]),
      expected,
    );
    for (const problem of problems) assert.match(problem.message, /^unknown key "/);
    assert.match(problemAt(problems, 'server.hots').message, /did you mean "host"\?/);
    assert.match(problemAt(problems, 'sites[0].webhook.secrets').message, /did you mean "secret"\?/);
    assert.match(problemAt(problems, 'metrics.listn').message, /did you mean "listen"\?/);
    assert.match(problemAt(problems, 'bogus_root').message, /accepted keys are data_dir, server, acme, log, deploy, admin, metrics, sites, notify/);
  });

  it('suggests the snake_case spelling of a camelCase key', async () => {
    const { problems } = await read(`[server]\nhttpPort = 8080\n${SITE}`);
    assert.match(problemAt(problems, 'server.httpPort').message, /did you mean "http_port"\?/);
  });

  it('says where a key from another table belongs', async () => {
    const { problems } = await read(`[server]\nemail = "a@b.c"\n${SITE}`);
    assert.match(problemAt(problems, 'server.email').message, /it belongs in \[acme\]/);
  });

  it('lets the build environment have any variable name', async () => {
    const { config } = await read(`${SITE}[sites.build.environment]\nANY_NAME = "1"\nother = "2"\n`);
    assert.deepEqual(config?.sites[0]?.build.environment, { ANY_NAME: '1', other: '2' });
  });
});

describe('readConfig() sites', () => {
  it('rejects duplicate site names', async () => {
    const { config, problems } = await read(`${SITE}\n[[sites]]\nname = "blog"\ndomains = ["other.example"]\n`);
    assert.equal(config, undefined);
    const problem = problemAt(problems, 'sites[1].name');
    assert.match(problem.message, /"blog" is already the name of sites\[0\]/);
    assert.equal(problem.line, 7);
  });

  it('rejects a domain used by two sites, whatever its case', async () => {
    const { config, problems } = await read(`${SITE}\n[[sites]]\nname = "docs"\ndomains = ["docs.example.com", "EXAMPLE.com"]\n`);
    assert.equal(config, undefined);
    assert.match(problemAt(problems, 'sites[1].domains[1]').message, /"example.com" already belongs to sites\[0\] \("blog"\)/);
  });

  it('lists a domain repeated within a site once, with a warning', async () => {
    const { config, problems } = await read(`[[sites]]\nname = "blog"\ndomains = ["example.com", "Example.com"]\n`);
    assert.deepEqual(config?.sites[0]?.domains, ['example.com']);
    assert.equal(problemAt(problems, 'sites[0].domains[1]').severity, 'warning');
  });

  it('rejects invalid site names', async () => {
    for (const name of ['Blog', '-blog', 'my_blog', 'a/b', '..', '', 'x'.repeat(64), 'blög']) {
      const { problems } = await read(`[[sites]]\nname = ${JSON.stringify(name)}\ndomains = ["example.com"]\n`);
      assert.match(problemAt(problems, 'sites[0].name').message, /not a valid site name|use 1 to 63/, name);
    }
  });

  it('requires name and domains, and at least one domain', async () => {
    const missing = await read('[[sites]]\nrepo = "https://example.com/x.git"\n');
    assert.match(problemAt(missing.problems, 'sites[0].name').message, /^missing; expected a site name/);
    assert.match(problemAt(missing.problems, 'sites[0].domains').message, /^missing; expected a list of host names/);
    const empty = await read('[[sites]]\nname = "blog"\ndomains = []\n');
    assert.match(problemAt(empty.problems, 'sites[0].domains').message, /^empty; list at least one host name/);
  });

  it('rejects a [sites] table written instead of [[sites]]', async () => {
    const { problems } = await read('[sites]\nname = "blog"\n');
    assert.match(problemAt(problems, 'sites').message, /expected \[\[sites\]\] tables, got a table/);
  });

  it('checks branch, retain and publish', async () => {
    const { problems } = await read(`${SITE}branch = "--upload-pack=evil"\nretain = 0\n[sites.build]\npublish = "../../etc"\n`);
    assert.match(problemAt(problems, 'sites[0].branch').message, /starts with "-"/);
    assert.match(problemAt(problems, 'sites[0].retain').message, /0 is out of range; use 1 to 1000/);
    assert.match(problemAt(problems, 'sites[0].build.publish').message, /leaves the repository/);
  });

  it('rejects a repository that git would read as an option', async () => {
    const { problems } = await read(`${SITE}repo = "--upload-pack=touch /tmp/x"\n`);
    assert.match(problemAt(problems, 'sites[0].repo').message, /starts with "-"/);
  });
});

describe('readConfig() domains', () => {
  const domainsOf = (domains: string) => read(`[[sites]]\nname = "blog"\ndomains = [${domains}]\n`);

  it('accepts host names, localhost and IP literals, in normal form', async () => {
    const { config, problems } = await domainsOf('"Example.COM", "localhost", "127.0.0.1", "[::1]", "2001:DB8::1", "bücher.example", "xn--bcher-kva.example", "a-b.c-d.example"');
    assert.deepEqual(errors(problems), []);
    assert.deepEqual(config?.sites[0]?.domains, ['example.com', 'localhost', '127.0.0.1', '::1', '2001:db8::1', 'xn--bcher-kva.example', 'a-b.c-d.example']);
  });

  const cases: [string, RegExp][] = [
    ['example.com:8080', /"example.com:8080" has a port/],
    ['[::1]:443', /has a port/],
    ['https://example.com', /is a URL; write just the host name/],
    ['example.com/blog', /contains a path/],
    ['exa mple.com', /contains white space/],
    [' example.com', /contains white space/],
    ['', /^empty; write a host name/],
    [`${'a'.repeat(64)}.com`, /has a label longer than 63 characters/],
    [`${'a.'.repeat(127)}com`, /longer than 253 characters/],
    ['<script>.com', /contains "<", which a host name cannot/],
    ['evil\u001b[31m.com', /contains "\\u001b"/],
    ['a"b.com', /contains "\\""/],
    ['under_score.com', /contains "_"/],
    ['-lead.com', /starts or ends with a hyphen/],
    ['example..com', /empty label/],
    ['example.com.', /ends with a dot/],
    ['*.example.com', /wildcard/],
    ['1.2.3', /last label is a number/],
    ['[nope]', /not a valid IPv6 address/],
  ];
  for (const [domain, expected] of cases) {
    it(`rejects ${JSON.stringify(domain)}`, async () => {
      const { config, problems } = await domainsOf(JSON.stringify(domain));
      assert.equal(config, undefined);
      const problem = problemAt(problems, 'sites[0].domains[0]');
      assert.match(problem.message, expected);
      // No raw control characters reach the terminal.
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(problem.message, /[\u0000-\u001f]/);
    });
  }
});

describe('readConfig() values', () => {
  it('names the bad value and what would be accepted', async () => {
    const toml = `[server]
host = "not a host"
http_port = "80"
https_port = 70000
headers_timeout = "10"
idle_timeout = 60
max_header_size = "lots"
memory_cache = "20GiB"
max_connections = 1.5
access_log = "yes"
user = "berth:0"
[acme]
email = "nobody"
directory = "ftp://acme.example"
[log]
level = "loud"
${SITE}
[sites.webhook]
forge = "gitbucket"
secret = "\${A}"
`;
    const { problems } = await read(toml, { A: 'a-webhook-secret-0001' });
    const messages = Object.fromEntries(problems.map((problem) => [problem.path, problem.message]));
    assert.deepEqual(messages, {
      'server.host': '"not a host" is not an address to listen on; use an IP address such as "::" (all) or "127.0.0.1", or a host name',
      'server.http_port': 'expected a port from 0 to 65535 (0 for any free port), or false to turn the listener off, got "80"',
      'server.https_port': '70000 is not a port; use 0 to 65535 (0 for any free port), or false to turn the listener off',
      'server.headers_timeout': '"10" is not a duration; write a number and a unit (ms, s, m, h), e.g. "10s", "500ms", "2m"',
      'server.idle_timeout': 'expected a duration such as "10s", "500ms" or "2m", got 60',
      'server.max_header_size':
        '"lots" is not a size; write a number of bytes (16384) or a size with a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. "16KiB"',
      'server.memory_cache': '"20GiB" is out of range; use 0B to 16GiB',
      'server.max_connections': '1.5 is not a whole number; use 1 to 1000000',
      'server.access_log': 'expected true or false, got "yes"',
      'server.user': '"berth:0" is not an account name; use letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters',
      'acme.email': '"nobody" is not an email address; write one such as "you@example.com"',
      'acme.directory':
        '"ftp://acme.example" is not an ACME directory; use off, letsencrypt, letsencrypt-staging or a directory URL such as "https://acme.example/directory"',
      'log.level': 'unknown log level "loud"; use one of trace, debug, info, warn, error, fatal, silent',
      'sites[0].webhook.forge': 'unknown forge "gitbucket"; use one of github, gitlab, gitea, forgejo, bitbucket, generic',
    });
    for (const problem of problems) {
      assert.doesNotMatch(problem.message, /\.$/, 'no trailing period');
      assert.equal(typeof problem.line, 'number', problem.path);
    }
  });

  it('checks values against each other', async () => {
    const ports = await read(`[server]\nhttp_port = 8080\nhttps_port = 8080\n${SITE}`);
    assert.match(problemAt(ports.problems, 'server.https_port').message, /8080 is also http_port/);
    const off = await read(`[server]\nhttp_port = false\nhttps_port = false\n${SITE}`);
    assert.match(problemAt(off.problems, 'server').message, /both false/);
    const anyPort = await read(`[server]\nhttp_port = 0\nhttps_port = 0\n${SITE}`);
    assert.equal(anyPort.problems.filter((problem) => problem.severity === 'error').length, 0, 'two ephemeral ports are fine');
    const timeouts = await read(`[server]\nheaders_timeout = "1m"\n${SITE}`);
    assert.match(problemAt(timeouts.problems, 'server.headers_timeout').message, /1m is longer than request_timeout \(30s\)/);
    const tls = await read(`[server.tls]\ncert_file = "c.pem"\n${SITE}`);
    assert.match(problemAt(tls.problems, 'server.tls').message, /cert_file is set but key_file is not/);
  });

  it('warns when ACME is off and no certificate is given for a public name', async () => {
    const { config, problems } = await read(`[acme]\ndirectory = "off"\n${SITE}`);
    assert.ok(config);
    assert.equal(problemAt(problems, 'acme.directory').severity, 'warning');
    const local = await read('[acme]\ndirectory = "off"\n[[sites]]\nname = "dev"\ndomains = ["localhost", "127.0.0.1", "app.localhost"]\n');
    assert.deepEqual(local.problems, []);
  });

  it('never echoes a build environment value', async () => {
    const { problems } = await read(`${SITE}[sites.build.environment]\nTOKEN = 123456789\n"bad-name" = "v"\n"a b" = "v"\n`);
    const spaced = problemAt(problems, 'sites[0].build.environment["a b"]');
    assert.equal(spaced.line, 8);
    assert.equal(problemAt(problems, 'sites[0].build.environment.TOKEN').message, 'expected a string; put the value in quotes');
    assert.match(problemAt(problems, 'sites[0].build.environment.bad-name').message, /"bad-name" is not a valid environment variable name/);
    assert.ok(problems.every((problem) => !problem.message.includes('123456789')));
  });
});

describe('readConfig() file problems', () => {
  it('reports malformed TOML with its line and column', async () => {
    const { config, problems } = await read(`${SITE}\n[server]\nhttp_port = = 80\n`);
    assert.equal(config, undefined);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.line, 7);
    assert.equal(problems[0]?.path, '');
    assert.match(problems[0]?.message ?? '', /^not valid TOML \(column \d+\): /);
  });

  it('reports a duplicate key as a TOML error at the second one', async () => {
    const { config, problems } = await read('[server]\nhttp_port = 80\nhttp_port = 81\n');
    assert.equal(config, undefined);
    assert.equal(problems[0]?.line, 3);
    assert.match(problems[0]?.message ?? '', /redefine/);
  });

  it('does not quote the offending line of a TOML error, which might hold a secret', async () => {
    const { problems } = await read(`${SITE}[sites.webhook]\nforge = "github"\nsecret = "hunter2-hunter2\n`);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.message.includes('hunter2'), false);
  });

  it('refuses keys that could reach an object prototype', async () => {
    const { config, problems } = await read(`${SITE}[sites.build.environment]\n__proto__ = "x"\n`);
    assert.equal(config, undefined);
    assert.match(problems[0]?.message ?? '', /not valid TOML/);
  });

  it('refuses a file larger than 1 MiB without parsing it', async () => {
    const big = `${SITE}# ${'x'.repeat(1_048_576)}\n`;
    const { config, problems } = await read(big);
    assert.equal(config, undefined);
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /more than the 1MiB a config may be/);
  });

  it('refuses a file that is not UTF-8', async () => {
    const { problems } = await read(Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3d, 0xff, 0xfe, 0x0a]));
    assert.match(problems[0]?.message ?? '', /not valid UTF-8/);
  });

  it('reports a missing file', async () => {
    const { config, problems } = await readConfig(path.join(cases.root(), 'missing', 'berth.toml'), {});
    assert.equal(config, undefined);
    assert.match(problems[0]?.message ?? '', /not found; run `berth init` to write one, or pass --config <file>, or set BERTH_CONFIG \(docs\/configuration.md has an example\)/);
  });
});

describe('readConfig() reports every problem at once', () => {
  it('lists all problems ordered by line, each with a path and a line', async () => {
    const toml = `data_dir = 42
[server]
http_port = -1
max_header_size = "16 furlongs"

[[sites]]
name = "Bad Name"
domains = [
  "ok.example",
  "bad.example:80",
]
[sites.webhook]
forge = "github"
secret = "\${MISSING_VAR}"

[[sites]]
name = "docs"
domains = ["ok.example"]
unknown = true
`;
    const { config, problems } = await read(toml);
    assert.equal(config, undefined);
    assert.deepEqual(
      problems.map((problem) => [problem.line, problem.path]),
      [
        [1, 'data_dir'],
        [3, 'server.http_port'],
        [4, 'server.max_header_size'],
        [7, 'sites[0].name'],
        [10, 'sites[0].domains[1]'],
        [14, 'sites[0].webhook.secret'],
        [18, 'sites[1].domains[0]'],
        [19, 'sites[1].unknown'],
      ],
    );
  });

  it('finds lines for inline tables and dotted keys', async () => {
    const toml = `[[sites]]
name = "blog"
domains = ["example.com"]
webhook = { forge = "nope", secret = "\${A}" }
build.publish = "/abs"
`;
    const { problems } = await read(toml, { A: 'a-webhook-secret-0001' });
    assert.equal(problemAt(problems, 'sites[0].webhook.forge').line, 4);
    assert.equal(problemAt(problems, 'sites[0].build.publish').line, 5);
  });
});

describe('secrets never appear in problems or output', () => {
  const LITERAL = 'literal-s3cret-VALUE-1';
  const FROM_ENV = 'env-s3cret-VALUE-2';
  const FROM_FILE = 'file-s3cret-VALUE-3';

  it('keeps them out of every message and of the printed config', async () => {
    const toml = `[server]
http_port = "bad"
[[sites]]
name = "one"
domains = ["one.example"]
[sites.webhook]
forge = "github"
secret = "${LITERAL}"
[[sites]]
name = "two"
domains = ["two.example"]
[sites.webhook]
forge = "gitlab"
secret = "\${TWO}"
[[sites]]
name = "three"
domains = ["three.example"]
[sites.webhook]
forge = "nope"
secret_file = "three.secret"
[[sites]]
name = "four"
domains = ["four.example"]
[sites.webhook]
forge = "github"
secret = 12345678
`;
    const env = { TWO: FROM_ENV };
    const failing = await read(toml, env, { 'three.secret': FROM_FILE });
    assert.ok(failing.problems.length >= 3);
    const text = JSON.stringify(failing.problems);
    for (const secret of [LITERAL, FROM_ENV, FROM_FILE, '12345678']) assert.equal(text.includes(secret), false, secret);

    const valid = toml.replace('http_port = "bad"', '').replace('"nope"', '"gitea"').replace('secret = 12345678', 'secret = "${TWO}"');
    const { config, problems } = await read(valid, env, { 'three.secret': FROM_FILE });
    assert.ok(config, JSON.stringify(problems));
    for (const shown of [inspect(config, { depth: Infinity }), JSON.stringify(config), String(config.sites[0]?.webhook?.secret), JSON.stringify(problems)]) {
      for (const secret of [LITERAL, FROM_ENV, FROM_FILE]) assert.equal(shown.includes(secret), false, secret);
    }
    assert.equal(config.sites[2]?.webhook?.secret.reveal(), FROM_FILE);
  });

  it('keeps them out of the error loadConfig throws', async () => {
    const { file } = await read(`[server]\nhttp_port = "bad"\n[[sites]]\nname = "one"\ndomains = ["one.example"]\n[sites.webhook]\nforge = "x"\nsecret = "${LITERAL}"\n`);
    await assert.rejects(loadConfig(file, {}), (error: unknown) => {
      assert.ok(isBerthError(error));
      assert.equal(error.message.includes(LITERAL), false);
      return true;
    });
  });
});

describe('loadConfig()', () => {
  it('returns the resolved config', async () => {
    const { file } = await read(SITE);
    const config = await loadConfig(file, {});
    assert.equal(config.sites[0]?.name, 'blog');
  });

  it('throws E_CONFIG_NOT_FOUND pointing at --config and the example config', async () => {
    await assert.rejects(loadConfig(path.join(cases.root(), 'nowhere.toml'), {}), (error: unknown) => {
      assert.ok(isBerthError(error));
      assert.equal(error.code, 'E_CONFIG_NOT_FOUND');
      assert.match(error.message, /^Config file .*nowhere\.toml not found; run `berth init` to write one, or pass --config/);
      assert.match(error.message, /docs\/configuration.md/);
      return true;
    });
  });

  it('throws E_CONFIG_PARSE for malformed TOML', async () => {
    const { file } = await read('[server\n');
    await assert.rejects(loadConfig(file, {}), { code: 'E_CONFIG_PARSE' });
  });

  it('throws E_CONFIG_INVALID listing every problem', async () => {
    const { file } = await read(`[server]\nhttp_port = "80"\nhots = 1\n${SITE}retain = 0\n`);
    await assert.rejects(loadConfig(file, {}), (error: unknown) => {
      assert.ok(isBerthError(error));
      assert.equal(error.code, 'E_CONFIG_INVALID');
      assert.match(error.message, /^Invalid configuration in .*berth\.toml \(3 errors\):\n/);
      assert.match(error.message, /berth\.toml:2 server\.http_port: /);
      assert.match(error.message, /berth\.toml:3 server\.hots: /);
      assert.match(error.message, /berth\.toml:8 sites\[0\]\.retain: /);
      return true;
    });
  });

  it('throws E_CONFIG_SECRET when only secrets fail', async () => {
    const { file } = await read(`${SITE}[sites.webhook]\nforge = "github"\nsecret = "\${UNSET_SECRET}"\n`);
    await assert.rejects(loadConfig(file, {}), (error: unknown) => {
      assert.ok(isBerthError(error));
      assert.equal(error.code, 'E_CONFIG_SECRET');
      assert.match(error.message, /UNSET_SECRET is not set/);
      return true;
    });
  });
});

describe('findConfigPath()', () => {
  it('prefers the flag, then ./berth.toml, then $BERTH_CONFIG, then the installed service\'s config if there is one', async () => {
    const dir = await mkdtemp(path.join(cases.root(), 'find-'));
    const installed = path.join(dir, 'etc-berth.toml');
    const env = { BERTH_CONFIG: '/srv/berth/berth.toml' };
    assert.equal(findConfigPath('conf/b.toml', env, dir, installed), path.join(dir, 'conf/b.toml'));
    assert.equal(findConfigPath('/abs/b.toml', env, dir, installed), '/abs/b.toml');
    assert.equal(findConfigPath(undefined, env, dir, installed), '/srv/berth/berth.toml');
    assert.equal(findConfigPath(undefined, {}, dir, installed), path.join(dir, 'berth.toml'));
    assert.equal(findConfigPath(undefined, { BERTH_CONFIG: '' }, dir, installed), path.join(dir, 'berth.toml'));
    await writeFile(installed, '');
    assert.equal(findConfigPath(undefined, {}, dir, installed), installed);
    assert.equal(findConfigPath(undefined, env, dir, installed), '/srv/berth/berth.toml');
    await writeFile(path.join(dir, 'berth.toml'), '');
    assert.equal(findConfigPath(undefined, env, dir, installed), path.join(dir, 'berth.toml'));
  });
});
