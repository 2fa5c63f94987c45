/**
 * Request-time matching of `_redirects` rules. Rules are indexed once per
 * release; a lookup tries only the rules that can match the path's first
 * segment, in file order, and the first match wins.
 */

import type { RedirectRule } from '../releases/manifest.ts';
import { createPathPatternIndex, type PathParams } from './path-pattern.ts';

export interface RedirectMatch {
  rule: RedirectRule;
  /**
   * `to` with placeholders filled in, as a URL: substituted values are
   * percent-encoded, and the request's query is appended when `to` has none.
   * For a rewrite (200, 404, 410) decode its path before looking it up.
   */
  location: string;
}

/** `path` is the decoded request path; `query` is `?…` as sent, or `''`. */
export type RedirectMatcher = (path: string, query: string) => RedirectMatch | null;

export interface RedirectMatchers {
  /** Rules marked `!`: try before looking for a file. */
  forced: RedirectMatcher;
  /** Every rule, in file order: try when no file exists at the path. */
  fallback: RedirectMatcher;
}

type Piece = string | { name: string };
type Render = (params: PathParams, query: string) => string;

const PLACEHOLDER = /:([A-Za-z_][A-Za-z0-9_]*)/g;
// Path characters that may stay as they are (RFC 3986 pchar plus `/`).
const PATH_UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/gu;
// Anything outside visible ASCII, and `#`, which would end the query.
const QUERY_UNSAFE = /[^\u0021-\u007e]|#/gu;

function encodePathValue(value: string): string {
  return value.toWellFormed().replace(PATH_UNSAFE, (character) => encodeURIComponent(character));
}

function encodeComponentValue(value: string): string {
  return encodeURIComponent(value.toWellFormed());
}

function cleanQuery(query: string): string {
  if (query === '' || query === '?') return '';
  const withMark = query.startsWith('?') ? query : `?${query}`;
  return withMark.toWellFormed().replace(QUERY_UNSAFE, (character) => encodeURIComponent(character));
}

function piecesOf(template: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  for (const found of template.matchAll(PLACEHOLDER)) {
    const name = found[1];
    if (name === undefined) continue;
    if (found.index > last) pieces.push(template.slice(last, found.index));
    pieces.push({ name });
    last = found.index + found[0].length;
  }
  if (last < template.length) pieces.push(template.slice(last));
  return pieces;
}

function renderPieces(pieces: readonly Piece[], params: PathParams, encode: (value: string) => string): string {
  let out = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      out += piece;
    } else {
      const value = params[piece.name];
      // A name `from` does not bind stays as written (publish rejects these).
      out += value === undefined ? `:${piece.name}` : encode(value);
    }
  }
  return out;
}

/**
 * Splits `to` into origin, path, query and fragment once, so a lookup only
 * concatenates. Placeholders are filled in the path and after it, never in
 * the origin of an absolute URL.
 */
function compileTarget(to: string): Render {
  const absolute = /^https?:\/\//i.test(to);
  let origin = '';
  let rest = to;
  if (absolute) {
    const afterScheme = to.indexOf('//') + 2;
    const end = to.slice(afterScheme).search(/[/?#]/);
    origin = end === -1 ? to : to.slice(0, afterScheme + end);
    rest = to.slice(origin.length);
  }
  const hashAt = rest.indexOf('#');
  const queryAt = rest.indexOf('?');
  const hasQuery = queryAt !== -1 && (hashAt === -1 || queryAt < hashAt);
  const pathEnd = hasQuery ? queryAt : hashAt === -1 ? rest.length : hashAt;
  const path = piecesOf(rest.slice(0, pathEnd));
  const tail = piecesOf(rest.slice(pathEnd));

  return (params, query) => {
    let location = origin + renderPieces(path, params, encodePathValue);
    // `/:splat` filled with `/evil.example` must not become `//evil.example`,
    // which a browser reads as another site.
    if (!absolute) location = location.replace(/^[/\\]{2,}/, '/');
    const after = renderPieces(tail, params, encodeComponentValue);
    return hasQuery ? location + after : location + cleanQuery(query) + after;
  };
}

/** A matcher over `rules` in the order given; the first matching rule wins. */
export function createRedirectMatcher(rules: readonly RedirectRule[]): RedirectMatcher {
  const list = [...rules];
  const index = createPathPatternIndex(list.map((rule) => rule.from));
  const targets = list.map((rule) => compileTarget(rule.to));
  return (path, query) => {
    const hit = index.first(path);
    if (hit === null) return null;
    const rule = list[hit.index];
    const render = targets[hit.index];
    if (rule === undefined || render === undefined) return null;
    return { rule, location: render(hit.params, query) };
  };
}

/**
 * The two matchers the responder needs for Netlify's shadowing rule: a rule
 * applies only when no file exists at the path, unless it is forced (`!`).
 */
export function createRedirectMatchers(rules: readonly RedirectRule[]): RedirectMatchers {
  return {
    forced: createRedirectMatcher(rules.filter((rule) => rule.force)),
    fallback: createRedirectMatcher(rules),
  };
}
