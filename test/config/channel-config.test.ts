import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { fromWire, toWire } from '../../src/app/config-wire.ts';
import { loadConfig, type ConfigProblem } from '../../src/config/load-config.ts';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const cases = configCases('berth-channels-');

const SITE = `
[[sites]]
name = "blog"
domains = ["example.com"]
repo = "https://github.com/alice/blog.git"
`;

const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX';
const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

function errors(problems: readonly ConfigProblem[]): ConfigProblem[] {
  return problems.filter((problem) => problem.severity === 'error');
}

function everyMessage(problems: readonly ConfigProblem[]): string {
  return problems.map((problem) => `${problem.path}: ${problem.message}`).join('\n');
}

describe('[sites.status]', () => {
  it('resolves the token from the environment, and keeps forge and api as written', async () => {
    const { config, problems } = await cases.read(`${SITE}[sites.status]\ntoken = "\${BLOG_STATUS_TOKEN}"\nforge = "github"\napi = "https://ghe.example.com/api/v3/"\n`, { BLOG_STATUS_TOKEN: 'ghp_token_value' });
    assert.deepEqual(problems, []);
    const status = config?.sites[0]?.status;
    assert.ok(status);
    assert.equal(status.token.reveal(), 'ghp_token_value');
    assert.equal(status.forge, 'github');
    assert.equal(status.api, 'https://ghe.example.com/api/v3');
    assert.doesNotMatch(inspect(config, { depth: 10 }), /ghp_token_value/);
  });

  it('reads the token from a file, and a site without the table has no status', async () => {
    const { config, problems } = await cases.read(`${SITE}[sites.status]\ntoken_file = "token"\n[[sites]]\nname = "other"\ndomains = ["other.example"]\n`, {}, { token: 'glpat-from-file\n' });
    assert.deepEqual(problems, []);
    assert.equal(config?.sites[0]?.status?.token.reveal(), 'glpat-from-file');
    assert.equal(config?.sites[1]?.status, undefined);
    assert.equal('status' in (config?.sites[1] ?? {}), false);
  });

  it('refuses neither or both of token and token_file, a site without repo, an unknown forge, an api that is not http(s)', async () => {
    const neither = await cases.read(`${SITE}[sites.status]\nforge = "github"\n`);
    assert.match(problemAt(neither.problems, 'sites[0].status').message, /no token; set token = "\$\{NAME\}"/);
    const both = await cases.read(`${SITE}[sites.status]\ntoken = "\${T}"\ntoken_file = "t"\n`, { T: 'x' }, { t: 'y' });
    assert.match(problemAt(both.problems, 'sites[0].status').message, /both token and token_file are set/);
    const noRepo = await cases.read(`[[sites]]\nname = "blog"\ndomains = ["example.com"]\n[sites.status]\ntoken = "\${T}"\n`, { T: 'x' });
    assert.match(problemAt(noRepo.problems, 'sites[0].status').message, /no repo/);
    const forge = await cases.read(`${SITE}[sites.status]\ntoken = "\${T}"\nforge = "sourcehut"\n`, { T: 'x' });
    assert.match(problemAt(forge.problems, 'sites[0].status.forge').message, /unknown forge "sourcehut"; use one of github, gitlab, gitea, forgejo, bitbucket/);
    const selfHosted = await cases.read(`[[sites]]\nname = "blog"\ndomains = ["example.com"]\nrepo = "git@git.example.com:alice/blog.git"\n[sites.status]\ntoken = "\${T}"\n`, { T: 'x' });
    assert.match(problemAt(selfHosted.problems, 'sites[0].status').message, /git\.example\.com.*forge/);
    const named = await cases.read(`[[sites]]\nname = "blog"\ndomains = ["example.com"]\nrepo = "git@git.example.com:alice/blog.git"\n[sites.status]\ntoken = "\${T}"\nforge = "forgejo"\n`, { T: 'x' });
    assert.deepEqual(named.problems, []);
    assert.deepEqual({ ...named.config?.sites[0]?.status, token: undefined }, { forge: 'forgejo', api: 'https://git.example.com/api/v1', repo: 'alice/blog', token: undefined });
    const mirrored = await cases.read(`[[sites]]\nname = "blog"\ndomains = ["example.com"]\nrepo = "/srv/git/blog.git"\n[sites.status]\ntoken = "\${T}"\nrepo = "https://gitlab.com/team/web/blog"\n`, { T: 'x' });
    assert.deepEqual(mirrored.problems, []);
    assert.deepEqual({ ...mirrored.config?.sites[0]?.status, token: undefined }, { forge: 'gitlab', api: 'https://gitlab.com/api/v4', repo: 'team/web/blog', token: undefined });
    const local = await cases.read(`[[sites]]\nname = "blog"\ndomains = ["example.com"]\nrepo = "/srv/git/blog.git"\n[sites.status]\ntoken = "\${T}"\n`, { T: 'x' });
    assert.ok(problemAt(local.problems, 'sites[0].status'));
    const api = await cases.read(`${SITE}[sites.status]\ntoken = "\${T}"\napi = "ftp://x"\n`, { T: 'x' });
    assert.match(problemAt(api.problems, 'sites[0].status.api').message, /not an http:\/\/ or https:\/\/ URL/);
  });

  it('never shows a token: one of the wrong type, one written in the file, one in an unset variable', async () => {
    const wrongType = await cases.read(`${SITE}[sites.status]\ntoken = 1234567\n`);
    assert.doesNotMatch(everyMessage(wrongType.problems), /1234567/);
    const literal = await cases.read(`${SITE}[sites.status]\ntoken = "ghp_literal_in_file"\n`);
    assert.equal(errors(literal.problems).length, 0);
    assert.match(problemAt(literal.problems, 'sites[0].status.token').message, /written in the config file/);
    assert.doesNotMatch(everyMessage(literal.problems), /ghp_literal_in_file/);
    const unset = await cases.read(`${SITE}[sites.status]\ntoken = "\${MISSING_TOKEN}"\n`);
    assert.match(problemAt(unset.problems, 'sites[0].status.token').message, /MISSING_TOKEN is not set/);
  });

  it('is optional for commands that read history: an unset token becomes a placeholder that refuses to be used', async () => {
    const { file } = await cases.read(`${SITE}[sites.status]\ntoken = "\${MISSING_TOKEN}"\n`);
    const config = await loadConfig(file, {}, { secrets: 'optional' });
    assert.throws(() => config.sites[0]?.status?.token.reveal(), /MISSING_TOKEN/);
  });
});

