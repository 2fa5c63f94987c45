import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import type { RedirectRule } from '../../src/releases/manifest.ts';
import { parseRedirects } from '../../src/releases/redirects-file.ts';

/** Parses `text` expecting failure; returns the message lines. */
function problemsOf(text: string, fileName?: string): string[] {
  try {
    parseRedirects(text, fileName);
  } catch (error) {
    assert.ok(error instanceof BerthError, 'expected a BerthError');
    assert.equal(error.code, 'E_REDIRECTS_INVALID');
    return error.message.split('\n');
  }
  assert.fail('expected parseRedirects to throw');
}

describe('parseRedirects() with valid files', () => {
  it('reads a typical file: comments, blank lines, statuses, force, placeholders and splats', () => {
    const text = [
      '# Old blog URLs moved under /posts in 2023',
      '',
      '/blog/:year/:slug      /posts/:year/:slug',
      '/feed.xml              /posts/rss.xml        302',
      '/docs/v1/*             /docs/v2/:splat       308!',
      '/chat                  https://chat.example.org/berth   307',
      '/retired-page          /gone.html            410',
      '/secret/*              /404.html             404!',
      '   # an indented comment',
      '/app/*                 /app/index.html       200',
      '',
    ].join('\n');
    const expected: RedirectRule[] = [
      { from: '/blog/:year/:slug', to: '/posts/:year/:slug', status: 301, force: false, line: 3 },
      { from: '/feed.xml', to: '/posts/rss.xml', status: 302, force: false, line: 4 },
      { from: '/docs/v1/*', to: '/docs/v2/:splat', status: 308, force: true, line: 5 },
      { from: '/chat', to: 'https://chat.example.org/berth', status: 307, force: false, line: 6 },
      { from: '/retired-page', to: '/gone.html', status: 410, force: false, line: 7 },
      { from: '/secret/*', to: '/404.html', status: 404, force: true, line: 8 },
      { from: '/app/*', to: '/app/index.html', status: 200, force: false, line: 10 },
    ];
    assert.deepEqual(parseRedirects(text), expected);
  });

  const single: Array<{ name: string; line: string; rule: Omit<RedirectRule, 'line'> }> = [
    { name: 'defaults the status to 301', line: '/a /b', rule: { from: '/a', to: '/b', status: 301, force: false } },
    { name: 'reads each allowed status', line: '/a /b 307', rule: { from: '/a', to: '/b', status: 307, force: false } },
    { name: 'reads ! as force', line: '/a /b 200!', rule: { from: '/a', to: '/b', status: 200, force: true } },
    { name: 'accepts tabs between fields', line: '/a\t\t/b\t302', rule: { from: '/a', to: '/b', status: 302, force: false } },
    { name: 'ignores a trailing comment', line: '/a /b 302 # moved in May', rule: { from: '/a', to: '/b', status: 302, force: false } },
    { name: 'keeps a query string in to', line: '/s/:q /search?q=:q', rule: { from: '/s/:q', to: '/search?q=:q', status: 301, force: false } },
    { name: 'keeps a fragment in to', line: '/faq /help#faq', rule: { from: '/faq', to: '/help#faq', status: 301, force: false } },
    { name: 'lets to use :splat when from has *', line: '/old/* https://new.example/:splat', rule: { from: '/old/*', to: 'https://new.example/:splat', status: 301, force: false } },
    { name: 'lets to use a placeholder inside a segment', line: '/p/:y/:m /archive/:y-:m.html', rule: { from: '/p/:y/:m', to: '/archive/:y-:m.html', status: 301, force: false } },
    { name: 'accepts a port in an absolute to', line: '/a http://example.org:8080/b 302', rule: { from: '/a', to: 'http://example.org:8080/b', status: 302, force: false } },
    { name: 'normalises the host of an absolute to', line: '/a HTTPS://Example.ORG/B', rule: { from: '/a', to: 'https://example.org/B', status: 301, force: false } },
    { name: 'percent-encodes non-ASCII in to', line: '/ja /日本/', rule: { from: '/ja', to: '/%E6%97%A5%E6%9C%AC/', status: 301, force: false } },
    { name: 'decodes percent escapes in from', line: '/caf%C3%A9 /cafe', rule: { from: '/café', to: '/cafe', status: 301, force: false } },
    { name: 'accepts non-ASCII in from as written', line: '/café /cafe', rule: { from: '/café', to: '/cafe', status: 301, force: false } },
    { name: 'accepts an encoded colon in to as a literal', line: '/w /wiki/Special%3ASearch', rule: { from: '/w', to: '/wiki/Special%3ASearch', status: 301, force: false } },
  ];
  for (const { name, line, rule } of single) {
    it(name, () => {
      assert.deepEqual(parseRedirects(line), [{ ...rule, line: 1 }]);
    });
  }

  it('returns no rules for an empty file', () => {
    assert.deepEqual(parseRedirects(''), []);
  });

  it('returns no rules for a file of comments and blank lines', () => {
    assert.deepEqual(parseRedirects('# nothing yet\n\n   \n\t\n'), []);
  });

  it('keeps duplicate rules in file order, so the first one wins when matching', () => {
    const rules = parseRedirects('/a /first\n/a /second\n');
    assert.deepEqual(rules.map((rule) => rule.to), ['/first', '/second']);
  });

  it('accepts CRLF line endings', () => {
    const rules = parseRedirects('# windows\r\n/a /b 302\r\n/c /d\r\n');
    assert.deepEqual(rules.map((rule) => [rule.from, rule.to, rule.status, rule.line]), [
      ['/a', '/b', 302, 2],
      ['/c', '/d', 301, 3],
    ]);
  });

  it('accepts a UTF-8 byte order mark', () => {
    assert.deepEqual(parseRedirects('\uFEFF/a /b'), [{ from: '/a', to: '/b', status: 301, force: false, line: 1 }]);
  });

  it('accepts a file of exactly 1 MiB', () => {
    const comment = `#${'x'.repeat(4094)}\n`;
    const rules = '/a /b\n'.repeat(1000);
    const fill = 1024 * 1024 - rules.length;
    const text = rules + comment.repeat(Math.floor(fill / comment.length)) + '#'.repeat(fill % comment.length);
    assert.equal(Buffer.byteLength(text), 1024 * 1024);
    assert.equal(parseRedirects(text).length, 1000);
  });

  it('accepts exactly 10000 rules', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `/r${i} /t${i}`).join('\n');
    assert.equal(parseRedirects(text).length, 10_000);
  });

  it('accepts a line of exactly 4096 characters', () => {
    const line = `/a /${'b'.repeat(4092)}`;
    assert.equal(line.length, 4096);
    assert.equal(parseRedirects(line).length, 1);
  });
});

