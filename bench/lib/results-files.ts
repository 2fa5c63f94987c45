import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Writes one run's raw results to `bench/results/<prefix><timestamp>.json`
 * and its markdown section beside it (`.md`), prints the section, and
 * returns it: every benchmark keeps its runs the same way.
 */
export function saveResults(
  root: string,
  prefix: string,
  results: { startedAt: string },
  render: (resultsPath: string) => string,
  log: (message: string) => void,
): string {
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = join(resultsDir, `${prefix}${stamp}.json`);
  writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  const rel = relative(root, resultsFile);
  const section = render(rel);
  writeFileSync(join(resultsDir, `${prefix}${stamp}.md`), `${section}\n`);
  console.log(`\n${section}`);
  log(`results: ${rel} and ${rel.replace(/\.json$/, '.md')}`);
  return section;
}
