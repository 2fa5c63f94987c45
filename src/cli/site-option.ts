import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import { BerthError } from '../errors.ts';
import type { ParseArgsOptionsConfig } from 'node:util';

export const siteOption = {
  site: { type: 'string', short: 's' },
} as const satisfies ParseArgsOptionsConfig;

/**
 * The site a command acts on: `--site`, or the only site when the config has
 * exactly one.
 */
export function selectSite(config: ResolvedConfig, name: string | undefined): ResolvedSite {
  const names = config.sites.map((site) => site.name);
  if (name === undefined) {
    const only = config.sites.length === 1 ? config.sites[0] : undefined;
    if (only !== undefined) return only;
    throw new BerthError('E_USAGE', `Missing --site; this config has ${names.length === 0 ? 'no sites' : `the sites ${names.join(', ')}`}`);
  }
  const site = config.sites.find((candidate) => candidate.name === name);
  if (site === undefined) {
    throw new BerthError('E_SITE_UNKNOWN', `No site named "${name}" in ${config.configPath}; configured: ${names.join(', ') || 'none'}`);
  }
  return site;
}
