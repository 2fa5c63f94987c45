import type { ServerNotices } from '../notify/server-notices.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { shellWord } from '../shell-quote.ts';
import { openServingCertificates, type ServingCertificates } from '../acme/certificates.ts';
import type { CertificateManager } from '../acme/certificate-manager.ts';
import { startListeners, type BoundSockets, type Listeners } from '../server/listeners.ts';
import { watchReleases, type ReleaseEvent, type ReleaseWatcher } from '../server/release-watcher.ts';
import { createRequestHandler } from '../server/request-handler.ts';
import { createStreamHandler } from '../server/stream-handler.ts';
import { createSiteTable, type SiteTable } from '../server/site-table.ts';
import type { PushSink } from '../server/webhook-route.ts';
import { createServingCaches, type ServingCaches } from '../server/reply-body.ts';
import { createPreparedCache, type PreparedCache } from '../static/prepared-file.ts';
import { ServingMetrics } from '../server/serving-metrics.ts';
import { createAdminProxy } from '../server/admin-proxy.ts';
import { adminSocketPath } from '../admin/admin-socket.ts';

export type { ReleaseEvent } from '../server/release-watcher.ts';

export interface RunningServer {
  readonly listeners: Listeners;
  readonly sites: SiteTable;
  readonly releases: ReleaseWatcher;
  /**
   * Resolves once every site's first release load has ended (loaded, none,
   * or failed to load; logged as `sites ready`). Until then the ports are
   * open but a site still loading answers 503 and health says "starting".
   */
  readonly ready: Promise<void>;
  readonly certificates: ServingCertificates;
  /** The ACME manager, when this process runs it. */
  readonly manager: CertificateManager | undefined;
  /** This process's file bytes in memory and open files, shared by every site and release (see `stats()` on each). */
  readonly caches: ServingCaches;
  /** This process's prepared answers, shared by every site and release. */
  readonly prepared: PreparedCache;
  /** This process's request counts; undefined when `[metrics]` is off. */
  readonly metrics: ServingMetrics | undefined;
  /** Graceful stop: no new connections, in-flight requests finish (up to the shutdown timeout). */
  stop(): Promise<void>;
}

/** Everything a serving process runs: site table, live releases, listeners, and (in the control plane) the ACME manager. Lives in app/ because it wires acme/ into the request path. */
export interface ServerOptions {
  /** Where verified webhook pushes go; without one, webhooks are answered 503. */
  pushSink?: PushSink;
  /** Run the ACME manager here (the one process that does, when ACME is on). */
  manageCertificates?: boolean;
  /** With `manageCertificates`: who hears of certificates about to expire and of failed orders ([[notify]]). */
  certificateNotices?: Pick<ServerNotices, 'certificateChecked' | 'renewalFailed'>;
  /**
   * Told each time a site's release finished loading (`ok`: requests now get
   * it) or failed to load (`ok` false: the previous one keeps serving), at
   * start and on every switch. How a deploy learns that it is served.
   */
  onRelease?: (event: ReleaseEvent) => void;
  /**
   * Sockets already bound by a parent process, or a function that returns
   * them once asked (after the first load, with `loadFirst`); without them
   * the ports in `config.server` are bound here.
   */
  sockets?: BoundSockets | (() => Promise<BoundSockets>);
  /**
   * Load every site's release before listening: for a worker joining others
   * that already serve, which answer meanwhile. `ready` is then resolved
   * when this resolves.
   */
  loadFirst?: boolean;
  /** How long the admin app has to start an answer (server/admin-proxy.ts); not a user setting, tests shorten it. */
  adminHeadersTimeoutMs?: number;
}

/**
 * Listens first: the ports open before any release is read, so ACME
 * challenges and `/_berth/health` answer at once, and a site whose release
 * is still loading answers 503 with Retry-After (route-request.ts) instead
 * of the connection being refused. Resolves once listening; `ready` once
 * every site's first load has ended.
 */
