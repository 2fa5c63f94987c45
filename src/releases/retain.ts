import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { activeReleaseId, releaseIds } from './release-list.ts';
import type { SitePaths } from './site-paths.ts';

/**
 * Deletes the oldest releases beyond `keep` (their manifests: the objects
 * only they named are removed by the store's sweep). The active release is
 * never deleted, even when a rollback made an old one active. Returns the
 * ids removed. The caller holds the site's lock.
 */
export async function pruneReleases(paths: SitePaths, keep: number): Promise<string[]> {
  const [ids, active] = await Promise.all([releaseIds(paths), activeReleaseId(paths)]);
  const doomed = ids.slice(0, Math.max(0, ids.length - keep)).filter((id) => id !== active);
  for (const id of doomed) {
    await rm(join(paths.releasesDir, id), { recursive: true, force: true });
  }
  return doomed;
}

