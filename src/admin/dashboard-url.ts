import type { ResolvedConfig } from '../config/resolved-config.ts';

/** Where the dashboard is (`https://admin.example.com`), for links to it; undefined while `[admin] domain` is unset. */
export function dashboardUrl(config: ResolvedConfig): string | undefined {
  const domain = config.admin.domain;
  if (domain === undefined) return undefined;
  const port = config.server.httpsPort;
  // Without HTTPS the dashboard answers on plain HTTP (for localhost, or behind a proxy that ends TLS).
  if (port === false) return `http://${domain}${config.server.httpPort === 80 || config.server.httpPort === false ? '' : `:${config.server.httpPort}`}`;
  return `https://${domain}${port === 443 ? '' : `:${port}`}`;
}
