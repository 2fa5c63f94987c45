/**
 * Matching of `_headers` rules. The responder calls this once per file when
 * a release loads (and for the occasional 404 or redirect path), so it is
 * built on the same index as redirects and never walks every rule.
 */

import type { HeaderRule } from '../releases/manifest.ts';
import { createPathPatternIndex } from './path-pattern.ts';

/** Takes a decoded path; returns name/value pairs, names lower-cased. */
export type HeaderMatcher = (path: string) => Array<[string, string]>;

/**
 * Returns every header of every rule matching the path, rules in file order
 * and headers in block order. Repeats are kept (the same header from two
 * rules, or twice in one block); the responder decides how to join them.
 * Each call returns a fresh array the caller may change.
 */
export function createHeaderMatcher(rules: readonly HeaderRule[]): HeaderMatcher {
  const blocks = rules.map((rule) => rule.headers.map(([name, value]): [string, string] => [name, value]));
  const index = createPathPatternIndex(rules.map((rule) => rule.path));
  return (path) => {
    const headers: Array<[string, string]> = [];
    for (const hit of index.all(path)) {
      for (const [name, value] of blocks[hit.index] ?? []) headers.push([name, value]);
    }
    return headers;
  };
}
