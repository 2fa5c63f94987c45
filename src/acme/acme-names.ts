import { isIP } from 'node:net';
import type { CertificateHolder } from '../tls/certificate-holders.ts';

/**
 * Suffixes that never resolve on the public internet (RFC 6761, RFC 6762,
 * RFC 8375, and `.internal`): no public CA can validate them, so ordering
 * a certificate from one would only fail and retry forever. A private CA
 * (step-ca, Pebble, a company's own) may well validate them.
 */
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.test', '.invalid', '.internal', '.home.arpa', '.lan'];

/**
 * The public CAs Berth knows, by the domain their ACME directories are served
 * from: Let's Encrypt, ZeroSSL, Google Trust Services and Buypass, production
 * and staging. Any other directory is taken for a private CA.
 */
const PUBLIC_CA_DOMAINS = ['letsencrypt.org', 'zerossl.com', 'pki.goog', 'buypass.com', 'buypass.no'];

/** Whether `directoryUrl` is one of the public CAs Berth knows (undefined: Let's Encrypt, the default). */
export function isPublicCa(directoryUrl: string | undefined): boolean {
  if (directoryUrl === undefined) return true;
  let host: string;
  try {
    host = new URL(directoryUrl).hostname.toLowerCase();
  } catch {
    return false;
  }
  return PUBLIC_CA_DOMAINS.some((domain) => host === domain || host.endsWith(`.${domain}`));
}

/**
 * Why `host` (a lower-case name as config resolves it) is not ordered from
 * the CA at `directoryUrl`, or undefined when it is: `localhost` and IP
 * literals never are; from a public CA, neither are single-label names and
 * names under the private suffixes.
 */
export function skipReason(host: string, directoryUrl: string | undefined): string | undefined {
  if (isIP(host) !== 0) return 'an IP address; Berth orders certificates for names only';
  if (host === 'localhost' || host.endsWith('.localhost')) return 'localhost is never ordered: no CA can reach it';
  if (!isPublicCa(directoryUrl)) return undefined;
  if (!host.includes('.')) return 'a single-label name, which a public CA cannot validate; a private CA in acme.directory can';
  const suffix = PRIVATE_SUFFIXES.find((candidate) => host.endsWith(candidate) || host === candidate.slice(1));
  return suffix === undefined ? undefined : `a name under ${suffix}, which a public CA cannot validate; a private CA in acme.directory can`;
}

/** Whether the CA at `directoryUrl` (default: a public one) is asked for `host`. */
export function isAcmeEligible(host: string, directoryUrl?: string): boolean {
  return skipReason(host, directoryUrl) === undefined;
}

/** One certificate per site (and one for the admin host): its eligible names, keyed by the first of them. */
export interface CertificatePlan {
  /** Storage key and lock name: the site's first eligible domain. */
  readonly key: string;
  /** The site's name, or `[admin]` for the admin host (tls/certificate-holders.ts). */
  readonly site: string;
  /** Every eligible domain of the site, in config order. */
  readonly names: readonly string[];
}

export function planCertificates(sites: readonly CertificateHolder[], directoryUrl: string | undefined): CertificatePlan[] {
  const plans: CertificatePlan[] = [];
  for (const site of sites) {
    const names = site.domains.filter((host) => isAcmeEligible(host, directoryUrl));
    const key = names[0];
    if (key !== undefined) plans.push({ key, site: site.name, names });
  }
  return plans;
}
