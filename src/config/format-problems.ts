import path from 'node:path';
import type { ConfigProblem } from './load-config.ts';

/**
 * Config problems as terminal lines, one each:
 *
 *     berth.toml:12 sites[0].domains[1]: "a.com:80" has a port; …
 *     berth.toml:30 sites[0].webhook.secret: warning: the secret is written …
 *     berth.toml: config file … not found; …
 *
 * The messages are built from escaped values, so they hold no control
 * characters; nothing here adds colour.
 */

/** One problem as one line, without the newline. `file` is the name to show for the config file. */
export function formatProblem(problem: ConfigProblem, file: string): string {
  const place = problem.line === undefined ? file : `${file}:${problem.line}`;
  const key = problem.path === '' ? '' : ` ${problem.path}`;
  const severity = problem.severity === 'warning' ? 'warning: ' : '';
  return `${place}${key}: ${severity}${problem.message}`;
}

/** Every problem, one per line, each line ending in a newline; empty for no problems. */
export function formatProblems(problems: readonly ConfigProblem[], file: string): string {
  return problems.map((problem) => `${formatProblem(problem, file)}\n`).join('');
}

/** `2 errors and 1 warning`, `1 error`, `no problems`. */
export function summarizeProblems(problems: readonly ConfigProblem[]): string {
  const errors = problems.filter((problem) => problem.severity === 'error').length;
  const warnings = problems.length - errors;
  const parts = [
    errors > 0 ? `${errors} ${errors === 1 ? 'error' : 'errors'}` : '',
    warnings > 0 ? `${warnings} ${warnings === 1 ? 'warning' : 'warnings'}` : '',
  ].filter((part) => part !== '');
  return parts.length === 0 ? 'no problems' : parts.join(' and ');
}

/** The config path as a user would type it: relative when inside `cwd`, else absolute. */
export function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  return relative === '' || outside ? file : relative;
}
