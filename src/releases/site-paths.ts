import { join } from 'node:path';

/** Where a site's releases live under the data directory (see DESIGN.md, "On disk"). */
export interface SitePaths {
  siteDir: string;
  releasesDir: string;
  /** Symlink to `releases/<id>`; swapped by rename. */
  currentLink: string;
  /** Held while a publish, activation or cleanup changes the site. */
  lockFile: string;
}

export function sitePaths(dataDir: string, site: string): SitePaths {
  const siteDir = join(dataDir, 'sites', site);
  return {
    siteDir,
    releasesDir: join(siteDir, 'releases'),
    currentLink: join(siteDir, 'current'),
    lockFile: join(siteDir, '.lock'),
  };
}

/** Temporary directories and links start with a dot so no listing ever shows them. */
export const TEMP_PREFIX = '.tmp-';