describe('parseRedirects() with invalid lines', () => {
  const cases: Array<{ name: string; line: string; message: string }> = [
    { name: 'names an unknown status and the allowed ones', line: '/a /b 299', message: 'unknown status "299"; use one of 200, 301, 302, 307, 308, 404, 410' },
    { name: 'rejects a status that is not a number', line: '/a /b moved', message: 'unknown status "moved"; use one of 200, 301, 302, 307, 308, 404, 410' },
    { name: 'rejects a force mark after a space', line: '/a /b 301 !', message: '"!" must follow the status without a space, as in 301!' },
    { name: 'rejects extra words after the status', line: '/a /b 301 please', message: 'unexpected "please" after the status; write a rule as: from to [status][!]' },
    { name: 'rejects a rule without a target', line: '/lonely', message: '"/lonely" has no target; write a rule as: from to [status]' },
    { name: 'rejects a domain-level from', line: 'https://old.example/* https://new.example/:splat', message: 'from "https://old.example/*" is a full URL; domain-level redirects are not supported, write a path starting with /' },
    { name: 'rejects a protocol-relative from', line: '//old.example/a /b', message: 'from "//old.example/a" is a full URL; domain-level redirects are not supported, write a path starting with /' },
    { name: 'rejects a relative from', line: 'blog /posts', message: 'from "blog" must be a path starting with /' },
    { name: 'rejects query parameter matching', line: '/store id=:id /products/:id 301', message: 'query parameter matching is not supported: "id=:id"; rules match the path only' },
    { name: 'rejects a query string in from', line: '/store?id=1 /p', message: 'from "/store?id=1": contains a query string; query parameter matching is not supported, rules match the path only' },
    { name: 'rejects a Country condition', line: '/ /au 302 Country=au,nz', message: 'conditions are not supported: "Country=au,nz"; Berth does not route by country, language, role or cookie' },
    { name: 'rejects a Language condition', line: '/ /fr 302 Language=fr', message: 'conditions are not supported: "Language=fr"; Berth does not route by country, language, role or cookie' },
    { name: 'rejects a Role condition', line: '/admin/* /admin/:splat 200! Role=admin', message: 'conditions are not supported: "Role=admin"; Berth does not route by country, language, role or cookie' },
    { name: 'rejects proxying with a 200 to an absolute URL', line: '/api/* https://api.example/:splat 200', message: 'proxying is not supported: a 200 rule serves a file from this site, not "https://api.example/:splat"; use 301, 302, 307 or 308 to send visitors there' },
    { name: 'rejects a 404 served from another server', line: '/x https://cdn.example/404.html 404', message: 'proxying is not supported: a 404 rule serves a file from this site, not "https://cdn.example/404.html"; use 301, 302, 307 or 308 to send visitors there' },
    { name: 'rejects a placeholder in to that from does not bind', line: '/a/:slug /b/:id', message: 'to uses ":id", which from "/a/:slug" does not bind; from binds :slug (write a literal colon as %3A)' },
    { name: 'rejects :splat in to when from has no splat', line: '/a /b/:splat', message: 'to uses ":splat", which from "/a" does not bind; add :splat or * to from (write a literal colon as %3A)' },
    { name: 'rejects a splat before the last segment', line: '/a/*/b /c', message: 'from "/a/*/b": * is only allowed as the last segment, as in /blog/*' },
    { name: 'rejects a placeholder name used twice', line: '/:id/:id /c', message: 'from "/:id/:id": placeholder ":id" appears twice; give each placeholder its own name' },
    { name: 'rejects a .. segment in from', line: '/a/../etc /b', message: 'from "/a/../etc": ".." segments are not allowed' },
    { name: 'rejects a .. segment in to', line: '/a /b/../../etc/passwd', message: 'to "/b/../../etc/passwd" has a "." or ".." segment; write the full path without them' },
    { name: 'rejects an encoded .. segment in to', line: '/a /b/%2e%2e/c', message: 'to "/b/%2e%2e/c" has a "." or ".." segment; write the full path without them' },
    { name: 'rejects a backslash in from', line: '/a\\b /c', message: 'from "/a\\\\b": contains a backslash; separate segments with /' },
    { name: 'rejects a backslash in to', line: '/a /\\evil.example', message: 'to "/\\\\evil.example" contains a backslash; separate segments with /' },
    { name: 'rejects a protocol-relative to', line: '/a //evil.example/', message: 'to "//evil.example/" starts with //, which browsers read as another site; write https://host/path for an external target' },
    { name: 'rejects a to that is not a path or http URL', line: '/a javascript:alert(1)', message: 'to "javascript:alert(1)" must be a path starting with / or an http:// or https:// URL' },
    { name: 'rejects a relative to', line: '/a b.html', message: 'to "b.html" must be a path starting with / or an http:// or https:// URL' },
    { name: 'rejects a placeholder in the host of to', line: '/:tenant/* https://:tenant.example/:splat', message: 'to "https://:tenant.example/:splat" has a placeholder in the host; placeholders are only allowed in the path and query' },
    { name: 'rejects credentials in to', line: '/a https://user:pw@example.org/', message: 'to contains a user name or password; remove the part before @' },
    { name: 'rejects an unparseable URL in to', line: '/a https://[nope]/', message: 'to "https://[nope]/" is not a valid URL; write it as https://host/path' },
    { name: 'rejects an absolute to without a host', line: '/a https:///path', message: 'to "https:///path" is not a valid URL; write it as https://host/path' },
    { name: 'rejects a URL with a bad port in to', line: '/a https://example.org:99999/', message: 'to "https://example.org:99999/" is not a valid URL; write it as https://host/path' },
    { name: 'rejects a NUL byte', line: '/a\u0000 /b', message: 'control character U+0000 is not allowed; save the file as plain UTF-8 text' },
    { name: 'rejects other control characters', line: '/a /b\u001b[31m', message: 'control character U+001B is not allowed; save the file as plain UTF-8 text' },
    { name: 'rejects a lone carriage return inside a line', line: '/a /b\r/c /d', message: 'control character U+000D is not allowed; save the file as plain UTF-8 text' },
    { name: 'rejects a line over 4096 characters', line: `/a /${'b'.repeat(4093)}`, message: 'line is 4097 characters long; the limit is 4096' },
  ];
  for (const { name, line, message } of cases) {
    it(name, () => {
      assert.deepEqual(problemsOf(line), ['_redirects has 1 invalid line', `_redirects line 1: ${message}`]);
    });
  }

  it('lists every invalid line at once, in line order, after a summary', () => {
    const text = ['/ok /fine', '/a /b 299', '# comment', '/c', '/d /e', 'f /g 302'].join('\n');
    assert.deepEqual(problemsOf(text), [
      '_redirects has 3 invalid lines',
      '_redirects line 2: unknown status "299"; use one of 200, 301, 302, 307, 308, 404, 410',
      '_redirects line 4: "/c" has no target; write a rule as: from to [status]',
      '_redirects line 6: from "f" must be a path starting with /',
    ]);
  });

  it('names the file it was given', () => {
    assert.deepEqual(problemsOf('/a /b 1', 'site/_redirects'), [
      'site/_redirects has 1 invalid line',
      'site/_redirects line 1: unknown status "1"; use one of 200, 301, 302, 307, 308, 404, 410',
    ]);
  });

  it('counts lines correctly in a CRLF file with a BOM', () => {
    assert.deepEqual(problemsOf('\uFEFF/a /b\r\n\r\n/c /d 999\r\n'), [
      '_redirects has 1 invalid line',
      '_redirects line 3: unknown status "999"; use one of 200, 301, 302, 307, 308, 404, 410',
    ]);
  });

  it('lists at most 100 problems and counts the rest', () => {
    const lines = problemsOf(Array.from({ length: 150 }, () => '/a /b 299').join('\n'));
    assert.equal(lines[0], '_redirects has 150 invalid lines');
    assert.equal(lines.length, 1 + 100 + 1);
    assert.equal(lines.at(-1), 'and 50 more invalid lines');
  });
});

