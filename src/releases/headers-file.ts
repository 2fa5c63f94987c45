/**
 * Reads a Netlify-style `_headers` file at publish time: a path line at the
 * start of a line, then the headers for that path on indented `Name: value`
 * lines. Every problem in the file is reported at once.
 */

import { excerpt } from '../excerpt.ts';
import { parseAuthUsers } from '../static/basic-auth.ts';
import { checkPathPattern, createPathPatternIndex } from '../static/path-pattern.ts';
import { headerBytes, headerProblem, isSingleValue, MAX_CUSTOM_HEADER_BYTES, mergeHeaders } from '../static/header-table.ts';
import { BerthError } from '../errors.ts';
import type { HeaderRule } from './manifest.ts';
import { checkRuleCount, splitRuleFile, throwIfProblems, type RuleFileProblem } from './redirects-file.ts';

const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

interface Block {
  rule: HeaderRule;
  /** False when the path line itself was invalid: its headers are checked but not kept. */
  valid: boolean;
  /** A header line was seen, valid or not; a block without one is an error. */
  hasLines: boolean;
  /** Line of each single-value header in this block, to refuse a second one. */
  seen: Map<string, number>;
}

/** A line quoted in a message: a Basic-Auth line shows its name only, since the rest is a password. */
function quoted(text: string): string {
  return /^\s*basic-auth\s*:/i.test(text) ? excerpt(`${text.slice(0, text.indexOf(':'))}: …`) : excerpt(text);
}

