/**
 * The earlier Berth the serving benchmark measures beside the current one:
 * which commit (BENCH_BASELINE), and its source tree unpacked into the run's
 * temp dir, so both are measured in the same rounds on the same machine.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';

/** The last commit before the work on issue 13, whose serving throughput that issue must not lower. */
export const DEFAULT_BASELINE = 'bb55809';

/** Why the default baseline is the one it is, for its label. */
const DEFAULT_BASELINE_IS = 'before issue 13';

/** The earlier Berth, checked out. */
export interface Baseline {
  /** What BENCH_BASELINE named. */
  ref: string;
  /** The full commit id it resolved to. */
  commit: string;
  label: string;
  /** Its source tree (with node_modules linked to the repository's). */
  source: string;
  /** Its package-lock.json is not the repository's: it runs with packages it did not pin. */
  lockDiffers: boolean;
}

/** BENCH_BASELINE: the commit-ish to measure, or undefined when it is turned off. */
export function baselineRef(raw: string | undefined): string | undefined {
  const v = raw?.trim();
  if (v === undefined || v === '') return DEFAULT_BASELINE;
  if (v === '0' || v.toLowerCase() === 'none') return undefined;
  return v;
}

/** "Berth before issue 13 (bb55809)" for the default commit, "Berth at 1a2b3c4" for any other. */
export function baselineLabel(ref: string, shortCommit: string): string {
  return ref === DEFAULT_BASELINE ? `Berth ${DEFAULT_BASELINE_IS} (${shortCommit})` : `Berth at ${shortCommit}`;
}

async function git(root: string, args: string[]): Promise<string> {
  const r = await run('git', args, { cwd: root, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * Unpacks the tree of `ref` into `dir` (a git archive, so the repository
 * gains no worktree to clean up: it goes with the temp dir) and links its
 * node_modules to the repository's.
 */
export async function checkOutBaseline(root: string, ref: string, dir: string): Promise<Baseline> {
  const commit = await git(root, ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`]);
  const short = await git(root, ['rev-parse', '--short', commit]);
  mkdirSync(dir, { recursive: true });
  const tar = `${dir}.tar`;
  await git(root, ['archive', '--format=tar', '-o', tar, commit]);
  const x = await run('tar', ['-xf', tar, '-C', dir], { timeoutMs: 120_000 });
  rmSync(tar, { force: true });
  if (x.code !== 0) throw new Error(`tar -xf ${tar} failed (exit ${x.code}): ${x.stderr.trim()}`);
  if (!existsSync(join(dir, 'src/cli/main.ts'))) throw new Error(`BENCH_BASELINE=${ref} (${short}) has no src/cli/main.ts`);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const lock = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
  const lockDiffers = lock(join(root, 'package-lock.json')) !== lock(join(dir, 'package-lock.json'));
  return { ref, commit, label: baselineLabel(ref, short), source: dir, lockDiffers };
}
