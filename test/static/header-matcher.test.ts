import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHeaders } from '../../src/releases/headers-file.ts';
import type { HeaderRule } from '../../src/releases/manifest.ts';
import { createAuthMatcher, createHeaderMatcher } from '../../src/static/header-matcher.ts';
import { MAX_CUSTOM_HEADER_BYTES } from '../../src/static/header-table.ts';

const file = [
  '/*',
  '  X-Frame-Options: DENY',
  '/assets/*',
  '  Cache-Control: public, max-age=31536000, immutable',
  '/blog/:slug',
  '  X-Robots-Tag: noindex',
  '/*/drafts/*',
  '  X-Robots-Tag: none',
  '/feed.xml',
  '  Content-Type: application/rss+xml',
  '  Link: </a.css>; rel=preload',
  '  Link: </b.css>; rel=preload',
  '/feed.xml',
  '  Link: </c.css>; rel=preload',
].join('\n');

describe('createHeaderMatcher()', () => {
  const matcher = createHeaderMatcher(parseHeaders(file));
  const cases: Array<{ name: string; path: string; headers: Array<[string, string]> }> = [
    { name: 'applies a catch-all rule to the root', path: '/', headers: [['x-frame-options', 'DENY']] },
    {
      name: 'applies every matching rule in file order',
      path: '/assets/app.js',
      headers: [['x-frame-options', 'DENY'], ['cache-control', 'public, max-age=31536000, immutable']],
    },
    { name: 'applies a placeholder rule to one segment', path: '/blog/hello', headers: [['x-frame-options', 'DENY'], ['x-robots-tag', 'noindex']] },
    { name: 'does not apply a placeholder rule to a deeper path', path: '/blog/hello/more', headers: [['x-frame-options', 'DENY']] },
    { name: 'applies a rule with a splat in the middle', path: '/en/drafts/x.html', headers: [['x-frame-options', 'DENY'], ['x-robots-tag', 'none']] },
    {
      name: 'joins a list header repeated in one block and across blocks with ", ", in file order',
      path: '/feed.xml',
      headers: [
        ['x-frame-options', 'DENY'],
        ['content-type', 'application/rss+xml'],
        ['link', '</a.css>; rel=preload, </b.css>; rel=preload, </c.css>; rel=preload'],
      ],
    },
    { name: 'matches a path with a trailing slash', path: '/blog/hello/', headers: [['x-frame-options', 'DENY'], ['x-robots-tag', 'noindex']] },
    { name: 'matches a bare directory against a trailing splat', path: '/assets', headers: [['x-frame-options', 'DENY'], ['cache-control', 'public, max-age=31536000, immutable']] },
    { name: 'compares paths case-sensitively', path: '/Assets/app.js', headers: [['x-frame-options', 'DENY']] },
  ];
  for (const { name, path, headers } of cases) {
    it(name, () => {
      assert.deepEqual(matcher(path), headers);
    });
  }

  it('returns an empty list when no rule matches', () => {
    assert.deepEqual(createHeaderMatcher(parseHeaders('/only\n  X-A: 1'))('/other'), []);
  });

  it('returns an empty list when there are no rules', () => {
    assert.deepEqual(createHeaderMatcher([])('/'), []);
  });

  it('returns a fresh list each call, so changing one does not change the next', () => {
    const headerMatcher = createHeaderMatcher(parseHeaders('/*\n  X-A: 1'));
    const first = headerMatcher('/a');
    first.push(['x-b', '2']);
    const pair = first[0];
    if (pair !== undefined) pair[1] = 'changed';
    assert.deepEqual(headerMatcher('/a'), [['x-a', '1']]);
  });

  it('handles ten thousand rules and still finds the right ones', () => {
    const text = Array.from({ length: 9_999 }, (_, i) => `/page-${i}\n  X-Page: ${i}`).join('\n') + '\n/*\n  X-All: yes';
    const headerMatcher = createHeaderMatcher(parseHeaders(text));
    assert.deepEqual(headerMatcher('/page-9876'), [['x-page', '9876'], ['x-all', 'yes']]);
  });
});

