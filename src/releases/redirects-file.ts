/**
 * Reads a Netlify-style `_redirects` file at publish time. Every problem in
 * the file is reported at once, one per line, so a user fixes them in one go.
 *
 * Supported: `from to [status][!]`, `:name` placeholders, a trailing `*`
 * splat, `:name`/`:splat` in `to`. Refused, with a message saying so:
 * domain-level `from`, query parameter matching, conditions (Country,
 * Language, Role, Cookie) and proxying to another server.
 */

import { Buffer } from 'node:buffer';
import { BerthError, type ErrorCode } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import { checkPathPattern } from '../static/path-pattern.ts';
import type { RedirectRule, RedirectStatus } from './manifest.ts';

/**
 * Limits shared by `_redirects` and `_headers`, documented in
 * docs/redirects-and-headers.md. They bound what a publish reads and lists;
 * the cost of a request is bounded by the matcher (linear in the path, see
 * PATTERN_LIMITS in src/static/path-pattern.ts) and the index, not by these.
 */
export const RULE_FILE_LIMITS = Object.freeze({
  maxBytes: 1024 * 1024,
  maxRules: 10_000,
  maxLineLength: 4096,
  /** Problems listed in one error message; the summary line counts them all. */
  maxListedProblems: 100,
});

export interface RuleFileLine {
  /** 1-based. */
  number: number;
  /** Without the line ending. */
  text: string;
  /** Already reported (too long, control character); parsers skip it. */
  bad: boolean;
}

export interface RuleFileProblem {
  line: number;
  message: string;
}

const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/; // eslint-disable-line no-control-regex -- control characters are what this looks for

/**
 * Splits a rule file into lines: accepts a UTF-8 BOM and CRLF endings,
 * rejects an oversized file outright, and flags over-long lines and lines
 * with control characters (a lone CR included) as problems.
 */
export function splitRuleFile(
  text: string,
  fileName: string,
  code: ErrorCode,
): { lines: RuleFileLine[]; problems: RuleFileProblem[] } {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > RULE_FILE_LIMITS.maxBytes) {
    throw new BerthError(code, `${fileName} is ${bytes} bytes; the limit is 1 MiB (${RULE_FILE_LIMITS.maxBytes} bytes)`);
  }
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines: RuleFileLine[] = [];
  const problems: RuleFileProblem[] = [];
  body.split('\n').forEach((raw, i) => {
    const number = i + 1;
    const lineText = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    let bad = true;
    if (lineText.length > RULE_FILE_LIMITS.maxLineLength) {
      problems.push({ line: number, message: `line is ${lineText.length} characters long; the limit is ${RULE_FILE_LIMITS.maxLineLength}` });
    } else {
      const control = CONTROL_CHARACTER.exec(lineText)?.[0];
      if (control === undefined) {
        bad = false;
      } else {
        const hex = control.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
        problems.push({ line: number, message: `control character U+${hex} is not allowed; save the file as plain UTF-8 text` });
      }
    }
    lines.push({ number, text: lineText, bad });
  });
  return { lines, problems };
}

/** Throws when a file holds more rules than allowed; `count` includes the new one. */
export function checkRuleCount(count: number, line: number, fileName: string, code: ErrorCode): void {
  if (count > RULE_FILE_LIMITS.maxRules) {
    throw new BerthError(
      code,
      `${fileName} has more than ${RULE_FILE_LIMITS.maxRules} rules (rule ${count} is on line ${line}); the limit is ${RULE_FILE_LIMITS.maxRules}`,
    );
  }
}

/** Throws one error listing every problem, each on its own line, or returns. */
export function throwIfProblems(problems: readonly RuleFileProblem[], fileName: string, code: ErrorCode): void {
  if (problems.length === 0) return;
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const noun = sorted.length === 1 ? 'line' : 'lines';
  const listed = sorted
    .slice(0, RULE_FILE_LIMITS.maxListedProblems)
    .map((problem) => `${fileName} line ${problem.line}: ${problem.message}`);
  const hidden = sorted.length - listed.length;
  if (hidden > 0) listed.push(`and ${hidden} more invalid ${hidden === 1 ? 'line' : 'lines'}`);
  throw new BerthError(code, [`${fileName} has ${sorted.length} invalid ${noun}`, ...listed].join('\n'));
}

const STATUSES: readonly RedirectStatus[] = [200, 301, 302, 307, 308, 404, 410];
const STATUS_LIST = STATUSES.join(', ');
const DEFAULT_STATUS: RedirectStatus = 301;
const CONDITION_KEYS = new Set(['country', 'language', 'role', 'cookie']);
const KEY_VALUE = /^([A-Za-z][A-Za-z0-9_-]*)=/;
const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const HTTP_URL = /^https?:\/\//i;
const TARGET_PLACEHOLDER = /:([A-Za-z_][A-Za-z0-9_]*)/g;
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

function isStatus(value: number): value is RedirectStatus {
  return (STATUSES as readonly number[]).includes(value);
}

/** Words of a line up to a `#` that starts a word (a trailing comment). */
function tokensOf(line: string): string[] {
  const tokens: string[] = [];
  for (const token of line.trim().split(/[ \t]+/)) {
    if (token === '') continue;
    if (token.startsWith('#')) break;
    tokens.push(token);
  }
  return tokens;
}

/** Percent-encodes what may not appear raw in a Location header (non-ASCII). */
function encodeNonAscii(text: string): string {
  return text.toWellFormed().replace(/[^\u0021-\u007e]/gu, (character) => encodeURIComponent(character));
}

/**
 * Checks `to` and returns it in the form stored in the manifest (non-ASCII
 * percent-encoded, host normalised), or a problem.
 */
