import type { ResolvedSite } from '../config/resolved-config.ts';
import type { ServedRelease } from '../static/served-release.ts';

/**
 * One configured site as the server sees it. `release` is the only thing that
 * changes while serving: activation swaps it in one assignment.
 */
export interface SiteState {
  readonly config: ResolvedSite;
  release: ServedRelease | undefined;
}

export interface SiteTable {
  readonly sites: readonly SiteState[];
  /** Host name (lower-case) → site. */
  readonly byHost: ReadonlyMap<string, SiteState>;
}

export function createSiteTable(sites: readonly ResolvedSite[]): SiteTable {
  const states = sites.map((config): SiteState => ({ config, release: undefined }));
  const byHost = new Map<string, SiteState>();
  for (const state of states) {
    for (const domain of state.config.domains) byHost.set(domain.toLowerCase(), state);
  }
  return { sites: states, byHost };
}
