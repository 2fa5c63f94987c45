/**
 * Matching of `_headers` rules. The responder calls this once per file when
 * a release loads (and for the occasional 404 or redirect path), so it is
 * built on the same index as redirects and never walks every rule.
 */

import type { HeaderRule } from '../releases/manifest.ts';
import { createAuthGate, parseAuthUsers, type AuthGate, type AuthUser } from './basic-auth.ts';
import { mergeHeaders, withinHeaderBudget } from './header-table.ts';
import { createPathPatternIndex } from './path-pattern.ts';

/** Takes a decoded path; returns the headers to send, each name once (set-cookie excepted), names lower-cased. */
export type HeaderMatcher = (path: string) => Array<[string, string]>;

/** Takes a decoded path; returns the Basic-Auth gate guarding it, if any. */
export type AuthMatcher = (path: string) => AuthGate | undefined;

/**
 * Returns the headers of every rule matching the path, merged as
 * `mergeHeaders` says (rules in file order; single-value headers: the last
 * rule wins; others joined with ", "), without anything HTTP/1.1 or HTTP/2
 * could not send, and within `MAX_CUSTOM_HEADER_BYTES`. `Basic-Auth` is never
 * among them. Each call returns a fresh array the caller may change.
 */
export function createHeaderMatcher(rules: readonly HeaderRule[]): HeaderMatcher {
  const blocks = rules.map((rule) => rule.headers.filter(([name]) => name !== 'basic-auth'));
  const index = createPathPatternIndex(rules.map((rule) => rule.path));
  return (path) => withinHeaderBudget(mergeHeaders(index.all(path).flatMap((hit) => blocks[hit.index] ?? [])));
}

/** A rule's users: `auth`, or, in a release published before it existed, its `basic-auth` header. */
function usersOf(rule: HeaderRule): AuthUser[] | undefined {
  if (rule.auth !== undefined) return rule.auth;
  const legacy = rule.headers.find(([name]) => name === 'basic-auth');
  if (legacy === undefined) return undefined;
  const users = parseAuthUsers(legacy[1]);
  // A value that cannot be read still protects the path: nobody gets in.
  return typeof users === 'string' ? [] : users;
}

/**
 * Returns the gate of the last rule in file order that matches the path and
 * has `Basic-Auth`, or undefined when none does (or no rule has it). One gate
 * per rule, so its memory of successful logins is shared by every path it guards.
 */
export function createAuthMatcher(rules: readonly HeaderRule[], realm: string): AuthMatcher | undefined {
  const guarded = rules.flatMap((rule) => {
    const users = usersOf(rule);
    return users === undefined ? [] : [{ path: rule.path, gate: createAuthGate(users, realm) }];
  });
  if (guarded.length === 0) return undefined;
  const index = createPathPatternIndex(guarded.map((rule) => rule.path));
  return (path) => {
    const hits = index.all(path);
    const last = hits.at(-1);
    return last === undefined ? undefined : guarded[last.index]?.gate;
  };
}