function checkTarget(to: string, bound: readonly string[], from: string, status: RedirectStatus): { to: string } | { problem: string } {
  if (to.includes('\\')) return { problem: `to ${excerpt(to)} contains a backslash; separate segments with /` };

  let origin = '';
  let rest = to;
  if (HTTP_URL.test(to)) {
    const afterScheme = to.indexOf('//') + 2;
    const authorityEnd = to.slice(afterScheme).search(/[/?#]/);
    const authority = authorityEnd === -1 ? to.slice(afterScheme) : to.slice(afterScheme, afterScheme + authorityEnd);
    if (authority.includes('@')) return { problem: 'to contains a user name or password; remove the part before @' };
    if (/:[A-Za-z_]/.test(authority)) {
      return { problem: `to ${excerpt(to)} has a placeholder in the host; placeholders are only allowed in the path and query` };
    }
    let url: URL;
    try {
      url = new URL(to.slice(0, afterScheme + authority.length));
    } catch {
      return { problem: `to ${excerpt(to)} is not a valid URL; write it as https://host/path` };
    }
    if (url.hostname === '') return { problem: `to ${excerpt(to)} has no host; write it as https://host/path` };
    if (status === 200 || status === 404 || status === 410) {
      return {
        problem: `proxying is not supported: a ${status} rule serves a file from this site, not ${excerpt(to)}; use 301, 302, 307 or 308 to send visitors there`,
      };
    }
    origin = `${url.protocol}//${url.host}`;
    rest = to.slice(afterScheme + authority.length);
  } else if (to.startsWith('//')) {
    return { problem: `to ${excerpt(to)} starts with //, which browsers read as another site; write https://host/path for an external target` };
  } else if (!to.startsWith('/')) {
    return { problem: `to ${excerpt(to)} must be a path starting with / or an http:// or https:// URL` };
  }

  const pathEnd = rest.search(/[?#]/);
  const path = pathEnd === -1 ? rest : rest.slice(0, pathEnd);
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) {
    return { problem: `to ${excerpt(to)} has a "." or ".." segment; write the full path without them` };
  }

  for (const [, name] of to.slice(origin === '' ? 0 : to.length - rest.length).matchAll(TARGET_PLACEHOLDER)) {
    if (name === undefined || bound.includes(name)) continue;
    const available = bound.length === 0 ? `add :${name} or * to from` : `from binds ${bound.map((n) => `:${n}`).join(', ')}`;
    return {
      problem: `to uses ${excerpt(`:${name}`)}, which from ${excerpt(from)} does not bind; ${available} (write a literal colon as %3A)`,
    };
  }

  return { to: origin + encodeNonAscii(rest) };
}

function parseRule(tokens: readonly string[], line: number): RedirectRule | string {
  const [from = '', to, statusToken, extra] = tokens;

  if (ABSOLUTE_URL.test(from) || from.startsWith('//')) {
    return `from ${excerpt(from)} is a full URL; domain-level redirects are not supported, write a path starting with /`;
  }
  if (!from.startsWith('/')) return `from ${excerpt(from)} must be a path starting with /`;

  for (const token of tokens.slice(1)) {
    const key = KEY_VALUE.exec(token)?.[1];
    if (key === undefined) continue;
    if (CONDITION_KEYS.has(key.toLowerCase())) {
      return `conditions are not supported: ${excerpt(token)}; Berth does not route by country, language, role or cookie`;
    }
    return `query parameter matching is not supported: ${excerpt(token)}; rules match the path only`;
  }

  if (to === undefined) return `${excerpt(from)} has no target; write a rule as: from to [status]`;
  if (extra !== undefined) {
    if (extra === '!') return `"!" must follow the status without a space, as in ${statusToken ?? '301'}!`;
    return `unexpected ${excerpt(extra)} after the status; write a rule as: from to [status][!]`;
  }

  let status = DEFAULT_STATUS;
  let force = false;
  if (statusToken !== undefined) {
    const found = /^(\d{3})(!?)$/.exec(statusToken);
    const value = Number(found?.[1]);
    if (found === null || !isStatus(value)) return `unknown status ${excerpt(statusToken)}; use one of ${STATUS_LIST}`;
    status = value;
    force = found[2] === '!';
  }

  const pattern = checkPathPattern(from, { splat: 'last' });
  if (!pattern.ok) return `from ${excerpt(from)}: ${pattern.problem}`;
  const bound = pattern.splat ? [...pattern.names, 'splat'] : pattern.names;

  const target = checkTarget(to, bound, from, status);
  if ('problem' in target) return target.problem;

  return { from: pattern.pattern, to: target.to, status, force, line };
}

/**
 * Parses the text of a `_redirects` file into rules, in file order.
 * Duplicate rules are kept: the first match wins at request time.
 *
 * @throws BerthError `E_REDIRECTS_INVALID` listing every invalid line
 */
export function parseRedirects(text: string, fileName = '_redirects'): RedirectRule[] {
  const code = 'E_REDIRECTS_INVALID';
  const { lines, problems } = splitRuleFile(text, fileName, code);
  const rules: RedirectRule[] = [];
  let count = 0;
  for (const line of lines) {
    if (line.bad) continue;
    const tokens = tokensOf(line.text);
    if (tokens.length === 0) continue;
    count += 1;
    checkRuleCount(count, line.number, fileName, code);
    const rule = parseRule(tokens, line.number);
    if (typeof rule === 'string') problems.push({ line: line.number, message: rule });
    else rules.push(rule);
  }
  throwIfProblems(problems, fileName, code);
  return rules;
}
