import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseHeaders } from '../../src/releases/headers-file.ts';
import { createHeaderMatcher } from '../../src/static/header-matcher.ts';

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
      name: 'keeps a header repeated in one block and across blocks',
      path: '/feed.xml',
      headers: [
        ['x-frame-options', 'DENY'],
        ['content-type', 'application/rss+xml'],
        ['link', '</a.css>; rel=preload'],
        ['link', '</b.css>; rel=preload'],
        ['link', '</c.css>; rel=preload'],
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
