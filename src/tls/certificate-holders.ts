import type { ResolvedConfig } from '../config/resolved-config.ts';

/** Something a certificate is for: a site, or the admin host. */
export interface CertificateHolder {
  /** Shown where a certificate's owner is named (logs, `berth certs`, notifications). */
  readonly name: string;
  /** Lower-case host names, in config order. */
  readonly domains: readonly string[];
}

/**
 * How the admin host is named where a site's name would be. Brackets cannot
 * be in a site's name, so it never reads as one, and it says which config
 * table the name comes from.
 */
export const ADMIN_HOLDER = '[admin]';

/**
 * Every configured site, then the admin host (`[admin] domain`) when there
 * is one: it gets a certificate of its own, ordered and renewed like a
 * site's, so renewing a site's certificate never touches the dashboard's.
 */
export function certificateHolders(config: Pick<ResolvedConfig, 'sites' | 'admin'>): CertificateHolder[] {
  const holders: CertificateHolder[] = config.sites.map((site) => ({ name: site.name, domains: site.domains }));
  if (config.admin.domain !== undefined) holders.push({ name: ADMIN_HOLDER, domains: [config.admin.domain] });
  return holders;
}

/** Every host name Berth presents a certificate for: the sites' domains and the admin host. */
export function certificateNames(config: Pick<ResolvedConfig, 'sites' | 'admin'>): string[] {
  return certificateHolders(config).flatMap((holder) => holder.domains);
}
