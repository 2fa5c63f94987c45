import { readdir, readlink, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isReleaseId } from './release-id.ts';
import type { SitePaths } from './site-paths.ts';

export const SUMMARY_NAME = '.berth-release.json';

/** A small file beside the manifest, so listing releases never parses big manifests. */
export interface ReleaseSummary {
  id: string;
  site: string;
  createdAt: string;
  files: number;
  bytes: number;
  source: string;
  /** The commit the release was built from, when it came from a deploy. */
  commit?: string;
}

export interface ReleaseListing {
  summary: ReleaseSummary;
  active: boolean;
}

/** The id the `current` link points at, or undefined before the first publish. */
export async function activeReleaseId(paths: SitePaths): Promise<string | undefined> {
  try {
    return basename(await readlink(paths.currentLink));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Complete release ids, oldest first. Temporary (half-written) releases are never listed. */
export async function releaseIds(paths: SitePaths): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(paths.releasesDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names.filter(isReleaseId).sort();
}

/** Releases newest first, the active one marked. */
export async function listReleases(paths: SitePaths): Promise<ReleaseListing[]> {
  const [ids, active] = await Promise.all([releaseIds(paths), activeReleaseId(paths)]);
  const listings: ReleaseListing[] = [];
  for (const id of ids.reverse()) listings.push({ summary: await readReleaseSummary(paths, id), active: id === active });
  return listings;
}

/** One release's summary (Berth's own file, written at publish). */
export async function readReleaseSummary(paths: SitePaths, id: string): Promise<ReleaseSummary> {
  return JSON.parse(await readFile(join(paths.releasesDir, id, SUMMARY_NAME), 'utf8')) as ReleaseSummary;
}
