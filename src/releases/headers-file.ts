/**
 * Reads a Netlify-style `_headers` file at publish time: a path line at the
 * start of a line, then the headers for that path on indented `Name: value`
 * lines. Every problem in the file is reported at once.
 */

import { checkPathPattern } from '../static/path-pattern.ts';
import type { HeaderRule } from './manifest.ts';
import { checkRuleCount, splitRuleFile, throwIfProblems, type RuleFileProblem } from './redirects-file.ts';

/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ABSOLUTE_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const PRINTABLE_ASCII = /^[\u0020-\u007e\t]*$/;

/**
 * Headers that describe the connection or the framing of the body. The
 * server computes them from what it actually sends; a wrong value from a
 * file would corrupt responses (or let one response smuggle another).
 */
const SERVER_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-encoding',
  'content-length',
  'content-range',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

interface Block {
  rule: HeaderRule;
  /** False when the path line itself was invalid: its headers are checked but not kept. */
  valid: boolean;
  /** A header line was seen, valid or not; a block without one is an error. */
  hasLines: boolean;
}

function checkHeaderLine(text: string, fileName: string): [string, string] | string {
  const colon = text.indexOf(':');
  if (colon === -1) return `expected an indented "Name: value" line, found "${text}"`;
  const name = text.slice(0, colon).trim();
  const value = text.slice(colon + 1).trim();
  if (name === '') return `"${text}" has no header name before the colon`;
  if (!TOKEN.test(name)) return `header name "${name}" is not valid; use letters, digits and -, as in X-Frame-Options`;
  const lower = name.toLowerCase();
  if (SERVER_HEADERS.has(lower)) {
    return `header "${name}" cannot be set in ${fileName}; the server sets ${lower} from the response it sends`;
  }
  if (value === '') return `header "${name}" has no value; give it one or remove the line`;
  if (!PRINTABLE_ASCII.test(value)) {
    const bad = [...value].find((character) => !PRINTABLE_ASCII.test(character)) ?? '';
    const hex = (bad.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
    return `header "${name}" has "${bad}" (U+${hex}) in its value; header values must be printable ASCII, percent-encode anything else`;
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
        message: `path "${block.rule.path}" has no headers; list them below it on indented "Name: value" lines`,
      });
    }
    if (block.valid && block.rule.headers.length > 0) rules.push(block.rule);
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
        report.push({ line, message: `path "${path}": ${checked.problem}` });
      }
    }
    block = { rule: { path: pattern, headers: [], line }, valid, hasLines: false };
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
        problem = `path "${trimmed}" is a full URL; domain-level rules are not supported, write a path starting with /`;
      } else if (indented) {
        problem = `path "${trimmed}" must start at the beginning of the line, without indentation`;
      } else if (/\s/.test(trimmed)) {
        problem = `path "${trimmed}" contains whitespace; put each header on its own indented line below the path`;
      }
      open(trimmed, line.number, problem);
      continue;
    }

    if (!indented) {
      const looksLikeHeader = /^[^\s:]+:/.test(trimmed);
      report.push({
        line: line.number,
        message: looksLikeHeader
          ? `header line "${trimmed}" must be indented under a path line`
          : `expected a path starting with / or an indented "Name: value" line, found "${trimmed}"`,
      });
      if (block !== undefined) block.hasLines = true;
      continue;
    }

    if (block === undefined) {
      report.push({ line: line.number, message: `header line "${trimmed}" comes before any path; start the block with a path line such as /*` });
      continue;
    }
    block.hasLines = true;
    const header = checkHeaderLine(trimmed, fileName);
    if (typeof header === 'string') report.push({ line: line.number, message: header });
    else block.rule.headers.push(header);
  }
  close();

  throwIfProblems(report, fileName, code);
  return rules;
}
