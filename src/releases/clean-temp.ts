import { readdir, rm } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { fsReleaseStore } from './fs-release-store.ts';
import { withSiteLock } from './site-lock.ts';
import { TEMP_PREFIX, type SitePaths } from './site-paths.ts';

/**
 * Removes what a publish or activation killed half-way left behind: release
 * directories still being assembled, links not yet renamed into place, and
 * objects being written; where a publish left objects, the store is swept
 * too, which removes the complete objects it stored that no release names.
 * Runs under the site lock, which every writer of these holds for as long as
 * they exist, so a publish in progress is waited for, not broken; a lock
 * whose holder is gone (or a zombie) is taken over.
 *
 * Nothing is locked or waited for when there is nothing to remove, so a
 * server can call this often.
 *
 * @param lockWaitMs how long to wait for a running publish before giving up
 *   with `E_SITE_LOCKED`
 */
export async function cleanTemporaryFiles(paths: SitePaths, lockWaitMs?: number): Promise<string[]> {
  if ((await listTemporary(paths)).length === 0) return [];
  return withSiteLock(
    paths.lockFile,
    async () => {
      const removed: string[] = [];
      for (const entry of await listTemporary(paths)) {
        await rm(entry, { recursive: true, force: true });
        removed.push(entry);
      }
      if (removed.some((entry) => entry.startsWith(paths.objectsDir + sep))) await fsReleaseStore(paths).sweep({ heldLock: true });
      return removed;
    },
    lockWaitMs,
  );
}

async function listTemporary(paths: SitePaths): Promise<string[]> {
  const found: string[] = [];
  for (const dir of [paths.releasesDir, paths.siteDir, paths.objectsDir]) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const name of names) if (name.startsWith(TEMP_PREFIX)) found.push(join(dir, name));
  }
  return found;
}
