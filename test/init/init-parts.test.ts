/** The pieces of `berth init`: guesses, the config text, DNS and the question loop. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../src/config/load-config.ts';
import { dnsInstructions, isPublicIPv4, isPublicIPv6, publicAddresses } from '../../src/init/dns-instructions.ts';
import { webhookUrl } from '../../src/init/forge-instructions.ts';
import { checkAdminDomain, checkDomains, checkForge, guessForge, repoHost, siteNameFromDomain, suggestAdminDomain } from '../../src/init/init-answers.ts';
import { createPrompter } from '../../src/init/prompter.ts';
import { renderConfig, tomlString } from '../../src/init/render-config.ts';
import { tempDir } from '../helpers/temp.ts';

describe('guessing the forge', () => {
  it('from the host of URLs and scp-like addresses', () => {
    const cases: Array<[string, string | undefined]> = [
      ['https://github.com/you/blog.git', 'github'],
      ['git@github.com:you/blog.git', 'github'],
      ['ssh://git@ssh.github.com:443/you/blog.git', 'github'],
      ['https://user:token@GitLab.com/you/blog.git', 'gitlab'],
      ['git@bitbucket.org:you/blog.git', 'bitbucket'],
      ['https://codeberg.org/you/blog.git', 'forgejo'],
      ['https://gitea.example.org/you/blog.git', 'gitea'],
      ['git@forgejo.example.org:you/blog.git', 'forgejo'],
      ['https://gitlab.internal.example/you/blog.git', 'gitlab'],
      ['https://git.example.net/you/blog.git', undefined],
      ['/srv/git/blog.git', undefined],
      ['./blog', undefined],
      ['https://notgithub.com/you/blog.git', undefined],
    ];
    for (const [repo, forge] of cases) assert.equal(guessForge(repo), forge, repo);
    assert.equal(repoHost('git@github.com:you/blog.git'), 'github.com');
  });

  it('--forge accepts any case and refuses unknown names', () => {
    assert.deepEqual(checkForge('GitHub'), { ok: true, value: 'github' });
    assert.equal(checkForge('gitbucket').ok, false);
  });
});

describe('site names and domains', () => {
  it('derives a valid site name from the first domain', () => {
    assert.equal(siteNameFromDomain('www.example.com'), 'example-com');
    assert.equal(siteNameFromDomain('blog.example.co.uk'), 'blog-example-co-uk');
    assert.equal(siteNameFromDomain('xn--bcher-kva.example'), 'xn-bcher-kva-example');
    assert.equal(siteNameFromDomain('::1'), '1');
    assert.equal(siteNameFromDomain(`${'a'.repeat(62)}.b.example`), 'a'.repeat(62));
    assert.equal(siteNameFromDomain('www.'), 'site');
  });

  it('splits commas, normalises and drops duplicates', () => {
    assert.deepEqual(checkDomains(['A.example, b.example', 'a.EXAMPLE']), { ok: true, value: ['a.example', 'b.example'], notes: ['a.example was given twice; it is listed once'] });
  });

  it('refuses the dashboard\'s host name as a site domain', () => {
    assert.deepEqual(checkDomains(['example.com,Berth.example.com'], 'berth.example.com'), {
      ok: false,
      message: '"Berth.example.com" is the dashboard\'s host name (--admin-domain); give the site names of its own',
    });
  });

  it('webhook URLs bracket IPv6 literals', () => {
    assert.equal(webhookUrl('example.com', 'blog'), 'https://example.com/_berth/hooks/blog');
    assert.equal(webhookUrl('2001:db8::1', 'blog'), 'https://[2001:db8::1]/_berth/hooks/blog');
  });
});

describe('the dashboard\'s host name', () => {
  it('is checked like a site domain, normalised, and optional', () => {
    const domains = ['example.com', 'www.example.com'];
    assert.deepEqual(checkAdminDomain('', domains), { ok: true, value: undefined });
    assert.deepEqual(checkAdminDomain('Berth.Example.COM', domains), { ok: true, value: 'berth.example.com' });
    assert.deepEqual(checkAdminDomain('bücher.example', domains), { ok: true, value: 'xn--bcher-kva.example' });
    assert.match(failure(checkAdminDomain('https://berth.example.com/', domains)), /is a URL; write just the host name/);
    assert.match(failure(checkAdminDomain('berth.example.com:8443', domains)), /has a port/);
    assert.match(failure(checkAdminDomain('a.example,b.example', domains)), /contains ","/);
    assert.match(failure(checkAdminDomain(`${'a'.repeat(64)}.example.com`, domains)), /label longer than 63/);
    assert.match(failure(checkAdminDomain(`${'a.'.repeat(130)}com`, domains)), /longer than 253/);
  });

  it('is refused when it is one of the site\'s domains, with another to use', () => {
    assert.equal(failure(checkAdminDomain('WWW.example.com', ['www.example.com'])), '"WWW.example.com" is one of the site\'s domains; the dashboard needs a host name of its own, such as "berth.example.com"');
    assert.equal(failure(checkAdminDomain('127.0.0.1', ['127.0.0.1'])), '"127.0.0.1" is one of the site\'s domains; the dashboard needs a host name of its own');
  });

  it('is suggested from the primary domain, without its www.', () => {
    assert.equal(suggestAdminDomain(['www.example.com', 'example.com']), 'berth.example.com');
    assert.equal(suggestAdminDomain(['blog.example.org']), 'berth.blog.example.org');
    assert.equal(suggestAdminDomain(['localhost']), 'berth.localhost');
    assert.equal(suggestAdminDomain(['example.com', 'berth.example.com']), undefined, 'already a site domain');
    assert.equal(suggestAdminDomain(['192.0.2.1']), undefined);
    assert.equal(suggestAdminDomain(['2001:db8::1']), undefined);
    assert.equal(suggestAdminDomain([`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`]), undefined, 'too long with berth.');
  });
});

function failure(checked: { ok: true } | { ok: false; message: string }): string {
  assert.ok(!checked.ok, 'refused');
  return checked.message;
}

describe('the config text', () => {
  it('escapes strings so that any valid answer loads back unchanged', async (t) => {
    const dir = await tempDir(t);
    const repo = 'https://example.com/a "quoted" \\ path#not-a-comment.git';
    const text = renderConfig(
      { domains: ['example.com'], repo, branch: 'feature/x', forge: 'generic', site: 'x', email: undefined, adminDomain: undefined, dataDir: 'data dir/"q"' },
      'secrets/x-webhook-secret',
    );
    await writeFile(join(dir, 'berth.toml'), text);
    await mkdir(join(dir, 'secrets'));
    await writeFile(join(dir, 'secrets', 'x-webhook-secret'), 'abc-0123456789-def\n');
    const config = await loadConfig(join(dir, 'berth.toml'), {});
    assert.equal(config.sites[0]?.repo, repo);
    assert.equal(config.sites[0]?.branch, 'feature/x');
    assert.equal(config.dataDir, join(dir, 'data dir/"q"'));
    assert.equal(config.sites[0]?.webhook?.secret.reveal(), 'abc-0123456789-def');
    assert.equal(tomlString('a\u0001\n'), '"a\\u0001\\n"');
    assert.equal(config.admin.domain, undefined);
    assert.match(text, /^# \[admin\]\n# domain = "berth\.example\.com"$/m, 'no dashboard: an example, commented out');
    assert.throws(() => tomlString('\ud800'));
  });

  it('writes [admin] domain when the dashboard is on', async (t) => {
    const dir = await tempDir(t);
    const text = renderConfig(
      { domains: ['example.com'], repo: 'https://github.com/a/b.git', branch: 'main', forge: 'github', site: 'x', email: undefined, adminDomain: 'admin.example.net', dataDir: 'data' },
      'secrets/x-webhook-secret',
    );
    assert.match(text, /^\[admin\]\ndomain = "admin\.example\.net"$/m);
    await writeFile(join(dir, 'berth.toml'), text);
    await mkdir(join(dir, 'secrets'));
    await writeFile(join(dir, 'secrets', 'x-webhook-secret'), 'abc-0123456789-def\n');
    assert.equal((await loadConfig(join(dir, 'berth.toml'), {})).admin.domain, 'admin.example.net');
  });
});

describe('DNS and addresses', () => {
  it('tells public addresses from private, loopback, link-local and documentation ones', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '151.101.1.1']) assert.equal(isPublicIPv4(address), true, address);
    for (const address of ['10.0.0.5', '172.16.3.4', '172.31.255.255', '192.168.1.1', '127.0.0.1', '169.254.1.1', '100.64.0.1', '203.0.113.7', '0.0.0.0', '224.0.0.1', '255.255.255.255']) {
      assert.equal(isPublicIPv4(address), false, address);
    }
    assert.equal(isPublicIPv6('2a01:4f8::1'), true);
    for (const address of ['::1', 'fe80::1', 'fd00::1', '2001:db8::1', '::ffff:8.8.8.8']) assert.equal(isPublicIPv6(address), false, address);
    const interfaces = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
      eth0: [
        { address: '95.216.1.2', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '95.216.1.2/24' },
        { address: '10.0.0.2', netmask: '255.0.0.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '10.0.0.2/8' },
        { address: '2a01:4f9::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: '2a01:4f9::2/64', scopeid: 0 },
        { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
      ],
    } as const;
    assert.deepEqual(publicAddresses(interfaces as never), { ipv4: ['95.216.1.2'], ipv6: ['2a01:4f9::2'] });
  });

  it('lists A and AAAA records per domain, or a placeholder, and skips local names', () => {
    const found = dnsInstructions(['example.com', 'www.example.com', 'localhost'], { ipv4: ['95.216.1.2'], ipv6: ['2a01:4f9::2'] }).join('\n');
    assert.match(found, /\n {2}example\.com +A +95\.216\.1\.2\n {2}example\.com +AAAA +2a01:4f9::2\n {2}www\.example\.com +A +95\.216\.1\.2\n/);
    assert.doesNotMatch(found, /localhost +A/);
    assert.match(found, /ports 80 and 443/);
    const none = dnsInstructions(['example.com'], { ipv4: [], ipv6: [] }).join('\n');
    assert.match(none, /example\.com +A +<your server's IPv4>/);
    assert.match(none, /no public IPv4 address/);
    assert.match(dnsInstructions(['127.0.0.1'], { ipv4: [], ipv6: [] }).join('\n'), /none: every domain is an IP address or a local name/);
  });
});

describe('the question loop', () => {
  it('reads answers typed ahead, uses defaults, and asks again after a refusal', async () => {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk: Buffer) => (shown += chunk.toString()));
    input.write('nope\n\nsecond\n');
    const prompter = createPrompter(input, output);
    const check = (answer: string) => (answer === 'nope' ? { ok: false as const, message: '"nope" is refused' } : { ok: true as const, value: answer });
    assert.equal(await prompter.ask({ text: 'First', option: '--first', defaultAnswer: 'dflt', check }), 'dflt');
    assert.equal(await prompter.ask({ text: 'Second', option: '--second', check }), 'second');
    input.end();
    await assert.rejects(prompter.ask({ text: 'Third', option: '--third', check }), { code: 'E_USAGE', message: /before --third was answered/ });
    prompter.close();
    assert.match(shown, /First \[dflt\]: {3}"nope" is refused; try again\nFirst \[dflt\]: Second: Third: /);
  });
});
