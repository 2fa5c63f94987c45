import { createRedirectMatchers } from '../static/redirect-matcher.ts';
import type { Manifest, ManifestFile } from './manifest.ts';

/**
 * The files of a release that an answer to `GET /` can involve: the index
 * page, the site's root 404 page, and, when a `_redirects` rule matches `/`,
 * the file its target names (as a file, a directory's index or a page
 * without `.html`). Answering `/` from a release of only these files gives
 * the same answer as from the whole release, at a cost that does not grow
 * with the site: the check before a release goes live uses it.
 */
export function filesForRoot(manifest: Manifest): Record<string, ManifestFile> {
  const wanted = new Set(['/index.html', '/404.html']);
  if (manifest.redirects.length > 0) {
    const matchers = createRedirectMatchers(manifest.redirects);
    for (const matcher of [matchers.forced, matchers.fallback]) {
      const match = matcher('/', '');
      if (match === null) continue;
      const target = pathOf(match.location);
      if (target === undefined) continue;
      wanted.add(target);
      wanted.add(target.endsWith('/') ? `${target}index.html` : `${target}.html`);
      wanted.add(`${target}/index.html`);
    }
  }
  const files: Record<string, ManifestFile> = {};
  for (const path of wanted) {
    const file = manifest.files[path];
    if (file !== undefined) files[path] = file;
  }
  return files;
}

/** The decoded path of a rule's target; undefined for another origin or a broken escape. */
function pathOf(location: string): string | undefined {
  if (!location.startsWith('/')) return undefined;
  const end = location.search(/[?#]/);
  try {
    return decodeURIComponent(end === -1 ? location : location.slice(0, end));
  } catch {
    return undefined;
  }
}
