import { isIP } from 'node:net';
import type { ResolvedSite } from '../config/resolved-config.ts';

/**
 * Suffixes that never resolve on the public internet (RFC 6761, RFC 6762,
 * RFC 8375, and `.internal`): no public CA can validate them, so ordering
 * a certificate would only fail and retry forever.
 */
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.test', '.invalid', '.internal', '.home.arpa', '.lan'];

/** Whether a public CA could issue for `host` (a lower-case name as config resolves it). */
export function isAcmeEligible(host: string): boolean {
  if (isIP(host) !== 0 || host === 'localhost' || !host.includes('.')) return false;
  return !PRIVATE_SUFFIXES.some((suffix) => host.endsWith(suffix) || host === suffix.slice(1));
}

/** One certificate per site: its eligible names, keyed by the first of them. */
export interface CertificatePlan {
  /** Storage key and lock name: the site's first eligible domain. */
  readonly key: string;
  readonly site: string;
  /** Every eligible domain of the site, in config order. */
  readonly names: readonly string[];
}

export function planCertificates(sites: readonly ResolvedSite[]): CertificatePlan[] {
  const plans: CertificatePlan[] = [];
  for (const site of sites) {
    const names = site.domains.filter(isAcmeEligible);
    const key = names[0];
    if (key !== undefined) plans.push({ key, site: site.name, names });
  }
  return plans;
}
