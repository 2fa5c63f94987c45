/**
 * The one shape every part of Berth reads. Produced by `loadConfig` from a
 * `berth.toml`: fully defaulted, paths absolute, secrets resolved, frozen.
 * Nothing downstream looks at the raw TOML.
 */

import type { ListenAddress } from './listen-address.ts';
import type { AuthUser } from '../static/basic-auth.ts';

/** A secret value that refuses to be printed or logged by accident. */
export interface Secret {
  /** The secret itself; call only where it is used (a signature check). */
  reveal(): string;
  /** Where it came from, e.g. `env BLOG_WEBHOOK_SECRET` or `file /run/secrets/x`. */
  readonly source: string;
}

export type Forge = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'bitbucket' | 'generic';

export interface ResolvedBuild {
  command: string | undefined;
  publish: string | undefined;
  environment: Readonly<Record<string, string>>;
  /** Longest a build may run, in ms. */
  timeoutMs: number;
  /** Most processes and threads of the build at once (RLIMIT_NPROC of its uid). */
  maxProcesses: number;
  /** Largest publish directory, in bytes (sum of file sizes). */
  maxOutputBytes: number;
}

export interface ResolvedWebhook {
  forge: Forge;
  secret: Secret;
  /** Header carrying the signature, for the `generic` forge. */
  signatureHeader: string;
}

export interface ResolvedSite {
  name: string;
  /** Lower-cased host names; the first is the primary one. */
  domains: readonly string[];
  repo: string | undefined;
  branch: string;
  build: ResolvedBuild;
  webhook: ResolvedWebhook | undefined;
  /** How many releases to keep; the active one is never deleted. */
  retain: number;
  /** SSH key for a private repository (absolute path). */
  deployKeyFile: string | undefined;
  /** HTTPS access token for a private repository, from the environment. */
  token: Secret | undefined;
  submodules: boolean;
  /** Poll the repository this often (ms); undefined when polling is off. */
  pollIntervalMs: number | undefined;
  /** The Strict-Transport-Security value for HTTPS responses; undefined when off. */
  hsts: string | undefined;
  /**
   * Users of `[sites.basic_auth]`, passwords in their stored (hashed) form;
   * undefined when the whole site is open.
   */
  basicAuth?: readonly AuthUser[] | undefined;
  /** `[sites.status]`: commit statuses on the forge; undefined when off. */
  status?: ResolvedStatus | undefined;
}

export type StatusForge = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'bitbucket';

export interface ResolvedStatus {
  /** As written, or known from the repo URL's host. */
  forge: StatusForge;
  /** The API base, no trailing slash: as written, or the forge's usual address. */
  api: string;
  /** The repository on the forge: `owner/name`, or GitLab's `group/sub/project`. */
  repo: string;
  token: Secret;
}

export type NotifyEventType = 'deploy.failed' | 'deploy.succeeded' | 'deploy.recovered' | 'certificate.renewal_failed' | 'certificate.expiring';
export type NotifyKind = 'webhook' | 'slack' | 'discord' | 'ntfy' | 'email';

/** One `[[notify]]` table. */
export interface ResolvedNotify {
  name: string;
  kind: NotifyKind;
  events: readonly NotifyEventType[];
  /** Undefined: every site. */
  sites: readonly string[] | undefined;
  expiringDays: number;
  allowPrivate: boolean;
  /** webhook, slack, discord, ntfy. A secret: chat webhook URLs carry their token. */
  url?: Secret | undefined;
  /** webhook: the Standard Webhooks signing secret (`whsec_...`). */
  secret?: Secret | undefined;
  /** ntfy: a Bearer token. */
  token?: Secret | undefined;
  email?: ResolvedEmail | undefined;
}

export interface ResolvedEmail {
  host: string;
  port: number;
  security: 'starttls' | 'tls' | 'none';
  username?: string | undefined;
  password?: Secret | undefined;
  from: string;
  to: readonly string[];
  /** Extra CA certificates (PEM) to trust for the server; absolute path. */
  caFile?: string | undefined;
}

