import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RedirectRule } from '../../src/releases/manifest.ts';
import { parseRedirects } from '../../src/releases/redirects-file.ts';
import { createRedirectMatcher, createRedirectMatchers } from '../../src/static/redirect-matcher.ts';

function rules(text: string): RedirectRule[] {
  return parseRedirects(text);
}

describe('createRedirectMatcher()', () => {
  const cases: Array<{ name: string; file: string; path: string; query?: string; location: string | null }> = [
    { name: 'returns null when no rule matches', file: '/a /b', path: '/c', location: null },
    { name: 'answers a literal rule with its target', file: '/a /b', path: '/a', location: '/b' },
    { name: 'matches with or without a trailing slash', file: '/a /b', path: '/a/', location: '/b' },
    { name: 'fills in placeholders', file: '/blog/:year/:slug /posts/:year/:slug', path: '/blog/2024/hello', location: '/posts/2024/hello' },
    { name: 'fills in several placeholders inside one segment', file: '/p/:y/:m /archive/:y-:m.html', path: '/p/2024/05', location: '/archive/2024-05.html' },
    { name: 'fills in the splat', file: '/docs/v1/* /docs/v2/:splat', path: '/docs/v1/guide/intro', location: '/docs/v2/guide/intro' },
    { name: 'fills an empty splat for the bare directory', file: '/docs/v1/* /docs/v2/:splat', path: '/docs/v1', location: '/docs/v2/' },
    { name: 'fills placeholders into an absolute URL', file: '/gh/:repo https://github.example/berth/:repo', path: '/gh/cli', location: 'https://github.example/berth/cli' },
    { name: 'appends the request query when to has none', file: '/a /b', path: '/a', query: '?utm=x&y=1', location: '/b?utm=x&y=1' },
    { name: 'appends nothing for an empty query', file: '/a /b', path: '/a', query: '', location: '/b' },
    { name: 'appends nothing for a bare question mark', file: '/a /b', path: '/a', query: '?', location: '/b' },
    { name: 'adds the question mark when the caller left it out', file: '/a /b', path: '/a', query: 'x=1', location: '/b?x=1' },
    { name: 'appends the request query to an absolute URL', file: '/chat https://chat.example/room', path: '/chat', query: '?k=1', location: 'https://chat.example/room?k=1' },
    { name: 'keeps the query of to and drops the request query', file: '/s/:q /search?q=:q', path: '/s/boats', query: '?page=2', location: '/search?q=boats' },
    { name: 'puts the request query before the fragment of to', file: '/faq /help#faq', path: '/faq', query: '?x=1', location: '/help?x=1#faq' },
    { name: 'percent-encodes spaces and non-ASCII in filled values', file: '/t/:name /tags/:name', path: '/t/café au lait', location: '/tags/caf%C3%A9%20au%20lait' },
    { name: 'percent-encodes ? and # so a value cannot start a query or fragment', file: '/t/:name /tags/:name', path: '/t/a?b#c', location: '/tags/a%3Fb%23c' },
    { name: 'percent-encodes % so a value is not decoded twice', file: '/t/:name /tags/:name', path: '/t/100%', location: '/tags/100%25' },
    { name: 'encodes a value in the query of to as a component', file: '/s/* /search?q=:splat', path: '/s/a b/c&d', location: '/search?q=a%20b%2Fc%26d' },
    { name: 'percent-encodes non-ASCII and spaces in the request query', file: '/a /b', path: '/a', query: '?q=é x', location: '/b?q=%C3%A9%20x' },
    { name: 'encodes CR and LF in the request query so they cannot split headers', file: '/a /b', path: '/a', query: '?q=\r\nSet-Cookie:x', location: '/b?q=%0D%0ASet-Cookie:x' },
  ];
  for (const { name, file, path, query = '', location } of cases) {
    it(name, () => {
      const match = createRedirectMatcher(rules(file))(path, query);
      assert.equal(match === null ? null : match.location, location);
    });
  }

  it('returns the rule that matched, with its status and line', () => {
    const match = createRedirectMatcher(rules('# moved\n/old /new 308'))('/old', '');
    assert.deepEqual(match, { rule: { from: '/old', to: '/new', status: 308, force: false, line: 2 }, location: '/new' });
  });

  it('lets the first of two duplicate rules win', () => {
    const match = createRedirectMatcher(rules('/a /first 302\n/a /second 301'))('/a', '');
    assert.equal(match?.location, '/first');
    assert.equal(match?.rule.status, 302);
  });

  it('lets an earlier splat rule win over a later literal one', () => {
    const match = createRedirectMatcher(rules('/blog/* /new-blog/:splat\n/blog/special /special'))('/blog/special', '');
    assert.equal(match?.location, '/new-blog/special');
  });

  it('lets an earlier literal rule win over a later catch-all', () => {
    const matcher = createRedirectMatcher(rules('/about /team 302\n/* /index.html 200'));
    assert.equal(matcher('/about', '')?.location, '/team');
    assert.equal(matcher('/elsewhere', '')?.location, '/index.html');
  });

  it('returns null for every path when there are no rules', () => {
    assert.equal(createRedirectMatcher([])('/', ''), null);
  });

  it('is not affected by later changes to the rules array', () => {
    const list = rules('/a /b');
    const matcher = createRedirectMatcher(list);
    list.length = 0;
    assert.equal(matcher('/a', '')?.location, '/b');
  });
});

