import { join } from 'node:path';

/** Where a site's files live under the data directory (see DESIGN.md, "On disk"). */
export interface SitePaths {
  siteDir: string;
  releasesDir: string;
  /**
   * The site's content-addressed objects (object-path.ts): every file of
   * every kept release, once. A release is its manifest, which names them.
   */
  objectsDir: string;
  /** Symlink to `releases/<id>`; swapped by rename. */
  currentLink: string;
  /** Held while a publish, activation or cleanup changes the site. */
  lockFile: string;
  /** Holds one directory per deploy, `work/<deploy id>`, owned by the site's build user while it builds. */
  workRoot: string;
  /** Build caches (node_modules, HOME, npm's cache); see build-cache.ts and build-dirs.ts. */
  cacheDir: string;
  /** The cached bare clone of the site's repository; only Berth reads it. */
  sourceDir: string;
}

export function sitePaths(dataDir: string, site: string): SitePaths {
  const siteDir = join(dataDir, 'sites', site);
  return {
    siteDir,
    releasesDir: join(siteDir, 'releases'),
    objectsDir: join(siteDir, 'objects'),
    currentLink: join(siteDir, 'current'),
    lockFile: join(siteDir, '.lock'),
    workRoot: join(siteDir, 'work'),
    cacheDir: join(siteDir, 'cache'),
    sourceDir: join(siteDir, 'source.git'),
  };
}

/** Temporary directories and links start with a dot so no listing ever shows them. */
export const TEMP_PREFIX = '.tmp-';
