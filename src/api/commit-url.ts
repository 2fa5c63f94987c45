import type { ResolvedSite } from '../config/resolved-config.ts';
import { parseRepoLocation } from '../status/forge-target.ts';

const KNOWN_FORGES: Readonly<Record<string, string>> = {
  'github.com': 'github',
  'gitlab.com': 'gitlab',
  'bitbucket.org': 'bitbucket',
  'codeberg.org': 'forgejo',
};

/**
 * A function from a commit to its page on the site's forge, or undefined
 * when the forge is not known: a repository on this server, a self-hosted
 * forge without `[sites.status] forge`. Worked out once per site.
 */
export function commitUrlFor(site: ResolvedSite): ((sha: string) => string) | undefined {
  if (site.repo === undefined) return undefined;
  let location;
  try {
    location = parseRepoLocation(site.repo);
  } catch {
    // A local path or a URL with credentials: no page to link (and the credentials are never shown).
    return undefined;
  }
  const forge = KNOWN_FORGES[location.hostname] ?? site.status?.forge;
  const base = `${location.webOrigin}/${location.path}`;
  switch (forge) {
    case 'github':
    case 'gitea':
    case 'forgejo':
      return (sha) => `${base}/commit/${sha}`;
    case 'gitlab':
      return (sha) => `${base}/-/commit/${sha}`;
    case 'bitbucket':
      return (sha) => `${base}/commits/${sha}`;
    default:
      return undefined;
  }
}