export async function startServer(config: ResolvedConfig, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  // Loaded only where the manager runs: a serving worker never loads the ACME client.
  const acme = options.manageCertificates === true ? await import('../acme/certificate-manager-for.ts') : undefined;
  if (acme !== undefined && config.acme.directoryUrl !== undefined) (await import('../acme/acme-session.ts')).preloadAcme();
  const started = performance.now();
  const sites = createSiteTable(config.sites, config.admin.domain);
  const bound: { httpsPort: number | undefined } = { httpsPort: undefined };
  const certificates = await openServingCertificates(config, logger);
  const caches = createServingCaches(config.server.memoryCacheBytes);
  const prepared = createPreparedCache();
  // Counted only when something can read the counts: with metrics off, the request path does not count at all.
  const metrics = config.metrics.listen === undefined ? undefined : new ServingMetrics(
    sites.sites.map((site) => site.config.name),
    [...new Set(config.sites.flatMap((site) => (site.webhook === undefined ? [] : [site.webhook.forge])))],
  );
  const admin = config.admin.domain === undefined
    ? undefined
    : createAdminProxy({ socketPath: adminSocketPath(config.dataDir), headersTimeoutMs: options.adminHeadersTimeoutMs }, logger);
  const handlerOptions = { accessLog: config.server.accessLog, pushSink: options.pushSink, caches, metrics, admin };
  const watch = (): Promise<ReleaseWatcher> => watchReleases(sites, { dataDir: config.dataDir, prepared, onRelease: options.onRelease }, logger);
  const whenLoaded = (watcher: ReleaseWatcher): Promise<void> =>
    watcher.ready.then(() => {
      for (const site of sites.sites) {
        if (site.release === undefined) {
          logger.warn({ site: site.config.name }, `site has no release yet; publish one with \`berth publish <dir> --site ${site.config.name} --config ${shellWord(config.configPath)}\``);
        }
      }
      logger.info({ sites: sites.sites.length, ms: Math.round(performance.now() - started) }, 'sites ready');
    });
  // A joining worker loads first (others serve meanwhile); any other process listens first.
  let releases: ReleaseWatcher | undefined;
  let ready: Promise<void> | undefined;
  if (options.loadFirst === true) {
    releases = await watch();
    try {
      await whenLoaded(releases);
    } catch (error) {
      releases.close();
      throw error;
    }
    ready = Promise.resolve();
  }
  let listeners: Listeners;
  try {
    listeners = await startListeners(
      config.server,
      {
        plain: createRequestHandler(sites, logger, {
          ...handlerOptions,
          challenges: certificates.challenges,
          httpsRedirectPort: config.server.httpsRedirect ? () => config.server.httpsRedirectPort ?? bound.httpsPort : undefined,
        }),
        request: createRequestHandler(sites, logger, { ...handlerOptions, secure: true }),
        stream: createStreamHandler(sites, logger, handlerOptions),
      },
      certificates.source,
      logger,
      typeof options.sockets === 'function' ? await options.sockets() : options.sockets,
      metrics,
    );
  } catch (error) {
    releases?.close();
    throw error;
  }
  bound.httpsPort = listeners.httpsPort;
  logger.info(
    { http: listeners.httpPort, https: listeners.httpsPort, host: config.server.host, sites: sites.sites.map((site) => site.config.name) },
    'listening',
  );
  if (releases === undefined) {
    try {
      releases = await watch();
    } catch (error) {
      await listeners.close(0);
      throw error;
    }
  }
  ready ??= whenLoaded(releases);
  const serving = certificates;
  const manager = acme !== undefined
    ? acme.createManagerFor(config, logger, {
        ...(serving.challenges === undefined ? {} : { challenges: serving.challenges }),
        httpPort: listeners.httpPort,
        onCertificate: (plan, stored) => serving.install(plan, stored),
        ...(options.certificateNotices === undefined
          ? {}
          : { onChecked: options.certificateNotices.certificateChecked, onRenewalFailed: options.certificateNotices.renewalFailed }),
      })
    : undefined;
  manager?.start();
  return {
    listeners,
    sites,
    releases,
    ready,
    certificates: serving,
    manager,
    caches,
    prepared,
    metrics,
    async stop() {
      releases.close();
      // The manager first: an order in flight still needs the HTTP listener for its challenge.
      await manager?.stop();
      await listeners.close(config.server.shutdownTimeoutMs);
      await caches.files.close();
    },
  };
}