export interface ResolvedDeploy {
  /** Most builds running at once across all sites. */
  concurrency: number;
  /** First uid of the range sites build as when Berth is root (see deploy/build-user.ts). */
  buildUidBase: number;
  /** Build as Berth's own user when builds cannot have a uid of their own (see deploy/local-build-host.ts). */
  allowUnisolatedBuilds: boolean;
  /** The retention policy of the deploy history; see `pruneHistory`. */
  history: ResolvedHistory;
}

export interface ResolvedHistory {
  /** Newest deploys kept per site, however old. */
  keepDeploys: number;
  /** Deploys younger than this many days are kept, however many. */
  keepDays: number;
  /** Days a webhook delivery id is remembered. */
  keepDeliveriesDays: number;
}

export interface ResolvedTls {
  /** Certificate and key files to serve; when absent a self-signed one is generated. */
  certFile: string | undefined;
  keyFile: string | undefined;
}

export interface ResolvedServer {
  /** Address to bind, e.g. `::` or `127.0.0.1`. */
  host: string;
  /** `false`: no listener; 0: any free port (the bound one is logged). */
  httpPort: number | false;
  httpsPort: number | false;
  tls: ResolvedTls;
  /** Milliseconds allowed to receive the request headers. */
  headersTimeoutMs: number;
  /** Milliseconds allowed to receive the whole request. */
  requestTimeoutMs: number;
  /** Milliseconds an idle keep-alive connection stays open. */
  idleTimeoutMs: number;
  /** Largest request header block accepted, in bytes. */
  maxHeaderBytes: number;
  /** Most concurrent connections per listener. */
  maxConnections: number;
  /** Bytes of file bodies each serving worker may hold in memory; 0: none (see server/body-cache.ts). */
  memoryCacheBytes: number;
  /** Milliseconds SIGTERM waits for in-flight requests before closing sockets. */
  shutdownTimeoutMs: number;
  /** Serving processes (`auto` resolved to the number of cores). */
  workers: number;
  /** One log line per request. */
  accessLog: boolean;
  /** `[server] user`: the account Berth's own processes drop to when it starts as root (see app/service-user.ts). */
  user: string;
  /** Plain HTTP requests (but ACME challenges and `/_berth/`) are redirected to HTTPS. */
  httpsRedirect: boolean;
  /** The port written in those redirects; undefined: the bound HTTPS port. */
  httpsRedirectPort: number | undefined;
}

export interface ResolvedAcme {
  email: string | undefined;
  /** `off`, `letsencrypt`, `letsencrypt-staging`, or a directory URL, as written. */
  directory: string;
  /**
   * The directory URL when Berth obtains certificates; undefined when ACME
   * is off, certificates come from `server.tls`, or a listener it needs is off.
   */
  directoryUrl: string | undefined;
  eab: { kid: string; hmacKey: Secret } | undefined;
  profile: string | undefined;
  /** Extra roots to trust for the ACME server (absolute path). */
  caFile: string | undefined;
  /** How often certificates are checked, in ms (plus up to a tenth of jitter). */
  checkIntervalMs: number;
  /** First wait after a failed order, in ms; doubles up to six hours. */
  retryDelayMs: number;
}

export interface ResolvedLog {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}

export interface ResolvedMetrics {
  /** Where the supervisor serves `GET /_berth/metrics`; undefined: metrics are off, and nothing is counted. */
  listen: ListenAddress | undefined;
  /** The bearer token a scrape must send; undefined: none asked (only allowed on a loopback address). */
  token: Secret | undefined;
}

export interface ResolvedAdmin {
  /** The host the dashboard and the API answer on (lower case); undefined: neither is served. */
  domain: string | undefined;
}

export interface ResolvedConfig {
  /** Absolute path of the file the config came from. */
  configPath: string;
  /** Absolute. */
  dataDir: string;
  server: ResolvedServer;
  acme: ResolvedAcme;
  log: ResolvedLog;
  metrics: ResolvedMetrics;
  admin: ResolvedAdmin;
  deploy: ResolvedDeploy;
  sites: readonly ResolvedSite[];
  /** `[[notify]]` channels, in file order. */
  notify: readonly ResolvedNotify[];
}
