import { access, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors.ts';
import { MANIFEST_NAME } from './manifest.ts';
import { TEMP_PREFIX, type SitePaths } from './site-paths.ts';
import { activeReleaseId, releaseIds } from './release-list.ts';

/**
 * Points `current` at a release by creating a new link and renaming it over
 * the old one: rename is atomic, so a reader sees the old target or the new,
 * never a missing link. The link is relative so the data directory can move.
 */
export async function activateRelease(paths: SitePaths, id: string): Promise<void> {
  try {
    await access(join(paths.releasesDir, id, MANIFEST_NAME));
  } catch (error) {
    throw new BerthError('E_RELEASE_NOT_FOUND', `Release ${id} does not exist; run \`berth releases\` to see the ids`, { cause: error });
  }
  const temp = join(paths.siteDir, `${TEMP_PREFIX}current-${randomBytes(6).toString('hex')}`);
  await symlink(join('releases', id), temp);
  try {
    await rename(temp, paths.currentLink);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The release a plain `berth rollback` returns to: the newest one older than the active one. */
export async function previousReleaseId(paths: SitePaths): Promise<string> {
  const [ids, active] = await Promise.all([releaseIds(paths), activeReleaseId(paths)]);
  if (active === undefined) {
    throw new BerthError('E_RELEASE_NONE', `Site has no active release to roll back from; publish one first`);
  }
  const older = ids.filter((id) => id < active);
  const previous = older.at(-1);
  if (previous === undefined) {
    throw new BerthError('E_RELEASE_NONE', `Release ${active} is the oldest one kept; there is nothing older to roll back to`);
  }
  return previous;
}