describe('parseRedirects() quotes little of the file', () => {
  it('quotes at most a short excerpt of a long rule in a message', () => {
    const from = `/${'x'.repeat(3000)}`;
    const [, message] = problemsOf(`${from} relative/target`);
    assert.ok(message !== undefined && message.length < 300, message);
    assert.doesNotMatch(message, /x{100}/);
  });

  it('never quotes the credentials of a target URL', () => {
    assert.doesNotMatch(problemsOf('/a https://user:hunter2@example.org/').join('\n'), /hunter2/);
  });
});

describe('parseRedirects() limits', () => {
  it('rejects a file over 1 MiB before reading any rule', () => {
    const text = '#'.repeat(1024 * 1024 + 1);
    assert.deepEqual(problemsOf(text), ['_redirects is 1048577 bytes; the limit is 1 MiB (1048576 bytes)']);
  });

  it('measures the 1 MiB limit in UTF-8 bytes, not characters', () => {
    const text = `# ${'é'.repeat(600_000)}`;
    assert.ok(text.length < 1024 * 1024);
    assert.match(problemsOf(text)[0] ?? '', /^_redirects is 1200002 bytes; the limit is 1 MiB/);
  });

  it('rejects more than 10000 rules', () => {
    const text = Array.from({ length: 10_001 }, (_, i) => `/r${i} /t`).join('\n');
    assert.deepEqual(problemsOf(text), ['_redirects has more than 10000 rules (rule 10001 is on line 10001); the limit is 10000']);
  });
});
