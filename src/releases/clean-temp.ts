import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withSiteLock } from './site-lock.ts';
import { TEMP_PREFIX, type SitePaths } from './site-paths.ts';

/**
 * Removes what a publish or activation killed half-way left behind: release
 * directories still being assembled and links not yet renamed into place.
 * Runs under the site lock, so a publish in progress is waited for, not broken.
 */
export async function cleanTemporaryFiles(paths: SitePaths): Promise<string[]> {
  return withSiteLock(paths.lockFile, async () => {
    const removed: string[] = [];
    for (const dir of [paths.releasesDir, paths.siteDir]) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw error;
      }
      for (const name of names.filter((entry) => entry.startsWith(TEMP_PREFIX))) {
        await rm(join(dir, name), { recursive: true, force: true });
        removed.push(join(dir, name));
      }
    }
    return removed;
  });
}
