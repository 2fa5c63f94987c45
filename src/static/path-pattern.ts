/**
 * Path patterns, as written in `_redirects` (`from`) and `_headers` (path
 * lines). A pattern is a list of `/`-separated segments, each one of:
 *
 * - a literal, compared exactly and case-sensitively;
 * - `:name`, which captures one whole non-empty segment;
 * - `*`, the splat, captured as `splat`. As the last segment it matches the
 *   rest of the path, including nothing at all (`/blog/*` matches `/blog`);
 *   elsewhere it matches one or more whole segments.
 *
 * A trailing slash is optional on both sides: `/blog/` and `/blog` match each
 * other. Patterns and paths are compared in decoded form: the responder
 * passes the percent-decoded request path (the same form the manifest keys
 * use) and `checkPathPattern` decodes the literal segments of a pattern once,
 * at publish time.
 */

/** Captured values by placeholder name; `splat` for `*`. Null-prototype. */
export type PathParams = Record<string, string>;

export type PathMatcher = (path: string) => PathParams | null;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REGEXP_SYNTAX = /[\\^$.*+?()[\]{}|/]/g;
// Characters that must never appear in a path segment, even encoded.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const FORBIDDEN_IN_SEGMENT = /[/\\\u0000-\u001f\u007f-\u009f]/;

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string }
  | { kind: 'splat' };

function segmentsOf(pattern: string): Segment[] {
  if (!pattern.startsWith('/')) {
    throw new TypeError(`path pattern "${pattern}" must start with /`);
  }
  const pieces = pattern.split('/').slice(1);
  if (pieces.at(-1) === '') pieces.pop();
  return pieces.map((piece): Segment => {
    if (piece === '*') return { kind: 'splat' };
    if (piece.startsWith(':') && NAME.test(piece.slice(1))) return { kind: 'param', name: piece.slice(1) };
    return { kind: 'literal', text: piece };
  });
}

/** Drops one trailing slash, so `/blog/` and `/blog` compare equal; `/` stays. */
function withoutTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function emptyParams(): PathParams {
  return Object.create(null) as PathParams;
}

function isLiteral(segments: readonly Segment[]): boolean {
  return segments.every((segment) => segment.kind === 'literal');
}

function literalPath(segments: readonly Segment[]): string {
  return '/' + segments.map((segment) => (segment.kind === 'literal' ? segment.text : '')).join('/');
}

/**
 * Compiles a pattern into a matcher. Literal patterns become one string
 * comparison; the others one anchored RegExp. The pattern is trusted to have
 * passed `checkPathPattern`; a pattern not starting with `/` throws.
 */
export function compilePathPattern(pattern: string): PathMatcher {
  const segments = segmentsOf(pattern);
  if (isLiteral(segments)) {
    const expected = literalPath(segments);
    return (path) => (withoutTrailingSlash(path) === expected ? emptyParams() : null);
  }

  let source = '^';
  const names: string[] = [];
  segments.forEach((segment, i) => {
    if (segment.kind === 'literal') {
      source += '/' + segment.text.replace(REGEXP_SYNTAX, '\\$&');
    } else if (segment.kind === 'param') {
      source += '/([^/]+)';
      names.push(segment.name);
    } else {
      source += i === segments.length - 1 ? '(?:/(.*))?' : '/(.+)';
      names.push('splat');
    }
  });
  const regexp = new RegExp(source + '/?$');

  return (path) => {
    const found = regexp.exec(path);
    if (found === null) return null;
    const params = emptyParams();
    names.forEach((name, i) => {
      params[name] = found[i + 1] ?? '';
    });
    return params;
  };
}

export interface PatternHit {
  /** Position of the matching pattern in the list given to the index. */
  index: number;
  params: PathParams;
}

export interface PathPatternIndex {
  /** The hit with the lowest index, or null. */
  first(path: string): PatternHit | null;
  /** Every hit, in index order. */
  all(path: string): PatternHit[];
}

interface DynamicEntry {
  index: number;
  match: PathMatcher;
}

const NO_INDICES: readonly number[] = [];
const NO_ENTRIES: readonly DynamicEntry[] = [];

function firstSegmentOf(path: string): string {
  const end = path.indexOf('/', 1);
  return end === -1 ? path.slice(1) : path.slice(1, end);
}

/**
 * Indexes many patterns so that a lookup does not try each one in turn.
 * Literal patterns sit in a map keyed by path; patterns whose first segment
 * is literal sit in a bucket keyed by that segment; only patterns starting
 * with `:name` or `*` are tried for every path. Hits keep the list order, so
 * "first rule wins" and "rules apply in file order" both hold.
 */