describe('[[notify]]', () => {
  it('resolves each type of channel with its defaults', async () => {
    const toml = `${SITE}
[[notify]]
name = "chat"
type = "slack"
url = "\${CHAT_URL}"

[[notify]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/berth"
secret = "\${HOOK_SECRET}"
events = ["deploy.failed", "deploy.succeeded", "deploy.failed"]
sites = ["blog"]
expiring_days = 7
allow_private = true

[[notify]]
name = "phone"
type = "ntfy"
url = "https://ntfy.sh/berth-alerts"
token_file = "ntfy"

[[notify]]
name = "mail"
type = "email"
smtp_host = "smtp.example.com"
smtp_security = "tls"
username = "berth"
password = "\${SMTP_PASSWORD}"
from = "berth@example.com"
to = ["ops@example.com", "dev@example.com"]
ca_file = "ca.pem"
`;
    const { config, problems, dir } = await cases.read(toml, { CHAT_URL: SLACK_URL, HOOK_SECRET: WHSEC, SMTP_PASSWORD: 'smtp-pass' }, { ntfy: 'tk_ntfy\n', 'ca.pem': '' });
    assert.deepEqual(problems, []);
    assert.ok(config);
    const [chat, hook, phone, mail] = config.notify;
    assert.equal(chat?.kind, 'slack');
    assert.equal(chat?.url?.reveal(), SLACK_URL);
    assert.deepEqual(chat?.events, ['deploy.failed', 'deploy.recovered', 'certificate.renewal_failed', 'certificate.expiring']);
    assert.equal(chat?.sites, undefined);
    assert.equal(chat?.expiringDays, 14);
    assert.equal(chat?.allowPrivate, false);
    assert.deepEqual(hook?.events, ['deploy.failed', 'deploy.succeeded']);
    assert.deepEqual(hook?.sites, ['blog']);
    assert.equal(hook?.secret?.reveal(), WHSEC);
    assert.equal(hook?.allowPrivate, true);
    assert.equal(hook?.expiringDays, 7);
    assert.equal(phone?.token?.reveal(), 'tk_ntfy');
    assert.deepEqual(
      { ...mail?.email, password: mail?.email?.password?.reveal() },
      { host: 'smtp.example.com', port: 465, security: 'tls', username: 'berth', password: 'smtp-pass', from: 'berth@example.com', to: ['ops@example.com', 'dev@example.com'], caFile: `${dir}/ca.pem` },
    );
    const shown = inspect(config, { depth: 10 }) + JSON.stringify(config);
    for (const secret of [SLACK_URL, WHSEC, 'tk_ntfy', 'smtp-pass']) assert.equal(shown.includes(secret), false, `${secret.slice(0, 12)} shown`);
  });

  it('travels to the server\'s children with its secrets', async () => {
    const { config } = await cases.read(`${SITE}[[notify]]\nname = "chat"\ntype = "discord"\nurl = "\${CHAT_URL}"\n`, { CHAT_URL: 'https://discord.com/api/webhooks/1/abc' });
    assert.ok(config);
    const back = fromWire(JSON.parse(JSON.stringify(toWire(config))));
    assert.equal(back.notify[0]?.url?.reveal(), 'https://discord.com/api/webhooks/1/abc');
    assert.deepEqual(back.notify[0]?.events, config.notify[0]?.events);
  });

  it('refuses what a type needs but lacks, keys of another type, duplicate names, unknown sites and events', async () => {
    const toml = `${SITE}
[[notify]]
name = "a"
type = "webhook"
url = "https://x.example/"
smtp_host = "smtp.example.com"

[[notify]]
name = "a"
type = "email"
to = ["ops@example.com"]
password = "\${P}"
sites = ["blog", "nope"]
events = ["deploy.exploded"]

[[notify]]
name = "c"
type = "pager"
`;
    const { problems } = await cases.read(toml, { P: 'x' });
    assert.match(problemAt(problems, 'notify[0]').message, /no secret; the receiver checks each delivery's signature with it: set secret = "\$\{A_SECRET\}"/);
    assert.match(problemAt(problems, 'notify[0].smtp_host').message, /smtp_host does not apply to type = "webhook"; remove it/);
    assert.match(problemAt(problems, 'notify[1].name').message, /"a" is already the name of notify\[0\]/);
    assert.match(problemAt(problems, 'notify[1].sites[1]').message, /"nope" is not the name of a site in this file/);
    assert.match(problemAt(problems, 'notify[1].events[0]').message, /unknown event "deploy.exploded"; use deploy.failed, deploy.succeeded/);
    const mail = problems.filter((problem) => problem.path === 'notify[1]').map((problem) => problem.message);
    assert.ok(mail.some((message) => /no smtp_host/.test(message)));
    assert.ok(mail.some((message) => /no from/.test(message)));
    assert.ok(mail.some((message) => /a password without a username/.test(message)));
    assert.match(problemAt(problems, 'notify[2].type').message, /unknown type "pager"; use one of webhook, slack, discord, ntfy, email/);
  });

  it('refuses a signing secret that is not whsec_ and enough random bytes, and a URL that is not one, without quoting either', async () => {
    const { problems } = await cases.read(`${SITE}[[notify]]\nname = "hook"\ntype = "webhook"\nurl = "\${U}"\nsecret = "\${S}"\n`, { U: 'hooks.example.com/secret-path-token', S: 'whsec_c2hvcnQ=' });
    assert.match(problemAt(problems, 'notify[0].secret').message, /not "whsec_" and the base64 of at least 24 random bytes/);
    assert.match(problemAt(problems, 'notify[0].url').message, /not a valid URL; write it in full, starting with https:\/\//);
    assert.doesNotMatch(everyMessage(problems), /secret-path-token|c2hvcnQ/);
  });

  it('warns for a Slack URL written in the file, not for a plain webhook URL; never shows either', async () => {
    const { problems } = await cases.read(`${SITE}[[notify]]\nname = "chat"\ntype = "slack"\nurl = "${SLACK_URL}"\n[[notify]]\nname = "topic"\ntype = "ntfy"\nurl = "https://ntfy.example.com/berth"\n`);
    assert.equal(errors(problems).length, 0);
    assert.match(problemAt(problems, 'notify[0].url').message, /written in the config file/);
    assert.equal(problems.length, 1);
    assert.doesNotMatch(everyMessage(problems), /XXXXsecretXXXX/);
  });

  it('refuses a URL that points at one of this server\'s own webhooks', async () => {
    const { problems } = await cases.read(`${SITE}[[notify]]\nname = "self"\ntype = "webhook"\nurl = "https://EXAMPLE.com/_berth/hooks/blog"\nsecret = "\${S}"\n`, { S: WHSEC });
    assert.match(problemAt(problems, 'notify[0].url').message, /one of this server's own \/_berth\/ addresses \(example.com\)/);
  });

  it('refuses a url of the wrong type without showing it, and more than 50 channels', async () => {
    const wrong = await cases.read(`${SITE}[[notify]]\nname = "chat"\ntype = "slack"\nurl = 98765\n`);
    assert.doesNotMatch(everyMessage(wrong.problems), /98765/);
    const many = Array.from({ length: 51 }, (_, index) => `[[notify]]\nname = "c${index}"\ntype = "ntfy"\nurl = "https://ntfy.sh/t${index}"\n`).join('\n');
    const tooMany = await cases.read(`${SITE}${many}`);
    assert.match(problemAt(tooMany.problems, 'notify').message, /more than 50 notification channels/);
  });
});
