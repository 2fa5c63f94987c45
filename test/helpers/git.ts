import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeTree } from './temp.ts';

const IDENTITY = ['-c', 'user.name=Berth Test', '-c', 'user.email=test@berth.invalid', '-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false'];

/** Runs git with a fixed identity and no user config. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', [...IDENTITY, ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();
}

export interface TestRepo {
  /** The bare repository a site deploys from. */
  bare: string;
  /** A clone to commit and push from. */
  work: string;
  /** Writes files, commits them and pushes; returns the new commit id. */
  commit(files: Record<string, string>, message?: string, branch?: string): Promise<string>;
}

/** A bare repository with a work clone, on disk under `root`. */
export async function createRepo(root: string, files: Record<string, string>): Promise<TestRepo> {
  const bare = join(root, 'origin.git');
  const work = join(root, 'work');
  git(root, 'init', '--bare', bare);
  git(root, 'clone', bare, work);
  const commit = async (next: Record<string, string>, message = 'change', branch = 'main'): Promise<string> => {
    const current = git(work, 'symbolic-ref', '--short', 'HEAD');
    if (current !== branch) git(work, 'checkout', '-B', branch);
    await writeTree(work, next);
    git(work, 'add', '-A');
    git(work, 'commit', '-m', message);
    git(work, 'push', 'origin', `HEAD:refs/heads/${branch}`);
    return git(work, 'rev-parse', 'HEAD');
  };
  await commit(files, 'first');
  return { bare, work, commit };
}
