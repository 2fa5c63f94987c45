import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPathPattern, compilePathPattern, createPathPatternIndex, PATTERN_LIMITS, type MatchStats } from '../../src/static/path-pattern.ts';

describe('compilePathPattern()', () => {
  const cases: Array<{ name: string; pattern: string; path: string; params: Record<string, string> | null }> = [
    { name: 'matches a literal path exactly', pattern: '/about', path: '/about', params: {} },
    { name: 'does not match a longer path with a literal pattern', pattern: '/about', path: '/about/team', params: null },
    { name: 'does not match a path that only shares a prefix', pattern: '/about', path: '/aboutus', params: null },
    { name: 'compares case-sensitively', pattern: '/About', path: '/about', params: null },
    { name: 'matches the root only with the root', pattern: '/', path: '/', params: {} },
    { name: 'does not match other paths with the root', pattern: '/', path: '/a', params: null },
    { name: 'lets a path with a trailing slash match a pattern without', pattern: '/blog', path: '/blog/', params: {} },
    { name: 'lets a path without a trailing slash match a pattern with', pattern: '/blog/', path: '/blog', params: {} },
    { name: 'treats the trailing slash leniently for placeholder patterns', pattern: '/u/:id/', path: '/u/7', params: { id: '7' } },
    { name: 'captures a placeholder segment', pattern: '/users/:id', path: '/users/42', params: { id: '42' } },
    { name: 'captures several placeholders', pattern: '/:lang/docs/:page', path: '/fr/docs/intro', params: { lang: 'fr', page: 'intro' } },
    { name: 'does not let a placeholder span segments', pattern: '/users/:id', path: '/users/4/2', params: null },
    { name: 'does not let a placeholder match an empty segment', pattern: '/users/:id/edit', path: '/users//edit', params: null },
    { name: 'captures the rest of the path with a trailing splat', pattern: '/docs/*', path: '/docs/a/b.html', params: { splat: 'a/b.html' } },
    { name: 'matches the bare directory with a trailing splat', pattern: '/docs/*', path: '/docs', params: { splat: '' } },
    { name: 'matches the directory with a slash with a trailing splat', pattern: '/docs/*', path: '/docs/', params: { splat: '' } },
    { name: 'keeps a trailing slash inside the splat', pattern: '/docs/*', path: '/docs/a/', params: { splat: 'a/' } },
    { name: 'does not match a sibling that shares a prefix with a splat', pattern: '/docs/*', path: '/docsx/a', params: null },
    { name: 'matches every path with /*', pattern: '/*', path: '/any/thing', params: { splat: 'any/thing' } },
    { name: 'matches the root with /*', pattern: '/*', path: '/', params: { splat: '' } },
    { name: 'lets a middle splat span several segments', pattern: '/a/*/z', path: '/a/b/c/z', params: { splat: 'b/c' } },
    { name: 'requires at least one segment for a middle splat', pattern: '/a/*/z', path: '/a/z', params: null },
    { name: 'combines placeholders and a splat', pattern: '/:lang/*', path: '/de/x/y', params: { lang: 'de', splat: 'x/y' } },
    { name: 'treats a dot in a literal as a dot, not any character', pattern: '/a.b/:x', path: '/axb/1', params: null },
    { name: 'matches a dot in a literal', pattern: '/a.b/:x', path: '/a.b/1', params: { x: '1' } },
    { name: 'escapes regular expression syntax in literals', pattern: '/(x)+[y]{2}|$^/:p', path: '/(x)+[y]{2}|$^/1', params: { p: '1' } },
    { name: 'does not read regular expression syntax in literals', pattern: '/a+/:p', path: '/aaa/1', params: null },
    { name: 'matches non-ASCII literals as decoded text', pattern: '/café/:p', path: '/café/menu', params: { p: 'menu' } },
    { name: 'treats a colon inside a segment as literal', pattern: '/a:b', path: '/a:b', params: {} },
  ];
  for (const { name, pattern, path, params } of cases) {
    it(name, () => {
      const found = compilePathPattern(pattern)(path);
      assert.deepEqual(found === null ? null : { ...found }, params);
    });
  }

  it('returns params without a prototype, so a placeholder named __proto__ is just a key', () => {
    const params = compilePathPattern('/:__proto__')('/x');
    assert.ok(params !== null);
    assert.equal(Object.getPrototypeOf(params), null);
    assert.equal(params['__proto__'], 'x');
  });

  it('refuses a pattern that does not start with /', () => {
    assert.throws(() => compilePathPattern('about'), TypeError);
  });
});

