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

/**
 * Counts the work of lookups, so tests can check that it is bounded without
 * timing anything. `tried`: patterns compared against the path; `steps`:
 * segment comparisons made while doing so.
 */
export interface MatchStats {
  tried: number;
  steps: number;
}

import { excerpt } from '../excerpt.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
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

/** Where the segment starting at `at` (a `/`) ends: the next `/` or the end of the path. */
function segmentEnd(path: string, at: number): number {
  const next = path.indexOf('/', at + 1);
  return next === -1 ? path.length : next;
}

/**
 * Matches segment by segment, never with a regular expression built from the
 * pattern: a `_headers` file is written by whoever controls the build, and
 * nested `.+` groups backtrack exponentially. Each segment of the pattern is
 * compared at each `/` of the path at most once, so a lookup costs at most
 * (pattern segments + 1) x (path segments + 1) steps, however many `*` the
 * pattern has.
 *
 * Semantics: a literal is compared exactly; `:name` takes one non-empty
 * segment; `*` in the middle takes one or more segments (the longest that
 * lets the rest match, as a greedy `.+` would); `*` at the end takes the rest
 * of the path, possibly nothing; one trailing `/` is optional.
 */
function createSegmentMatcher(segments: readonly Segment[]): (path: string, stats?: MatchStats) => PathParams | null {
  const count = segments.length;
  const hasMiddleSplat = segments.some((segment, i) => segment.kind === 'splat' && i < count - 1);

  return (path, stats) => {
    // The highest path position already tried after each middle splat: a
    // later try from further left only needs the positions below it, since
    // any that matched would have ended the search.
    const tried: number[] | undefined = hasMiddleSplat ? new Array<number>(count).fill(Infinity) : undefined;
    const captured: Array<[number, number]> = new Array<[number, number]>(count);
    const length = path.length;

    const matchFrom = (k: number, at: number): boolean => {
      if (stats !== undefined) stats.steps += 1;
      if (k === count) return at === length || (at === length - 1 && path.charCodeAt(at) === 47);
      const segment = segments[k] as Segment;
      if (k === count - 1 && segment.kind === 'splat') {
        if (at === length) {
          captured[k] = [at, at];
          return true;
        }
        if (path.charCodeAt(at) !== 47) return false;
        captured[k] = [at + 1, length];
        return true;
      }
      if (at >= length || path.charCodeAt(at) !== 47) return false;
      if (segment.kind === 'literal') {
        const end = at + 1 + segment.text.length;
        if (!path.startsWith(segment.text, at + 1) || (end !== length && path.charCodeAt(end) !== 47)) return false;
        return matchFrom(k + 1, end);
      }
      if (segment.kind === 'param') {
        const end = segmentEnd(path, at);
        if (end === at + 1) return false;
        captured[k] = [at + 1, end];
        return matchFrom(k + 1, end);
      }
      // A middle splat takes one or more segments: the rest of the pattern
      // starts at a later `/` or at the end, tried from the right (greedy).
      const seen = tried as number[];
      let end = (seen[k] as number) > length ? length : path.lastIndexOf('/', (seen[k] as number) - 1);
      while (end >= at + 2) {
        seen[k] = end;
        captured[k] = [at + 1, end];
        if (matchFrom(k + 1, end)) return true;
        end = path.lastIndexOf('/', end - 1);
      }
      return false;
    };

    if (!matchFrom(0, 0)) return null;
    const params = emptyParams();
    segments.forEach((segment, i) => {
      const span = captured[i];
      if (segment.kind === 'literal' || span === undefined) return;
      params[segment.kind === 'param' ? segment.name : 'splat'] = path.slice(span[0], span[1]);
    });
    return params;
  };
}

/**
 * Compiles a pattern into a matcher. Literal patterns become one string
 * comparison, the others a segment matcher. The pattern is trusted to have
 * passed `checkPathPattern`; a pattern not starting with `/` throws.
 */
export function compilePathPattern(pattern: string): PathMatcher {
  const segments = segmentsOf(pattern);
  if (isLiteral(segments)) {
    const expected = literalPath(segments);
    return (path) => (withoutTrailingSlash(path) === expected ? emptyParams() : null);
  }
  const match = createSegmentMatcher(segments);
  return (path) => match(path);
}

export interface PatternHit {
  /** Position of the matching pattern in the list given to the index. */
  index: number;
  params: PathParams;
}

export interface PathPatternIndex {
  /** The hit with the lowest index, or null. */
  first(path: string, stats?: MatchStats): PatternHit | null;
  /** Every hit, in index order. */
  all(path: string, stats?: MatchStats): PatternHit[];
}

interface DynamicEntry {
  index: number;
  match: (path: string, stats?: MatchStats) => PathParams | null;
}

/** The `position`-th segment of a path (0 for the first), or undefined when the path is shorter. */
function segmentAt(path: string, position: number): string | undefined {
  let at = 0;
  for (let i = 0; i < position; i += 1) {
    at = path.indexOf('/', at + 1);
    if (at === -1) return undefined;
  }
  return path.slice(at + 1, segmentEnd(path, at));
}

