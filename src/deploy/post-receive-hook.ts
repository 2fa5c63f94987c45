import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { shellQuote } from '../shell-quote.ts';

export const HOOK_MARKER = '# Installed by berth hook install';

export interface HookOptions {
  /** The repository pushed to (bare, or a work tree's `.git`). */
  repoPath: string;
  site: string;
  branch: string;
  configPath: string;
  /** Absolute paths of the Node binary and Berth's CLI entry. */
  node: string;
  cli: string;
  force: boolean;
}

/** The hooks directory of a bare repository or of a work tree's `.git`. */
export async function hooksDir(repoPath: string): Promise<string> {
  for (const candidate of [join(repoPath, 'hooks'), join(repoPath, '.git', 'hooks')]) {
    try {
      await access(join(candidate, '..', 'HEAD'));
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new BerthError('E_HOOK_REPO', `${repoPath} is not a git repository; create it with \`git init --bare ${repoPath}\``);
}


/**
 * Writes a `post-receive` hook that deploys pushes to the site's branch with
 * `berth deploy --trigger hook`, so `git push` to a repository on the server
 * deploys with no forge at all. With `berth serve` running, the server runs
 * the deploy and the push shows its log until it ends; a push interrupted
 * then (the branch has moved already) leaves the deploy running. With no
 * server, the deploy runs in the hook.
 */
export async function installPostReceiveHook(options: HookOptions): Promise<string> {
  const dir = await hooksDir(options.repoPath);
  const file = join(dir, 'post-receive');
  let existing: string | undefined;
  try {
    existing = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing !== undefined && !existing.includes(HOOK_MARKER) && !options.force) {
    throw new BerthError('E_HOOK_EXISTS', `${file} exists and was not written by berth; pass --force to replace it`);
  }
  const ref = `refs/heads/${options.branch}`;
  const script = `#!/bin/sh
${HOOK_MARKER} for the site ${options.site}.
# Deploys each push to ${ref}. With berth serve running, the server deploys and the
# push shows the deploy's log: Ctrl-C stops the showing only, the deploy goes on.
# With no server running, berth deploy runs the deploy here and Ctrl-C cancels it.
# git's own variables point at this repository; the deploy fetches on its own.
unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
zero=0000000000000000000000000000000000000000
while read old new ref; do
  if [ "$ref" != ${shellQuote(ref)} ]; then
    printf 'berth: %s is not deployed; the site %s deploys %s\\n' "$ref" ${shellQuote(options.site)} ${shellQuote(ref)}
  elif [ "$new" = "$zero" ]; then
    printf 'berth: %s was deleted; the site %s keeps serving what it serves\\n' ${shellQuote(ref)} ${shellQuote(options.site)}
  else
    # berth deploy prints what failed, whether a site was live before, and the command for the whole log.
    ${shellQuote(options.node)} ${shellQuote(options.cli)} deploy --config ${shellQuote(options.configPath)} --site ${shellQuote(options.site)} --ref "$ref" --sha "$new" --trigger hook || true
  fi
done
exit 0
`;
  await writeFile(file, script, { mode: 0o755 });
  await chmod(file, 0o755);
  return file;
}