describe('createPathPatternIndex()', () => {
  it('returns the first matching pattern in list order, whatever its kind', () => {
    const index = createPathPatternIndex(['/x/*', '/x/a', '/:any/a', '/x/a']);
    assert.equal(index.first('/x/a')?.index, 0);
    assert.deepEqual(index.all('/x/a').map((hit) => hit.index), [0, 1, 2, 3]);
  });

  it('puts an earlier placeholder pattern before a later literal one', () => {
    const index = createPathPatternIndex(['/b', '/:page', '/a']);
    assert.equal(index.first('/a')?.index, 1);
    assert.equal(index.first('/b')?.index, 0);
  });

  it('returns null and an empty list when nothing matches', () => {
    const index = createPathPatternIndex(['/a', '/b/*']);
    assert.equal(index.first('/c'), null);
    assert.deepEqual(index.all('/c'), []);
  });

  it('finds the right rule among ten thousand', () => {
    const patterns = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? `/p${i}` : `/d${i}/:x`));
    const index = createPathPatternIndex(patterns);
    assert.equal(index.first('/p9998')?.index, 9998);
    assert.deepEqual({ ...index.first('/d9999/y')?.params }, { x: 'y' });
    assert.equal(index.first('/d9999'), null);
  });
});

/**
 * The meaning of a pattern, written as the regular expression it stands for.
 * Only used here, on short patterns and paths, to check the segment matcher
 * means the same thing.
 */
function referenceMatch(pattern: string, path: string): Record<string, string> | null {
  const pieces = pattern.split('/').slice(1);
  if (pieces.at(-1) === '') pieces.pop();
  let source = '^';
  const names: string[] = [];
  pieces.forEach((piece, i) => {
    if (piece === '*') {
      source += i === pieces.length - 1 ? '(?:/(.*))?' : '/(.+)';
      names.push('splat');
    } else if (piece.startsWith(':')) {
      source += '/([^/]+)';
      names.push(piece.slice(1));
    } else {
      source += '/' + piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  });
  const found = new RegExp(source + '/?$').exec(path);
  if (found === null) return null;
  return Object.fromEntries(names.map((name, i) => [name, found[i + 1] ?? '']));
}

describe('compilePathPattern() in linear time', () => {
  it('means what the equivalent regular expression means, on every short pattern and path', () => {
    const pieces = ['a', 'b', ':p', ':q', '*'];
    const patterns = new Set<string>(['/']);
    const grow = (prefix: string, depth: number, used: string[]): void => {
      if (depth === 0) return;
      for (const piece of pieces) {
        if (used.includes(piece) && piece.startsWith(':')) continue;
        const pattern = `${prefix}/${piece}`;
        patterns.add(pattern);
        grow(pattern, depth - 1, [...used, piece]);
      }
    };
    grow('', 3, []);
    const paths = ['/', '/a', '/a/', '/b', '/a/b', '/a/b/', '/a//b', '//a', '/a/a/a', '/b/a/b/a', '/a/b/c/d/', '/x/a/b', '/ab'];
    let compared = 0;
    for (const pattern of patterns) {
      const match = compilePathPattern(pattern);
      for (const path of paths) {
        const found = match(path);
        assert.deepEqual(found === null ? null : { ...found }, referenceMatch(pattern, path), `${pattern} against ${path}`);
        compared += 1;
      }
    }
    assert.ok(compared > 1000);
  });

  it('answers a pattern of twenty splats against a long path that does not match, in bounded steps', () => {
    const pattern = '/' + Array.from({ length: 20 }, () => '*').join('/') + '/x';
    const path = '/' + Array.from({ length: 2000 }, () => 'a').join('/') + '/y';
    const stats: MatchStats = { tried: 0, steps: 0 };
    const index = createPathPatternIndex([pattern]);
    assert.equal(index.first(path, stats), null);
    assert.equal(stats.tried, 1);
    // At most one step per pattern segment per position in the path, plus the first.
    assert.ok(stats.steps <= 22 * 2002, `took ${stats.steps} steps`);
    assert.ok(stats.steps > 2000, `took ${stats.steps} steps, so the count is real`);
  });

  it('finds the match of many splats against a long path that does match', () => {
    const pattern = '/' + Array.from({ length: 20 }, () => '*').join('/') + '/x';
    const path = '/' + Array.from({ length: 2000 }, () => 'a').join('/') + '/x';
    const stats: MatchStats = { tried: 0, steps: 0 };
    assert.equal(createPathPatternIndex([pattern]).first(path, stats)?.index, 0);
    assert.ok(stats.steps <= 22 * 2002, `took ${stats.steps} steps`);
  });

  it('alternates splats and literals without backtracking without bound', () => {
    const pattern = '/' + Array.from({ length: 15 }, () => '*/a').join('/');
    const path = '/' + Array.from({ length: 3000 }, () => 'a').join('/') + '/b';
    const stats: MatchStats = { tried: 0, steps: 0 };
    assert.equal(createPathPatternIndex([pattern]).first(path, stats), null);
    assert.ok(stats.steps <= 31 * 3002, `took ${stats.steps} steps`);
  });
});

describe('createPathPatternIndex() tries only candidates', () => {
  it('tries none of ten thousand literal-first rules for a path they cannot match', () => {
    const patterns = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? `/old-${i}` : `/blog-${i}/:slug`));
    const stats: MatchStats = { tried: 0, steps: 0 };
    assert.equal(createPathPatternIndex(patterns).first('/nothing/here', stats), null);
    assert.equal(stats.tried, 0);
  });

  it('tries only the rules keyed by a literal after leading placeholders', () => {
    const patterns = Array.from({ length: 10_000 }, (_, i) => `/:lang/page-${i}/*`);
    const index = createPathPatternIndex(patterns);
    const stats: MatchStats = { tried: 0, steps: 0 };
    assert.equal(index.first('/en/page-7/x', stats)?.index, 7);
    assert.equal(stats.tried, 1);
    const missing: MatchStats = { tried: 0, steps: 0 };
    assert.equal(index.first('/en/other/x', missing), null);
    assert.equal(missing.tried, 0);
  });

  it('tries every rule that starts with a wildcard and nothing else', () => {
    const patterns = [...Array.from({ length: 5000 }, (_, i) => `/p${i}`), '/:a/:b', '/*'];
    const stats: MatchStats = { tried: 0, steps: 0 };
    assert.equal(createPathPatternIndex(patterns).first('/x/y/z', stats)?.index, 5001);
    assert.equal(stats.tried, 2);
  });
});

