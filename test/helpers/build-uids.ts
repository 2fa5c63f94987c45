import { randomInt } from 'node:crypto';

/**
 * A `[deploy] build_uid_base` for one test's config. Builds of a site run as
 * a uid from the site's name and this base, and a deploy kills every process
 * of its site's uid when the build ends: two tests running at once that both
 * deploy a site called "blog" with the default base would kill each other's
 * builds (and share a process limit). A random base of their own keeps them apart.
 */
export function uniqueBuildUidBase(): number {
  return 300_000 + randomInt(0, 150_000) * 10_000;
}
