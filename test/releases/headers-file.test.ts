import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BerthError } from '../../src/errors.ts';
import { parseHeaders } from '../../src/releases/headers-file.ts';
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
    { name: 'keeps both copies of a header named twice in one block', text: '/a\n  Link: </x.css>\n  Link: </y.css>', rule: { path: '/a', headers: [['link', '</x.css>'], ['link', '</y.css>']] } },
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
    { name: 'rejects a backslash in the path', text: '/a\\b\n  X-A: 1', line: 1, message: 'path "/a\\b": contains a backslash; separate segments with /' },
    { name: 'rejects a query string in the path', text: '/a?b=1\n  X-A: 1', line: 1, message: 'path "/a?b=1": contains a query string; query parameter matching is not supported, rules match the path only' },
    { name: 'rejects a splat inside a segment', text: '/*.js\n  X-A: 1', line: 1, message: 'path "/*.js": "*.js" mixes * with other characters; * must be a whole segment, as in /assets/*' },
    { name: 'rejects a line without a colon', text: '/a\n  X-A 1', line: 2, message: 'expected an indented "Name: value" line, found "X-A 1"' },
    { name: 'rejects a header without a name', text: '/a\n  : value', line: 2, message: '": value" has no header name before the colon' },
    { name: 'rejects a name with a space', text: '/a\n  X A: 1', line: 2, message: 'header name "X A" is not valid; use letters, digits and -, as in X-Frame-Options' },
    { name: 'rejects a name with non-token characters', text: '/a\n  X(A): 1', line: 2, message: 'header name "X(A)" is not valid; use letters, digits and -, as in X-Frame-Options' },
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

  const serverHeaders = ['Content-Length', 'Transfer-Encoding', 'Connection', 'Content-Encoding', 'Content-Range', 'Keep-Alive', 'Upgrade', 'Trailer', 'TE'];
  for (const name of serverHeaders) {
    it(`refuses to let _headers set ${name}`, () => {
      assert.deepEqual(problemsOf(`/a\n  ${name}: x`), [
        '_headers has 1 invalid line',
        `_headers line 2: header "${name}" cannot be set in _headers; the server sets ${name.toLowerCase()} from the response it sends`,
      ]);
    });
  }

  it('lists every problem at once, in line order', () => {
    const text = ['  X-Early: 1', '/ok', '  X-A: 1', '  Bad Name: 2', '/empty', '/z', '  Content-Length: 3', '  X-B:'].join('\n');
    assert.deepEqual(problemsOf(text, 'public/_headers'), [
      'public/_headers has 5 invalid lines',
      'public/_headers line 1: header line "X-Early: 1" comes before any path; start the block with a path line such as /*',
      'public/_headers line 4: header name "Bad Name" is not valid; use letters, digits and -, as in X-Frame-Options',
      'public/_headers line 5: path "/empty" has no headers; list them below it on indented "Name: value" lines',
      'public/_headers line 7: header "Content-Length" cannot be set in public/_headers; the server sets content-length from the response it sends',
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
