import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { checkHeaderTables, parseHeaders } from '../../src/releases/headers-file.ts';
import { createAuthGate, scryptPasswordHash } from '../../src/static/basic-auth.ts';
import { MAX_CUSTOM_HEADER_BYTES, REFUSED_HEADERS } from '../../src/static/header-table.ts';
import type { HeaderRule } from '../../src/releases/manifest.ts';

/** Parses `text` expecting failure; returns the message lines. */
function problemsOf(text: string, fileName?: string): string[] {
  try {
    parseHeaders(text, fileName);
  } catch (error) {
    assert.ok(error instanceof BerthError, 'expected a BerthError');
    assert.equal(error.code, 'E_HEADERS_INVALID');
    return error.message.split('\n');
  }
  assert.fail('expected parseHeaders to throw');
}

describe('parseHeaders() with valid files', () => {
  it('reads a typical file: several blocks, comments, blank lines, placeholders and splats', () => {
    const text = [
      '# Security headers for every page',
      '/*',
      '  X-Frame-Options: DENY',
      '  Referrer-Policy: strict-origin-when-cross-origin',
      '',
      '  # fonts and scripts are fingerprinted',
      '/assets/*',
      '\tCache-Control: public, max-age=31536000, immutable',
      '/docs/:version/*',
      '  X-Robots-Tag: noindex',
      '/feed.xml',
      '  Content-Type: application/rss+xml; charset=utf-8',
      '  Access-Control-Allow-Origin: *',
    ].join('\n');
    const expected: HeaderRule[] = [
      { path: '/*', headers: [['x-frame-options', 'DENY'], ['referrer-policy', 'strict-origin-when-cross-origin']], line: 2 },
      { path: '/assets/*', headers: [['cache-control', 'public, max-age=31536000, immutable']], line: 7 },
      { path: '/docs/:version/*', headers: [['x-robots-tag', 'noindex']], line: 9 },
      {
        path: '/feed.xml',
        headers: [['content-type', 'application/rss+xml; charset=utf-8'], ['access-control-allow-origin', '*']],
        line: 11,
      },
    ];
    assert.deepEqual(parseHeaders(text), expected);
  });

  const blocks: Array<{ name: string; text: string; rule: Omit<HeaderRule, 'line'> }> = [
    { name: 'lower-cases header names and keeps value case', text: '/a\n  X-Custom-Thing: MixedCase', rule: { path: '/a', headers: [['x-custom-thing', 'MixedCase']] } },
    { name: 'trims whitespace around name and value', text: '/a\n   X-A  :   one two  ', rule: { path: '/a', headers: [['x-a', 'one two']] } },
    { name: 'keeps colons inside the value', text: '/a\n  Link: <https://cdn.example/a.css>; rel=preload', rule: { path: '/a', headers: [['link', '<https://cdn.example/a.css>; rel=preload']] } },
    { name: 'keeps both copies of a list header named twice in one block', text: '/a\n  Link: </x.css>\n  Link: </y.css>', rule: { path: '/a', headers: [['link', '</x.css>'], ['link', '</y.css>']] } },
    { name: 'accepts a splat in the middle of a path', text: '/*/private\n  X-Robots-Tag: noindex', rule: { path: '/*/private', headers: [['x-robots-tag', 'noindex']] } },
    { name: 'accepts a tab inside a value', text: '/a\n  X-A: one\ttwo', rule: { path: '/a', headers: [['x-a', 'one\ttwo']] } },
    { name: 'accepts token punctuation in names', text: "/a\n  X-A.b_c!#$%&'*+^`|~: v", rule: { path: '/a', headers: [["x-a.b_c!#$%&'*+^`|~", 'v']] } },
    { name: 'decodes percent escapes in the path', text: '/caf%C3%A9\n  X-A: v', rule: { path: '/café', headers: [['x-a', 'v']] } },
    { name: 'lets _headers replace Cache-Control and Content-Type', text: '/a\n  Cache-Control: no-store\n  Content-Type: text/plain', rule: { path: '/a', headers: [['cache-control', 'no-store'], ['content-type', 'text/plain']] } },
  ];
  for (const { name, text, rule } of blocks) {
    it(name, () => {
      assert.deepEqual(parseHeaders(text), [{ ...rule, line: 1 }]);
    });
  }

  it('keeps duplicate paths as separate rules in file order', () => {
    const rules = parseHeaders('/a\n  X-A: 1\n/a\n  X-A: 2\n');
    assert.deepEqual(rules.map((rule) => [rule.path, rule.headers, rule.line]), [
      ['/a', [['x-a', '1']], 1],
      ['/a', [['x-a', '2']], 3],
    ]);
  });

  it('returns no rules for an empty file or one of comments', () => {
    assert.deepEqual(parseHeaders(''), []);
    assert.deepEqual(parseHeaders('# nothing\n\n'), []);
  });

  it('accepts CRLF line endings and a BOM', () => {
    assert.deepEqual(parseHeaders('\uFEFF/a\r\n  X-A: 1\r\n\r\n/b\r\n  X-B: 2\r\n'), [
      { path: '/a', headers: [['x-a', '1']], line: 1 },
      { path: '/b', headers: [['x-b', '2']], line: 4 },
    ]);
  });

  it('accepts exactly 10000 rules', () => {
    const text = Array.from({ length: 10_000 }, (_, i) => `/p${i}\n  X-N: ${i}`).join('\n');
    assert.equal(parseHeaders(text).length, 10_000);
  });
});

