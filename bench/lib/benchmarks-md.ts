import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Replaces the part of BENCHMARKS.md between `begin` and `end` (or appends
 * it with its markers), leaving every other section as it is. Each benchmark
 * owns one marked section, so runs of one never touch another's numbers.
 */
export function replaceMarkedSection(file: string, begin: string, end: string, section: string): void {
  const block = `${begin}\n${section.trimEnd()}\n${end}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) {
    text = text.slice(0, a) + block + text.slice(b + end.length);
  } else {
    text = `${text.trimEnd()}\n\n${block}\n`;
  }
  writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * The opening lines of a section: which command measured it, when, and where
 * its raw results are (`committed`: the file is kept in the repository beside
 * the section, not only in the measuring machine's bench/results/).
 */
export function measuredBy(command: string, startedAt: string, resultsPath: string, committed = false): string[] {
  const when = startedAt.replace('T', ' ').slice(0, 16);
  return [
    `Measured by \`${command}\` on ${when} UTC. The benchmark writes this section itself; run it again`,
    `to refresh the numbers. The raw results of this run are in \`${resultsPath}\`${committed ? ', committed with this section' : ' (not committed)'}.`,
  ];
}

/** The "Machine:" table of a section, from `describeMachine`'s answers. */
export function machineTable(machine: Record<string, string>): string[] {
  return ['Machine:', '', '| | |', '|---|---|', ...Object.entries(machine).map(([k, v]) => `| ${k} | ${v} |`), ''];
}

/** A section's closing notes, or nothing when there are none. */
export function notesList(notes: readonly string[]): string[] {
  return notes.length ? ['Notes from this run:', '', ...notes.map((n) => `- ${n}`), ''] : [];
}