function checkHeaderLine(text: string): [string, string] | string {
  const colon = text.indexOf(':');
  if (colon === -1) return `expected an indented "Name: value" line, found ${quoted(text)}`;
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  if (name === '') return `${excerpt(text)} has no header name before the colon`;
  const lower = name.toLowerCase();
  // Checked before the value: the value of Basic-Auth is a password.
  if (lower === 'basic-auth') return [lower, value];
  const problem = headerProblem(name, value);
  if (problem !== undefined) {
    if (!/^[\u0020-\u007e\t]*$/.test(value) && !problem.startsWith('is not a valid') && !problem.startsWith('cannot')) {
      const bad = [...value].find((character) => !/[\u0020-\u007e\t]/.test(character)) ?? '';
      const hex = (bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
      return `header ${excerpt(name)} has "${bad}" (U+${hex}) in its value; header values must be printable ASCII, percent-encode anything else`;
    }
    return `header ${excerpt(name)} ${problem}`;
  }
  return [lower, value];
}

/**
 * Parses the text of a `_headers` file into rules, in file order. A header
 * named twice in one block is kept twice; the responder joins repeats.
 *
 * @throws BerthError `E_HEADERS_INVALID` listing every invalid line
 */
export function parseHeaders(text: string, fileName = '_headers'): HeaderRule[] {
  const code = 'E_HEADERS_INVALID';
  const { lines, problems } = splitRuleFile(text, fileName, code);
  const rules: HeaderRule[] = [];
  const report: RuleFileProblem[] = [...problems];
  let block: Block | undefined;
  let count = 0;

  const close = (): void => {
    if (block === undefined) return;
    if (block.valid && !block.hasLines) {
      report.push({
        line: block.rule.line,
        message: `path ${excerpt(block.rule.path)} has no headers; list them below it on indented "Name: value" lines`,
      });
    }
    if (block.valid && (block.rule.headers.length > 0 || block.rule.auth !== undefined)) rules.push(block.rule);
    block = undefined;
  };

  const open = (path: string, line: number, problem: string | undefined): void => {
    close();
    count += 1;
    checkRuleCount(count, line, fileName, code);
    let valid = false;
    let pattern = path;
    if (problem !== undefined) {
      report.push({ line, message: problem });
    } else {
      const checked = checkPathPattern(path, { splat: 'anywhere' });
      if (checked.ok) {
        valid = true;
        pattern = checked.pattern;
      } else {
        report.push({ line, message: `path ${excerpt(path)}: ${checked.problem}` });
      }
    }
    block = { rule: { path: pattern, headers: [], line }, valid, hasLines: false, seen: new Map() };
  };

  for (const line of lines) {
    const trimmed = line.text.trim();
    const indented = /^[ \t]/.test(line.text);
    if (line.bad) {
      // Already reported; count it so the block is not also called empty.
      if (block !== undefined && indented) block.hasLines = true;
      continue;
    }
    if (trimmed === '' || trimmed.startsWith('#')) continue;

    if (trimmed.startsWith('/') || ABSOLUTE_URL.test(trimmed)) {
      let problem: string | undefined;
      if (ABSOLUTE_URL.test(trimmed) || trimmed.startsWith('//')) {
        problem = `path ${excerpt(trimmed)} is a full URL; domain-level rules are not supported, write a path starting with /`;
      } else if (indented) {
        problem = `path ${excerpt(trimmed)} must start at the beginning of the line, without indentation`;
      } else if (/\s/.test(trimmed)) {
        problem = `path ${excerpt(trimmed)} contains whitespace; put each header on its own indented line below the path`;
      }
      open(trimmed, line.number, problem);
      continue;
    }

    if (!indented) {
      const looksLikeHeader = /^[^\s:]+:/.test(trimmed);
      report.push({
        line: line.number,
        message: looksLikeHeader
          ? `header line ${quoted(trimmed)} must be indented under a path line`
          : `expected a path starting with / or an indented "Name: value" line, found ${quoted(trimmed)}`,
      });
      if (block !== undefined) block.hasLines = true;
      continue;
    }

    if (block === undefined) {
      report.push({ line: line.number, message: `header line ${quoted(trimmed)} comes before any path; start the block with a path line such as /*` });
      continue;
    }
    block.hasLines = true;
    const header = checkHeaderLine(trimmed);
    if (typeof header === 'string') {
      report.push({ line: line.number, message: header });
      continue;
    }
    const [name, value] = header;
    const first = block.seen.get(name);
    if (first !== undefined) {
      report.push({
        line: line.number,
        message:
          name === 'basic-auth'
            ? `Basic-Auth is set twice for one path (first on line ${first}); list every user on one line, separated by spaces`
            : `header ${excerpt(name)} holds one value and is already set for this path on line ${first}; keep one line`,
      });
      continue;
    }
    if (name === 'basic-auth' || isSingleValue(name)) block.seen.set(name, line.number);
    if (name === 'basic-auth') {
      const users = parseAuthUsers(value);
      if (typeof users === 'string') report.push({ line: line.number, message: users });
      else block.rule.auth = users;
    } else {
      block.rule.headers.push([name, value]);
    }
  }
  close();

  throwIfProblems(report, fileName, code);
  return rules;
}

/**
 * Checks, at publish, the headers each path of the release would be served
 * with once the matching rules are merged: refuses a path that would carry
 * more than `MAX_CUSTOM_HEADER_BYTES`. `paths` are the files' URL paths; the
 * directory and extension-less forms they are also served under are checked
 * with them.
 *
 * @throws BerthError `E_HEADERS_INVALID` naming the first such path
 */
export function checkHeaderTables(rules: readonly HeaderRule[], paths: Iterable<string>, fileName = '_headers'): void {
  if (rules.length === 0) return;
  const index = createPathPatternIndex(rules.map((rule) => rule.path));
  const check = (path: string): void => {
    const hits = index.all(path);
    const bytes = headerBytes(mergeHeaders(hits.flatMap((hit) => rules[hit.index]?.headers ?? [])));
    if (bytes <= MAX_CUSTOM_HEADER_BYTES) return;
    const lines = hits.map((hit) => rules[hit.index]?.line).slice(0, 10).join(', ');
    throw new BerthError(
      'E_HEADERS_INVALID',
      `${fileName} gives ${excerpt(path)} ${bytes} bytes of headers (rules on lines ${lines}); the limit is ${MAX_CUSTOM_HEADER_BYTES} per path, shorten the values or match fewer rules`,
    );
  };
  for (const path of paths) {
    check(path);
    if (path.endsWith('/index.html')) check(path.slice(0, -'index.html'.length));
    else if (path.endsWith('.html')) check(path.slice(0, -'.html'.length));
  }
}
