import { access } from 'node:fs/promises';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { fsReleaseStore } from '../releases/fs-release-store.ts';
import { hasReleasesToMigrate, migrateSiteReleases } from '../releases/migrate-releases.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { sitePaths } from '../releases/site-paths.ts';

/**
 * Once per start of the control plane, for each site that has releases:
 * converts releases an older Berth wrote to the object store (once, with a
 * log line), then sweeps what a publish or a sweep that was killed left
 * (objects no kept release names, temporary files). Under the site's lock,
 * so a deploy of the site waits for it; serving never does. A failure is
 * logged and leaves the site as it was.
 */
export async function tidyReleaseStores(config: Pick<ResolvedConfig, 'dataDir' | 'sites'>, logger: Logger): Promise<void> {
  for (const site of config.sites) {
    const paths = sitePaths(config.dataDir, site.name);
    try {
      await access(paths.releasesDir);
    } catch {
      continue;
    }
    try {
      // Looked at first without the lock, so a start with nothing to convert writes nothing in the site's directory.
      if (await hasReleasesToMigrate(paths)) {
        await withSiteLock(paths.lockFile, async () => {
          const started = performance.now();
          const migrated = await migrateSiteReleases(paths);
          if (migrated.releases > 0) {
            logger.info(
              { site: site.name, releases: migrated.releases, files: migrated.files, corrected: migrated.corrected.slice(0, 20), droppedVariants: migrated.droppedVariants, ms: Math.round(performance.now() - started) },
              'converted releases to the object store',
            );
          }
        });
      }
      const swept = await fsReleaseStore(paths).sweep();
      if (swept.objects > 0) logger.info({ site: site.name, objects: swept.objects, bytes: swept.bytes }, 'removed objects no kept release names');
    } catch (error) {
      logger.error({ site: site.name, err: error }, 'cannot convert or sweep the release store; the site keeps serving as it is');
    }
  }
}
