import type { ResolvedSite } from '../config/resolved-config.ts';
import type { ServedRelease } from '../static/served-release.ts';

/**
 * One configured site as the server sees it. `release` is the only thing that
 * changes while serving: activation swaps it in one assignment.
 */
export interface SiteState {
  readonly config: ResolvedSite;
  /** Its place in the table: where its requests are counted (server/serving-metrics.ts). */
  readonly index: number;
  release: ServedRelease | undefined;
  /**
   * True from start until the first look at the site's `current` link has
   * ended (its release loaded, there is none, or it failed to load). The
   * ports are open meanwhile: requests for the site get a 503 with
   * Retry-After, and health says "starting".
   */
  loading: boolean;
}

export interface SiteTable {
  readonly sites: readonly SiteState[];
  /** Host name (lower-case) → site. */
  readonly byHost: ReadonlyMap<string, SiteState>;
  /** `[admin] domain` (lower-case): the host whose requests go to the admin app; undefined when none is configured. */
  readonly adminHost: string | undefined;
}

export function createSiteTable(sites: readonly ResolvedSite[], adminHost?: string): SiteTable {
  const states = sites.map((config, index): SiteState => ({ config, index, release: undefined, loading: true }));
  const byHost = new Map<string, SiteState>();
  for (const state of states) {
    for (const domain of state.config.domains) byHost.set(domain.toLowerCase(), state);
  }
  return { sites: states, byHost, adminHost: adminHost?.toLowerCase() };
}