describe('createRedirectMatcher() keeps visitors on the site', () => {
  const cases: Array<{ name: string; file: string; path: string; location: string }> = [
    { name: 'collapses // injected through a splat at the start of to', file: '/go/* /:splat', path: '/go//evil.example/x', location: '/evil.example/x' },
    { name: 'collapses many slashes injected through a splat', file: '/go/* /:splat', path: '/go////evil.example', location: '/evil.example' },
    { name: 'encodes a backslash injected through a placeholder', file: '/go/:p /:p', path: '/go/\\evil.example', location: '/%5Cevil.example' },
    { name: 'collapses // from a catch-all rule', file: '/* /:splat 302', path: '//evil.example', location: '/evil.example' },
    { name: 'keeps the host of an absolute to whatever the splat holds', file: '/x/* https://docs.example/:splat', path: '/x//evil.example', location: 'https://docs.example//evil.example' },
    { name: 'encodes a value that looks like a scheme so it stays a path', file: '/r/* /:splat', path: '/r/https://evil.example', location: '/https://evil.example' },
  ];
  for (const { name, file, path, location } of cases) {
    it(name, () => {
      assert.equal(createRedirectMatcher(rules(file))(path, '')?.location, location);
    });
  }

  it('never produces a location that starts with // or /\\ for a relative to', () => {
    const matchers = ['/a/* /:splat', '/a/:x /:x/y', '/* /:splat', '/* /:splat/'].map((file) => createRedirectMatcher(rules(file)));
    const hostile = ['/a//x', '/a/\\x', '/a///\\x', '//x', '/\\x', '/a/\t/x', '/a/\n/x', '/ /x'];
    for (const matcher of matchers) {
      for (const path of hostile) {
        const location = matcher(path, '')?.location;
        if (location === undefined) continue;
        assert.doesNotMatch(location, /^\/[/\\]/, `${path} gave ${location}`);
      }
    }
  });
});

describe('createRedirectMatchers()', () => {
  const file = ['/old /new', '/app/* /app/index.html 200', '/private/* /404.html 404!', '/moved /elsewhere 301!'].join('\n');

  it('puts only forced rules in the forced matcher', () => {
    const { forced } = createRedirectMatchers(rules(file));
    assert.equal(forced('/old', ''), null);
    assert.equal(forced('/app/x', ''), null);
    assert.equal(forced('/private/key', '')?.rule.status, 404);
    assert.equal(forced('/moved', '?a=1')?.location, '/elsewhere?a=1');
  });

  it('puts every rule, in file order, in the fallback matcher', () => {
    const { fallback } = createRedirectMatchers(rules(file));
    assert.equal(fallback('/old', '')?.location, '/new');
    assert.equal(fallback('/app/x', '')?.location, '/app/index.html');
    assert.equal(fallback('/private/key', '')?.location, '/404.html');
    assert.equal(fallback('/moved', '')?.location, '/elsewhere');
  });

  it('gives matchers that answer null when there are no rules', () => {
    const { forced, fallback } = createRedirectMatchers([]);
    assert.equal(forced('/a', ''), null);
    assert.equal(fallback('/a', ''), null);
  });
});
