import cluster from 'node:cluster';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import type { ResolvedConfig } from '../../config/resolved-config.ts';
import { createLogger, flushLogger, type Logger } from '../../log/logger.ts';
import { startServer } from '../../server/serve.ts';
import { shutdownSignal } from '../../server/shutdown-signal.ts';
import { runWorkerPool } from '../../server/worker-pool.ts';
import { startControlPlane } from '../../deploy/control-plane.ts';
import { workerPushSink } from '../../server/push-ipc.ts';
import type { PushSink } from '../../server/webhook-route.ts';
import { configOption, type Command } from '../command.ts';

const serve: Command = {
  name: 'serve',
  summary: 'run the server: HTTP and HTTPS listeners for every configured site',
  usage: 'serve [--config FILE]',
  details: `Serves each site's live release on server.http_port and server.https_port
(HTTP/2 with HTTP/1.1 fallback), routing by host name. With server.workers
above 1, that many processes share the ports. Logs are JSON lines on
standard output.

With ACME on (acme.directory), every site's public domains get a
certificate: HTTPS answers at once with a self-signed certificate, and the
real one replaces it as soon as the CA has issued it. See \`berth certs\`.

Signals:
  SIGTERM, SIGINT    stop accepting, let requests in flight finish, exit 0
  SIGHUP             re-read every site's live release and the stored
                     certificates now (publish, rollback and \`berth certs
                     --renew\` are noticed without it)

Options:
  --config, -c FILE  the config file (default ./berth.toml, then $BERTH_CONFIG)`,
  options: { ...configOption },
  async run(args, io) {
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { writableDataDir: true });
    const logger = createLogger({ level: config.log.level });
    try {
      if (config.server.workers > 1 && cluster.isPrimary) return await runWorkerPool(config, logger);
      return await serveHere(config, cluster.isWorker ? logger.child({ worker: process.pid }) : logger);
    } finally {
      await flushLogger(logger);
      // A worker's IPC channel to the primary would keep it alive. Disconnecting
      // through the worker object keeps its exit code (process.disconnect() exits 0).
      cluster.worker?.disconnect();
    }
  },
};

/** Serves in this process until SIGTERM or SIGINT; a lone process also runs the deploys. */
async function serveHere(config: ResolvedConfig, logger: Logger): Promise<number> {
  const signal = shutdownSignal();
  const control = cluster.isWorker ? undefined : await startControlPlane(config, logger);
  const pushSink: PushSink = control === undefined ? workerPushSink() : async (event) => control.deployer.receivePush(event);
  let server;
  try {
    server = await startServer(config, logger, { pushSink, manageCertificates: !cluster.isWorker });
  } catch (error) {
    await control?.stop();
    throw error;
  }
  const running = server;
  const onHup = (): void => {
    void running.releases.reloadAll();
    void running.certificates.reload();
  };
  // In a worker: the primary obtained a certificate.
  const onMessage = (message: { berth?: unknown } | null): void => {
    if (message?.berth === 'certs') void running.certificates.reload();
  };
  process.on('SIGHUP', onHup);
  process.on('message', onMessage);
  const received = await signal.received;
  logger.info({ signal: received }, 'shutting down; waiting for requests in flight');
  process.off('SIGHUP', onHup);
  process.off('message', onMessage);
  await server.stop();
  await control?.stop();
  signal.dispose();
  logger.info('stopped');
  return 0;
}

export default serve;
