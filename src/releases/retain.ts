import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fsReleaseStore } from './fs-release-store.ts';
import { activeReleaseId, releaseIds } from './release-list.ts';
import type { SitePaths } from './site-paths.ts';

/**
 * Deletes the oldest releases beyond `keep`. The active release is never
 * deleted, even when a rollback made an old one active. Returns the ids removed.
 */
export async function pruneReleases(paths: SitePaths, keep: number): Promise<string[]> {
  const [ids, active] = await Promise.all([releaseIds(paths), activeReleaseId(paths)]);
  const doomed = ids.slice(0, Math.max(0, ids.length - keep)).filter((id) => id !== active);
  for (const id of doomed) {
    await rm(join(paths.releasesDir, id), { recursive: true, force: true });
  }
  return doomed;
}

/**
 * Prunes releases beyond `keep`, then, when one was removed, sweeps the
 * objects no kept release names. The caller holds the site's lock.
 */
export async function pruneAndSweep(paths: SitePaths, keep: number): Promise<{ pruned: string[]; swept: { objects: number; bytes: number } }> {
  const pruned = await pruneReleases(paths, keep);
  const swept = pruned.length === 0 ? { objects: 0, bytes: 0 } : await fsReleaseStore(paths).sweep();
  return { pruned, swept };
}
