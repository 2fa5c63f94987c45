import type { IncomingHttpHeaders } from 'node:http';
import { respond } from '../static/respond.ts';
import { emptyReply, SECURITY_HEADERS, textReply, type Reply } from '../static/reply.ts';
import { hostOf } from './host-name.ts';
import type { SiteState, SiteTable } from './site-table.ts';

/** What routing needs of a request, from either protocol. */
export interface IncomingRequest {
  method: string | undefined;
  /** Request target: path and query. */
  url: string | undefined;
  /** `Host` (HTTP/1.1) or `:authority` (HTTP/2). */
  authority: string | undefined;
  headers: IncomingHttpHeaders;
  /** The TLS SNI name the connection was opened for, if any. */
  servername: string | undefined;
  /** More than one Host header was sent (HTTP/1.1 only). */
  duplicateHost: boolean;
}

export interface Routed {
  /** What to answer; when `forward` is set, what to answer if the admin app cannot be asked. */
  reply: Reply;
  host: string | undefined;
  site: SiteState | undefined;
  /** The request names the admin host (`[admin] domain`): counted and logged as the admin app's. */
  admin: boolean;
  /** The admin app answers it: the worker forwards it to the admin socket (server/admin-proxy.ts). */
  forward: boolean;
}

const UNKNOWN_HOST = textReply(421, 'Misdirected request: no site here answers to this host name');
const TWO_HOSTS = textReply(400, 'Bad request: more than one Host header');
const NO_RELEASE = textReply(503, 'This site has no published release yet', ['retry-after', '10']);
/** The server has just started and is still reading this site's release: a matter of seconds. */
const LOADING = textReply(503, 'This site is starting: its release is still loading', ['retry-after', '2']);
/** Answered on every host, for containers and load balancers: 200 once every site has loaded, 503 "starting" before. */
export const HEALTH_PATH = '/_berth/health';
const HEALTHY = textReply(200, 'ok');
const BERTH_NOT_FOUND = textReply(404, 'Not found');
const BAD_TARGET = textReply(400, 'Bad request: the request target must be a path');
/** The admin host's answer when no admin app can be asked: the control plane has not opened its socket yet. */
export const DASHBOARD_STARTING = textReply(503, 'The dashboard is starting; try again in a few seconds', ['retry-after', '5']);

/**
 * Finds the site a request is for and decides the answer. Everything under
 * `/_berth/` belongs to Berth on every site's host; on the admin host only
 * health does, and the rest is the admin app's.
 */
export function routeRequest(table: SiteTable, request: IncomingRequest, httpsRedirectPort?: number): Routed {
  const host = hostOf(request.authority);
  // One comparison, and only when an admin host is configured: the sites' path is not slowed.
  const admin = table.adminHost !== undefined && host === table.adminHost;
  const site = host === undefined || admin ? undefined : table.byHost.get(host);
  let reply: Reply;
  let forward = false;
  if (request.duplicateHost) {
    // Node keeps the first Host and drops the rest; a proxy in front might
    // have used another one, so refuse rather than guess (RFC 9112 3.2).
    reply = TWO_HOSTS;
  } else if (request.url === HEALTH_PATH) {
    // Any host, so a container or load balancer can probe 127.0.0.1 without knowing the domains.
    reply = health(table);
  } else if (admin) {
    if (misdirectedAdmin(request.servername, table)) reply = UNKNOWN_HOST;
    // The dashboard's sign-in and session cookies never travel in clear text when HTTPS is served.
    else if (httpsRedirectPort !== undefined) reply = httpsRedirect(host, httpsRedirectPort, request.url);
    else {
      reply = DASHBOARD_STARTING;
      forward = true;
    }
  } else if (site === undefined || misdirected(request.servername, table, site)) {
    reply = UNKNOWN_HOST;
  } else if (request.url?.startsWith('/_berth/') === true) {
    reply = BERTH_NOT_FOUND;
  } else if (httpsRedirectPort !== undefined && host !== undefined) {
    reply = httpsRedirect(host, httpsRedirectPort, request.url);
  } else if (site.release === undefined) {
    reply = site.loading ? LOADING : NO_RELEASE;
  } else {
    reply = respond(site.release, request);
  }
  return { reply, host, site, admin, forward };
}

/**
 * `200 ok` once every site's first load has ended, whatever its outcome (a
 * site with no release, or whose release failed to load, is an operator's
 * matter the log reports, not a reason to take the server out of a load
 * balancer). Before that a 503 whose body starts with `starting` and names
 * the sites still loading: a load balancer or Docker's HEALTHCHECK (which
 * treat any status outside 2xx as not ready) sends no traffic yet.
 */
function health(table: SiteTable): Reply {
  let loading: string[] | undefined;
  for (const site of table.sites) if (site.loading) (loading ??= []).push(site.config.name);
  return loading === undefined ? HEALTHY : textReply(503, `starting: loading ${loading.join(', ')}`, ['retry-after', '2']);
}

/**
 * The 308 from plain HTTP to HTTPS. The host is the configured name the
 * request matched (never the raw header), so the target stays on this
 * server whatever the request carried.
 */
function httpsRedirect(host: string, port: number, url: string | undefined): Reply {
  if (url?.startsWith('/') !== true) return BAD_TARGET;
  const authority = `${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}`;
  // Bytes outside printable ASCII (the parser hands them over as latin1) are percent-encoded, as a header value must be.
  const target = url.replace(/[^\x21-\x7e]/g, (char) => `%${(char.charCodeAt(0) & 0xff).toString(16).toUpperCase().padStart(2, '0')}`);
  return emptyReply(308, ['location', `https://${authority}${target}`, 'cache-control', 'no-store', ...SECURITY_HEADERS]);
}

/**
 * On TLS, the certificate was chosen by SNI: a request whose Host names a
 * different configured site came over a connection meant for another one
 * (HTTP/2 connection reuse). 421 tells the browser to open a fresh connection.
 */
function misdirected(servername: string | undefined, table: SiteTable, site: SiteState): boolean {
  if (servername === undefined || servername === '') return false;
  const sni = servername.toLowerCase();
  if (sni === table.adminHost) return true;
  const sniSite = table.byHost.get(sni);
  return sniSite !== undefined && sniSite !== site;
}

/** As `misdirected`, for the admin host: a connection opened for a site's name. */
function misdirectedAdmin(servername: string | undefined, table: SiteTable): boolean {
  if (servername === undefined || servername === '') return false;
  return table.byHost.has(servername.toLowerCase());
}