describe('checkPathPattern()', () => {
  const accepted: Array<{ name: string; raw: string; splat: 'last' | 'anywhere'; pattern: string; names: string[]; hasSplat: boolean }> = [
    { name: 'accepts a literal path', raw: '/a/b', splat: 'last', pattern: '/a/b', names: [], hasSplat: false },
    { name: 'accepts the root', raw: '/', splat: 'last', pattern: '/', names: [], hasSplat: false },
    { name: 'keeps a trailing slash', raw: '/a/', splat: 'last', pattern: '/a/', names: [], hasSplat: false },
    { name: 'lists placeholder names in order', raw: '/:a/x/:b', splat: 'last', pattern: '/:a/x/:b', names: ['a', 'b'], hasSplat: false },
    { name: 'accepts a trailing splat', raw: '/a/*', splat: 'last', pattern: '/a/*', names: [], hasSplat: true },
    { name: 'accepts a middle splat where allowed', raw: '/*/a', splat: 'anywhere', pattern: '/*/a', names: [], hasSplat: true },
    { name: 'decodes percent escapes in literals', raw: '/caf%C3%A9', splat: 'last', pattern: '/café', names: [], hasSplat: false },
  ];
  for (const { name, raw, splat, pattern, names, hasSplat } of accepted) {
    it(name, () => {
      assert.deepEqual(checkPathPattern(raw, { splat }), { ok: true, pattern, names, splat: hasSplat });
    });
  }

  const refused: Array<{ name: string; raw: string; problem: RegExp }> = [
    { name: 'refuses a relative path', raw: 'a/b', problem: /must start with \// },
    { name: 'refuses a backslash', raw: '/a\\b', problem: /backslash/ },
    { name: 'refuses a query string', raw: '/a?id=1', problem: /query parameter matching is not supported/ },
    { name: 'refuses a fragment', raw: '/a#top', problem: /fragment/ },
    { name: 'refuses whitespace', raw: '/a b', problem: /whitespace/ },
    { name: 'refuses an empty segment', raw: '/a//b', problem: /empty segment/ },
    { name: 'refuses a leading double slash', raw: '//evil.example', problem: /empty segment/ },
    { name: 'refuses a .. segment', raw: '/a/../b', problem: /"\.\." segments are not allowed/ },
    { name: 'refuses a . segment', raw: '/a/./b', problem: /"\." segments are not allowed/ },
    { name: 'refuses an encoded .. segment', raw: '/a/%2e%2E/b', problem: /segments are not allowed/ },
    { name: 'refuses an encoded slash', raw: '/a%2Fb', problem: /encodes \// },
    { name: 'refuses an encoded NUL', raw: '/a%00b', problem: /control character/ },
    { name: 'refuses a malformed escape', raw: '/a%zz', problem: /invalid percent escape/ },
    { name: 'refuses an escape that would read as a splat', raw: '/a/%2A', problem: /would read as a placeholder or splat/ },
    { name: 'refuses a splat that is not the last segment', raw: '/a/*/b', problem: /only allowed as the last segment/ },
    { name: 'refuses a splat mixed into a segment', raw: '/*.js', problem: /must be a whole segment/ },
    { name: 'refuses an invalid placeholder name', raw: '/:1st', problem: /not a valid name/ },
    { name: 'refuses a bare colon', raw: '/:', problem: /not a valid name/ },
    { name: 'refuses :splat as a placeholder', raw: '/:splat', problem: /reserved/ },
    { name: 'refuses a placeholder named twice', raw: '/:id/:id', problem: /appears twice/ },
    { name: 'refuses more segments than the limit', raw: '/a'.repeat(PATTERN_LIMITS.maxSegments + 1), problem: /segments; the limit is 32/ },
    {
      name: 'refuses more placeholders than the limit',
      raw: Array.from({ length: PATTERN_LIMITS.maxPlaceholders + 1 }, (_, i) => `/:p${i}`).join(''),
      problem: /placeholders and splats; the limit is 16/,
    },
  ];
  for (const { name, raw, problem } of refused) {
    it(name, () => {
      const result = checkPathPattern(raw, { splat: 'last' });
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.problem, problem);
    });
  }
});