/**
 * Indexes many patterns so that a lookup tries only the ones that can match.
 * Literal patterns sit in a map keyed by path. A pattern with a literal
 * segment before any `*` sits in a bucket keyed by the first such segment and
 * its position (`/:lang/docs/*` under "docs, second segment"): a path is looked up in one
 * bucket per position used. Only patterns with no literal before their first
 * `*` (a catch-all, `/:a/:b`, or one starting with a splat) are tried for
 * every path. Hits keep the list order, so "first rule wins" and "rules
 * apply in file order" both hold.
 */
export function createPathPatternIndex(patterns: readonly string[]): PathPatternIndex {
  const literals = new Map<string, number[]>();
  const buckets: Array<Map<string, DynamicEntry[]> | undefined> = [];
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
    const entry: DynamicEntry = { index, match: createSegmentMatcher(segments) };
    const splatAt = segments.findIndex((segment) => segment.kind === 'splat');
    const keyAt = segments.findIndex((segment, i) => segment.kind === 'literal' && (splatAt === -1 || i < splatAt));
    const key = segments[keyAt];
    if (key?.kind !== 'literal') {
      anywhere.push(entry);
      return;
    }
    const bucket = buckets[keyAt] ?? new Map<string, DynamicEntry[]>();
    buckets[keyAt] = bucket;
    const list = bucket.get(key.text) ?? [];
    list.push(entry);
    bucket.set(key.text, list);
  });

  /** Candidate patterns for a path, in index order; exact literal hits carry no matcher. */
  function candidates(path: string): Array<DynamicEntry | number> {
    const found: Array<DynamicEntry | number> = [...(literals.get(withoutTrailingSlash(path)) ?? [])];
    buckets.forEach((bucket, position) => {
      if (bucket === undefined) return;
      const segment = segmentAt(path, position);
      const list = segment === undefined ? undefined : bucket.get(segment);
      if (list !== undefined) found.push(...list);
    });
    found.push(...anywhere);
    return found.sort((a, b) => (typeof a === 'number' ? a : a.index) - (typeof b === 'number' ? b : b.index));
  }

  function visit(path: string, stats: MatchStats | undefined, onHit: (hit: PatternHit) => boolean): void {
    for (const candidate of candidates(path)) {
      if (stats !== undefined) stats.tried += 1;
      const hit =
        typeof candidate === 'number'
          ? { index: candidate, params: emptyParams() }
          : (() => {
              const params = candidate.match(path, stats);
              return params === null ? null : { index: candidate.index, params };
            })();
      if (hit !== null && onHit(hit)) return;
    }
  }

  return {
    first(path, stats) {
      let found: PatternHit | null = null;
      visit(path, stats, (hit) => {
        found = hit;
        return true;
      });
      return found;
    },
    all(path, stats) {
      const hits: PatternHit[] = [];
      visit(path, stats, (hit) => {
        hits.push(hit);
        return false;
      });
      return hits;
    },
  };
}

/**
 * Limits on one pattern, checked at publish. The matcher is linear whatever
 * the pattern; these keep a rule file readable and its cost per request small.
 */
export const PATTERN_LIMITS = Object.freeze({
  /** Segments between slashes, `*` and `:name` included. */
  maxSegments: 32,
  /** `:name` placeholders and `*` splats together. */
  maxPlaceholders: 16,
});

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

  if (pieces.length > PATTERN_LIMITS.maxSegments) {
    return fail(`has ${pieces.length} segments; the limit is ${PATTERN_LIMITS.maxSegments}`);
  }
  const wild = pieces.filter((piece) => piece === '*' || piece.startsWith(':')).length;
  if (wild > PATTERN_LIMITS.maxPlaceholders) {
    return fail(`has ${wild} placeholders and splats; the limit is ${PATTERN_LIMITS.maxPlaceholders}`);
  }

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
    if (piece.includes('*')) return fail(`${excerpt(piece)} mixes * with other characters; * must be a whole segment, as in /assets/*`);
    if (piece.startsWith(':')) {
      const name = piece.slice(1);
      if (!NAME.test(name)) return fail(`placeholder ${excerpt(piece)} is not a valid name; use letters, digits and _ after the colon, as in :slug`);
      if (name === 'splat') return fail('":splat" is reserved for the value of *; use * to capture the rest of the path');
      if (names.includes(name)) return fail(`placeholder ${excerpt(`:${name}`)} appears twice; give each placeholder its own name`);
      names.push(name);
      decoded.push(piece);
      continue;
    }
    let text: string;
    try {
      text = decodeURIComponent(piece);
    } catch {
      return fail(`segment ${excerpt(piece)} has an invalid percent escape; write % as %25`);
    }
    if (text === '.' || text === '..') return fail(`${excerpt(piece)} segments are not allowed`);
    if (FORBIDDEN_IN_SEGMENT.test(text)) {
      return fail(`segment ${excerpt(piece)} encodes /, \\ or a control character, which cannot appear in a path segment`);
    }
    if (text !== piece && (text.includes('*') || text.startsWith(':'))) {
      return fail(`segment ${excerpt(piece)} decodes to ${excerpt(text)}, which would read as a placeholder or splat`);
    }
    decoded.push(text);
  }

  const pattern = '/' + decoded.join('/') + (trailingSlash ? '/' : '');
  return { ok: true, pattern, names, splat };
}