describe('createHeaderMatcher() merges what several rules set', () => {
  it('lets the later rule win for a single-value header set by two matching blocks', () => {
    const matcher = createHeaderMatcher(parseHeaders('/*\n  X-Content-Type-Options: nosniff\n/index.html\n  X-Content-Type-Options: NOSNIFF'));
    assert.deepEqual(matcher('/index.html'), [['x-content-type-options', 'NOSNIFF']]);
    assert.deepEqual(matcher('/other'), [['x-content-type-options', 'nosniff']]);
  });

  it('lets the later rule win for X-Frame-Options, which a comma would make invalid', () => {
    const matcher = createHeaderMatcher(parseHeaders('/*\n  X-Frame-Options: DENY\n/embed/*\n  X-Frame-Options: SAMEORIGIN'));
    assert.deepEqual(matcher('/embed/a'), [['x-frame-options', 'SAMEORIGIN']]);
  });

  it('joins Cache-Control from two blocks and does not repeat a value already there', () => {
    const matcher = createHeaderMatcher(parseHeaders('/*\n  Cache-Control: no-transform\n  X-A: 1\n/a\n  Cache-Control: max-age=60\n  X-A: 1'));
    assert.deepEqual(matcher('/a'), [['cache-control', 'no-transform, max-age=60'], ['x-a', '1']]);
  });

  it('keeps Set-Cookie values as separate fields', () => {
    const matcher = createHeaderMatcher(parseHeaders('/*\n  Set-Cookie: a=1, b\n/a\n  Set-Cookie: c=2'));
    assert.deepEqual(matcher('/a'), [['set-cookie', 'a=1, b'], ['set-cookie', 'c=2']]);
  });

  it('drops what a release published by an older version could hold and no response may carry', () => {
    const rules: HeaderRule[] = [
      {
        path: '/*',
        headers: [
          ['etag', '"x"'],
          ['connection', 'close'],
          ['proxy-connection', 'keep-alive'],
          ['x-content-type-options', 'nosniff'],
          ['x-content-type-options', 'nosniff'],
          ['x-bad', 'a\r\nset-cookie: x=1'],
          ['basic-auth', 'u:p'],
          ['X-Upper', 'not lower-cased'],
          ['x-ok', 'yes'],
        ],
        line: 1,
      },
    ];
    assert.deepEqual(createHeaderMatcher(rules)('/a'), [['x-content-type-options', 'nosniff'], ['x-ok', 'yes']]);
  });

  it('keeps a table from an older release within the size limit', () => {
    const rules: HeaderRule[] = Array.from({ length: 10 }, (_, i) => ({ path: '/*', headers: [[`x-h${i}`, 'v'.repeat(4000)]], line: i + 1 }));
    const table = createHeaderMatcher(rules)('/a');
    assert.equal(table.length, 4);
    assert.ok(table.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0) <= MAX_CUSTOM_HEADER_BYTES);
  });
});

describe('createAuthMatcher()', () => {
  it('gives no matcher when no rule has Basic-Auth', () => {
    assert.equal(createAuthMatcher(parseHeaders('/*\n  X-A: 1'), 'site'), undefined);
  });

  it('guards matching paths with the last matching rule that has Basic-Auth', () => {
    const matcher = createAuthMatcher(parseHeaders('/*\n  Basic-Auth: all:one\n/team/*\n  Basic-Auth: team:two\n/team/open\n  X-A: 1'), 'site');
    const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;
    assert.equal(matcher?.('/x')?.check(basic('all:one')), 'ok');
    assert.equal(matcher?.('/team/a')?.check(basic('all:one')), 'denied');
    assert.equal(matcher?.('/team/a')?.check(basic('team:two')), 'ok');
    assert.equal(matcher?.('/team/open')?.check(basic('team:two')), 'ok');
  });

  it('reads a basic-auth header left in a release published by an older version as a gate', () => {
    const matcher = createAuthMatcher([{ path: '/p/*', headers: [['basic-auth', 'u:pw']], line: 1 }], 'site');
    const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;
    assert.equal(matcher?.('/p/a')?.check(basic('u:pw')), 'ok');
    assert.equal(matcher?.('/p/a')?.check(basic('u:no')), 'denied');
    assert.equal(matcher?.('/q'), undefined);
  });
});
