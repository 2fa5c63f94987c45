import { chmod, lchown, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createRepo, type TestRepo } from './git.ts';
import type { ServiceAccount } from './service-account.ts';
import { tempDir } from './temp.ts';

/**
 * A test directory the service user can enter (0755), with a repository of
 * `files` under `git/` whose bare repository `account` owns: Berth's
 * processes fetch from it as that user, and git refuses a repository of
 * another owner.
 */
export async function serviceUserRepo(t: TestContext, account: ServiceAccount, prefix: string, files: Record<string, string>): Promise<{ root: string; repo: TestRepo }> {
  const root = await tempDir(t, prefix);
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), files);
  // The bare repository alone: the test keeps committing in the work tree as root.
  await chownTree(repo.bare, account);
  return { root, repo };
}

/** Gives `path` and everything under it (links themselves, not their targets) to `to`. */
export async function chownTree(path: string, to: { uid: number; gid: number }): Promise<void> {
  await lchown(path, to.uid, to.gid);
  if (!(await lstat(path)).isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), to);
}