describe('parseHeaders() with invalid lines', () => {
  const cases: Array<{ name: string; text: string; line: number; message: string }> = [
    { name: 'rejects a header line before any path', text: '  X-A: 1\n/a\n  X-B: 2', line: 1, message: 'header line "X-A: 1" comes before any path; start the block with a path line such as /*' },
    { name: 'rejects a path with no headers', text: '/a\n/b\n  X-B: 2', line: 1, message: 'path "/a" has no headers; list them below it on indented "Name: value" lines' },
    { name: 'rejects a path with no headers at the end of the file', text: '/a\n  X-A: 1\n/b\n', line: 3, message: 'path "/b" has no headers; list them below it on indented "Name: value" lines' },
    { name: 'rejects a header line that is not indented', text: '/a\nX-A: 1', line: 2, message: 'header line "X-A: 1" must be indented under a path line' },
    { name: 'rejects a stray unindented line', text: '/a\n  X-A: 1\nhello', line: 3, message: 'expected a path starting with / or an indented "Name: value" line, found "hello"' },
    { name: 'rejects an indented path', text: '  /a\n  X-A: 1', line: 1, message: 'path "/a" must start at the beginning of the line, without indentation' },
    { name: 'rejects a domain-level path', text: 'https://example.org/*\n  X-A: 1', line: 1, message: 'path "https://example.org/*" is a full URL; domain-level rules are not supported, write a path starting with /' },
    { name: 'rejects a protocol-relative path', text: '//example.org/*\n  X-A: 1', line: 1, message: 'path "//example.org/*" is a full URL; domain-level rules are not supported, write a path starting with /' },
    { name: 'rejects a path with a header on the same line', text: '/a X-A: 1\n  X-B: 2', line: 1, message: 'path "/a X-A: 1" contains whitespace; put each header on its own indented line below the path' },
    { name: 'rejects a .. segment in the path', text: '/a/../b\n  X-A: 1', line: 1, message: 'path "/a/../b": ".." segments are not allowed' },
    { name: 'rejects a backslash in the path', text: '/a\\b\n  X-A: 1', line: 1, message: 'path "/a\\\\b": contains a backslash; separate segments with /' },
    { name: 'rejects a query string in the path', text: '/a?b=1\n  X-A: 1', line: 1, message: 'path "/a?b=1": contains a query string; query parameter matching is not supported, rules match the path only' },
    { name: 'rejects a splat inside a segment', text: '/*.js\n  X-A: 1', line: 1, message: 'path "/*.js": "*.js" mixes * with other characters; * must be a whole segment, as in /assets/*' },
    { name: 'rejects a line without a colon', text: '/a\n  X-A 1', line: 2, message: 'expected an indented "Name: value" line, found "X-A 1"' },
    { name: 'rejects a header without a name', text: '/a\n  : value', line: 2, message: '": value" has no header name before the colon' },
    { name: 'rejects a name with a space', text: '/a\n  X A: 1', line: 2, message: 'header "X A" is not a valid header name; use letters, digits and -, as in X-Frame-Options' },
    { name: 'rejects a name with non-token characters', text: '/a\n  X(A): 1', line: 2, message: 'header "X(A)" is not a valid header name; use letters, digits and -, as in X-Frame-Options' },
    { name: 'rejects an empty value', text: '/a\n  X-A:', line: 2, message: 'header "X-A" has no value; give it one or remove the line' },
    { name: 'rejects a non-ASCII value', text: '/a\n  X-Greeting: héllo', line: 2, message: 'header "X-Greeting" has "é" (U+00E9) in its value; header values must be printable ASCII, percent-encode anything else' },
    { name: 'rejects a NUL in a value', text: '/a\n  X-A: a\u0000b', line: 2, message: 'control character U+0000 is not allowed; save the file as plain UTF-8 text' },
    { name: 'rejects a lone CR that could split a header', text: '/a\n  X-A: a\rSet-Cookie: x=1', line: 2, message: 'control character U+000D is not allowed; save the file as plain UTF-8 text' },
    { name: 'rejects a line over 4096 characters', text: `/a\n  X-A: ${'v'.repeat(4090)}`, line: 2, message: 'line is 4097 characters long; the limit is 4096' },
  ];
  for (const { name, text, line, message } of cases) {
    it(name, () => {
      assert.deepEqual(problemsOf(text), ['_headers has 1 invalid line', `_headers line ${line}: ${message}`]);
    });
  }

  const refused = [
    'Content-Length',
    'Transfer-Encoding',
    'Connection',
    'Proxy-Connection',
    'Content-Encoding',
    'Content-Range',
    'Keep-Alive',
    'Upgrade',
    'HTTP2-Settings',
    'Trailer',
    'TE',
    'Host',
    'ETag',
    'Last-Modified',
    'Date',
    'Accept-Ranges',
    'WWW-Authenticate',
  ];
  for (const name of refused) {
    it(`refuses to let _headers set ${name}, naming the line and the reason`, () => {
      assert.deepEqual(problemsOf(`/a\n  X-Fine: 1\n  ${name}: x`), [
        '_headers has 1 invalid line',
        `_headers line 3: header "${name}" cannot be set in _headers: ${REFUSED_HEADERS.get(name.toLowerCase()) ?? 'missing'}`,
      ]);
    });
  }

  it('refuses TE even when it names trailers, since a response never carries it', () => {
    assert.match(problemsOf('/a\n  TE: trailers')[1] ?? '', /line 2: header "TE" cannot be set/);
  });

  it('refuses a pseudo-header, which has no name before its colon', () => {
    assert.deepEqual(problemsOf('/a\n  :status: 200'), ['_headers has 1 invalid line', '_headers line 2: ":status: 200" has no header name before the colon']);
  });

  for (const name of ['X-Content-Type-Options', 'Content-Type', 'X-Frame-Options', 'Location', 'Strict-Transport-Security']) {
    it(`refuses the single-value header ${name} twice in one block, naming both lines`, () => {
      assert.deepEqual(problemsOf(`/a\n  ${name}: one\n  X-B: 1\n  ${name}: two`), [
        '_headers has 1 invalid line',
        `_headers line 4: header "${name.toLowerCase()}" holds one value and is already set for this path on line 2; keep one line`,
      ]);
    });
  }

  it('quotes at most a short excerpt of a long invalid line', () => {
    const [, message] = problemsOf(`/a\n${'x'.repeat(3000)}`);
    assert.ok(message !== undefined && message.length < 200, message);
    assert.match(message, /x…"$/);
  });

  it('lists every problem at once, in line order', () => {
    const text = ['  X-Early: 1', '/ok', '  X-A: 1', '  Bad Name: 2', '/empty', '/z', '  Content-Length: 3', '  X-B:'].join('\n');
    assert.deepEqual(problemsOf(text, 'public/_headers'), [
      'public/_headers has 5 invalid lines',
      'public/_headers line 1: header line "X-Early: 1" comes before any path; start the block with a path line such as /*',
      'public/_headers line 4: header "Bad Name" is not a valid header name; use letters, digits and -, as in X-Frame-Options',
      'public/_headers line 5: path "/empty" has no headers; list them below it on indented "Name: value" lines',
      'public/_headers line 7: header "Content-Length" cannot be set in _headers: Berth sets it from the bytes it sends',
      'public/_headers line 8: header "X-B" has no value; give it one or remove the line',
    ]);
  });

  it('does not also call a block empty when its only header line was already rejected', () => {
    assert.deepEqual(problemsOf('/a\n  X-A: \u0007\n'), [
      '_headers has 1 invalid line',
      '_headers line 2: control character U+0007 is not allowed; save the file as plain UTF-8 text',
    ]);
  });

  it('does not also call a block empty when its path was rejected', () => {
    assert.deepEqual(problemsOf('/a/../b\n/c\n  X-C: 1\n'), [
      '_headers has 1 invalid line',
      '_headers line 1: path "/a/../b": ".." segments are not allowed',
    ]);
  });
});

describe('parseHeaders() limits', () => {
  it('rejects a file over 1 MiB', () => {
    const text = `/a\n  X-A: ${'v'.repeat(1024 * 1024)}`;
    assert.deepEqual(problemsOf(text), [`_headers is ${text.length} bytes; the limit is 1 MiB (1048576 bytes)`]);
  });

  it('rejects more than 10000 rules', () => {
    const text = Array.from({ length: 10_001 }, (_, i) => `/p${i}\n  X-N: ${i}`).join('\n');
    assert.deepEqual(problemsOf(text), ['_headers has more than 10000 rules (rule 10001 is on line 20001); the limit is 10000']);
  });
});

describe('parseHeaders() with Basic-Auth', () => {
  it('keeps users out of the headers and stores each password hashed, never as written', () => {
    const [rule] = parseHeaders('/private/*\n  Basic-Auth: alice:correct-horse bob:battery:staple\n  X-Robots-Tag: noindex');
    assert.ok(rule !== undefined);
    assert.deepEqual(rule.headers, [['x-robots-tag', 'noindex']]);
    assert.deepEqual(rule.auth?.map((user) => user.name), ['alice', 'bob']);
    const stored = JSON.stringify(rule);
    assert.doesNotMatch(stored, /correct-horse|battery/);
    assert.match(rule.auth?.[0]?.hash ?? '', /^hmac-sha256\$/);
    const gate = createAuthGate(rule.auth ?? [], 'site');
    const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;
    assert.equal(gate.check(basic('alice:correct-horse')), 'ok');
    assert.equal(gate.check(basic('bob:battery:staple')), 'ok');
    assert.equal(gate.check(basic('alice:battery:staple')), 'denied');
  });

  it('stores the same password differently in two publishes, so equal passwords do not show', () => {
    const first = parseHeaders('/a\n  Basic-Auth: u:pw')[0]?.auth?.[0]?.hash;
    const second = parseHeaders('/a\n  Basic-Auth: u:pw')[0]?.auth?.[0]?.hash;
    assert.ok(first !== undefined && second !== undefined);
    assert.notEqual(first, second);
  });

  it('keeps a $scrypt$ hash as given', () => {
    const hash = scryptPasswordHash('s3cret', 10);
    const [rule] = parseHeaders(`/a\n  Basic-Auth: admin:${hash}`);
    assert.deepEqual(rule?.auth, [{ name: 'admin', hash }]);
  });

  const refused: Array<{ name: string; value: string; message: string }> = [
    { name: 'refuses Basic-Auth without users', value: '', message: 'Basic-Auth has no users; write Basic-Auth: name:password' },
    { name: 'refuses a user without a password', value: 'alice:', message: 'Basic-Auth user 1 is not in the form name:password (names cannot contain a colon, and spaces separate users)' },
    { name: 'refuses a user without a name', value: 'alice:pw :hunter2', message: 'Basic-Auth user 2 is not in the form name:password (names cannot contain a colon, and spaces separate users)' },
    { name: 'refuses a broken scrypt hash', value: 'alice:$scrypt$ln=14,r=8,p=1$hunter2', message: 'Basic-Auth user 1: the password hash is not in the form $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt base64>$<hash base64>' },
    { name: 'refuses a scrypt hash that costs too much to check', value: `alice:${'$scrypt$ln=20,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g='}`, message: 'Basic-Auth user 1: the password hash has ln=20; use 1 to 17' },
  ];
  for (const { name, value, message } of refused) {
    it(name, () => {
      assert.deepEqual(problemsOf(`/a\n  Basic-Auth: ${value}`), ['_headers has 1 invalid line', `_headers line 2: ${message}`]);
    });
  }

  it('refuses Basic-Auth twice for one path', () => {
    assert.deepEqual(problemsOf('/a\n  Basic-Auth: a:1\n  Basic-Auth: b:2'), [
      '_headers has 1 invalid line',
      '_headers line 3: Basic-Auth is set twice for one path (first on line 2); list every user on one line, separated by spaces',
    ]);
  });

  it('never quotes a password in a message, even from a misplaced Basic-Auth line', () => {
    const messages = [
      ...problemsOf('Basic-Auth: alice:hunter2'),
      ...problemsOf('/a\nBasic-Auth: alice:hunter2'),
      ...problemsOf('/a\n  Basic-Auth: alice:hunter2 bob'),
    ].join('\n');
    assert.doesNotMatch(messages, /hunter2/);
    assert.match(messages, /"Basic-Auth: …"/);
  });
});

describe('checkHeaderTables()', () => {
  it('accepts tables within the limit', () => {
    checkHeaderTables(parseHeaders('/*\n  X-A: 1\n/a.html\n  X-B: 2'), ['/a.html', '/index.html']);
  });

  it('refuses a path whose merged headers exceed the limit, naming the path and the rules', () => {
    const value = 'v'.repeat(4000);
    const text = ['/*', `  X-A: ${value}`, '/blog/*', `  X-B: ${value}`, '/blog/:post', `  X-C: ${value}`, '/blog/index.html', `  X-D: ${value}`, `  X-E: ${value}`].join('\n');
    assert.throws(
      () => checkHeaderTables(parseHeaders(text), ['/about.html', '/blog/index.html']),
      (error: unknown) =>
        error instanceof BerthError &&
        error.code === 'E_HEADERS_INVALID' &&
        error.message.startsWith('_headers gives "/blog/index.html" ') &&
        error.message.includes(`(rules on lines 1, 3, 5, 7); the limit is ${MAX_CUSTOM_HEADER_BYTES} per path`),
    );
  });

  it('checks the directory form a page is also served under', () => {
    const value = 'v'.repeat(4000);
    const text = ['/docs/', ...['A', 'B', 'C', 'D', 'E'].map((n) => `  X-${n}: ${value}`)].join('\n');
    assert.throws(() => checkHeaderTables(parseHeaders(text), ['/docs/index.html']), /gives "\/docs\/"/);
  });
});
