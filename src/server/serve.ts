import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { loadStaticCertificates } from '../tls/static-certificates.ts';
import { startListeners, type Listeners } from './listeners.ts';
import { watchReleases, type ReleaseWatcher } from './release-watcher.ts';
import { createRequestHandler } from './request-handler.ts';
import { createStreamHandler } from './stream-handler.ts';
import { createSiteTable, type SiteTable } from './site-table.ts';
import type { PushSink } from './webhook-route.ts';

export interface RunningServer {
  readonly listeners: Listeners;
  readonly sites: SiteTable;
  readonly releases: ReleaseWatcher;
  /** Graceful stop: no new connections, in-flight requests finish (up to the shutdown timeout). */
  stop(): Promise<void>;
}

/** Everything `berth serve` runs: site table, live releases, listeners. */
export interface ServerOptions {
  /** Where verified webhook pushes go; without one, webhooks are answered 503. */
  pushSink?: PushSink;
}

export async function startServer(config: ResolvedConfig, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const sites = createSiteTable(config.sites);
  const releases = await watchReleases(sites, { dataDir: config.dataDir, memoryFileMaxBytes: config.server.memoryFileMaxBytes }, logger);
  for (const site of sites.sites) {
    if (site.release === undefined) {
      logger.warn({ site: site.config.name }, `site has no release yet; publish one with \`berth publish <dir> --site ${site.config.name}\``);
    }
  }
  let listeners: Listeners;
  try {
    const certificates = await loadStaticCertificates(config);
    const handlerOptions = { accessLog: config.server.accessLog, pushSink: options.pushSink };
    listeners = await startListeners(
      config.server,
      { request: createRequestHandler(sites, logger, handlerOptions), stream: createStreamHandler(sites, logger, handlerOptions) },
      certificates,
    );
  } catch (error) {
    releases.close();
    throw error;
  }
  logger.info(
    { http: listeners.httpPort, https: listeners.httpsPort, host: config.server.host, sites: sites.sites.map((site) => site.config.name) },
    'listening',
  );
  return {
    listeners,
    sites,
    releases,
    async stop() {
      releases.close();
      await listeners.close(config.server.shutdownTimeoutMs);
    },
  };
}