export function createPathPatternIndex(patterns: readonly string[]): PathPatternIndex {
  const literals = new Map<string, number[]>();
  const buckets = new Map<string, DynamicEntry[]>();
  const anywhere: DynamicEntry[] = [];

  patterns.forEach((pattern, index) => {
    const segments = segmentsOf(pattern);
    if (isLiteral(segments)) {
      const key = literalPath(segments);
      const list = literals.get(key) ?? [];
      list.push(index);
      literals.set(key, list);
      return;
    }
    const entry = { index, match: compilePathPattern(pattern) };
    const head = segments[0];
    if (head?.kind === 'literal') {
      const list = buckets.get(head.text) ?? [];
      list.push(entry);
      buckets.set(head.text, list);
    } else {
      anywhere.push(entry);
    }
  });

  // Walks the three candidate lists (each already in index order) as one
  // merged list; stops early when onHit returns true.
  function visit(path: string, onHit: (hit: PatternHit) => boolean): void {
    const exact = literals.get(withoutTrailingSlash(path)) ?? NO_INDICES;
    const bucket = buckets.get(firstSegmentOf(path)) ?? NO_ENTRIES;
    let i = 0;
    let j = 0;
    let k = 0;
    for (;;) {
      const a = exact[i] ?? Infinity;
      const b = bucket[j];
      const c = anywhere[k];
      const next = Math.min(a, b?.index ?? Infinity, c?.index ?? Infinity);
      if (next === Infinity) return;
      let params: PathParams | null;
      if (next === a) {
        i += 1;
        params = emptyParams();
      } else if (b !== undefined && next === b.index) {
        j += 1;
        params = b.match(path);
      } else {
        k += 1;
        params = c === undefined ? null : c.match(path);
      }
      if (params !== null && onHit({ index: next, params })) return;
    }
  }

  return {
    first(path) {
      let found: PatternHit | null = null;
      visit(path, (hit) => {
        found = hit;
        return true;
      });
      return found;
    },
    all(path) {
      const hits: PatternHit[] = [];
      visit(path, (hit) => {
        hits.push(hit);
        return false;
      });
      return hits;
    },
  };
}

export interface CheckPatternOptions {
  /** `last`: `*` only as the final segment (`_redirects`); `anywhere`: any whole segment (`_headers`). */
  splat: 'last' | 'anywhere';
}

export type PatternCheck =
  | {
      ok: true;
      /** The pattern with its literal segments percent-decoded. */
      pattern: string;
      /** Placeholder names, in order, without the colon. */
      names: string[];
      splat: boolean;
    }
  | { ok: false; problem: string };

/**
 * Validates a pattern as written by a user and returns its decoded form, or
 * a problem phrased to follow the pattern in a message, e.g.
 * `from "/a//b": empty segment (//) is not allowed`.
 */
export function checkPathPattern(raw: string, options: CheckPatternOptions): PatternCheck {
  const fail = (problem: string): PatternCheck => ({ ok: false, problem });
  if (!raw.startsWith('/')) return fail('must start with /');
  if (raw.includes('\\')) return fail('contains a backslash; separate segments with /');
  if (raw.includes('?')) return fail('contains a query string; query parameter matching is not supported, rules match the path only');
  if (raw.includes('#')) return fail('contains "#"; browsers never send the fragment, so it cannot be matched');
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\s\u0000-\u001f\u007f-\u009f]/.test(raw)) return fail('contains whitespace or a control character');

  const pieces = raw.split('/').slice(1);
  const trailingSlash = pieces.length > 1 && pieces.at(-1) === '';
  if (trailingSlash || raw === '/') pieces.pop();

  const names: string[] = [];
  const decoded: string[] = [];
  let splat = false;
  for (const [i, piece] of pieces.entries()) {
    if (piece === '') return fail('empty segment (//) is not allowed');
    if (piece === '*') {
      if (options.splat === 'last' && i !== pieces.length - 1) {
        return fail('* is only allowed as the last segment, as in /blog/*');
      }
      splat = true;
      decoded.push(piece);
      continue;
    }
    if (piece.includes('*')) return fail(`"${piece}" mixes * with other characters; * must be a whole segment, as in /assets/*`);
    if (piece.startsWith(':')) {
      const name = piece.slice(1);
      if (!NAME.test(name)) return fail(`placeholder "${piece}" is not a valid name; use letters, digits and _ after the colon, as in :slug`);
      if (name === 'splat') return fail('":splat" is reserved for the value of *; use * to capture the rest of the path');
      if (names.includes(name)) return fail(`placeholder ":${name}" appears twice; give each placeholder its own name`);
      names.push(name);
      decoded.push(piece);
      continue;
    }
    let text: string;
    try {
      text = decodeURIComponent(piece);
    } catch {
      return fail(`segment "${piece}" has an invalid percent escape; write % as %25`);
    }
    if (text === '.' || text === '..') return fail(`"${piece}" segments are not allowed`);
    if (FORBIDDEN_IN_SEGMENT.test(text)) {
      return fail(`segment "${piece}" encodes /, \\ or a control character, which cannot appear in a path segment`);
    }
    if (text !== piece && (text.includes('*') || text.startsWith(':'))) {
      return fail(`segment "${piece}" decodes to "${text}", which would read as a placeholder or splat`);
    }
    decoded.push(text);
  }

  const pattern = '/' + decoded.join('/') + (trailingSlash ? '/' : '');
  return { ok: true, pattern, names, splat };
}
