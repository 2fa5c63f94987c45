import cluster, { type Worker } from 'node:cluster';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { createManagerFor, openServingCertificates } from '../acme/certificates.ts';
import type { CertificateManager } from '../acme/certificate-manager.ts';
import { shutdownSignal } from './shutdown-signal.ts';
import { startControlPlane } from '../deploy/control-plane.ts';
import { servePushesFromWorkers } from './push-ipc.ts';

/** A worker that dies this soon after starting counts towards a crash loop. */
const EARLY_EXIT_MS = 5_000;
const MAX_EARLY_EXITS = 5;

/**
 * Runs `config.server.workers` serving processes (node:cluster; they share
 * the listening sockets) and supervises them: a worker that dies is replaced,
 * signals are forwarded, and a stop waits for every worker to drain. The
 * primary serves nothing itself. Resolves with the exit code.
 */
export async function runWorkerPool(config: ResolvedConfig, logger: Logger): Promise<number> {
  // Made once here, so every worker presents the same stand-in certificate.
  await openServingCertificates(config, logger);
  const signal = shutdownSignal();
  const control = await startControlPlane(config, logger);
  const stopServingPushes = servePushesFromWorkers(control.deployer);
  let stopping = false;
  let earlyExits = 0;
  let lastEarlyExit = 0;
  let exitCode = 0;
  const started = new Map<Worker, number>();
  const spawn = (): void => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
  };
  // Certificates are ordered here, once, after a worker answers on the HTTP
  // port (the CA's challenge requests go there); workers load each new one
  // from storage when told.
  let manager: CertificateManager | undefined;
  const onListening = (_worker: Worker, address: { port: number }): void => {
    if (manager !== undefined || (config.server.httpPort !== 0 && address.port !== config.server.httpPort)) return;
    manager = createManagerFor(config, logger, {
      httpPort: address.port,
      onCertificate: () => {
        for (const worker of started.keys()) if (worker.isConnected()) worker.send({ berth: 'certs' });
      },
    });
    manager?.start();
  };
  cluster.on('listening', onListening);

  const allExited = new Promise<number>((resolve) => {
    cluster.on('exit', (worker, code, killedBy) => {
      const born = started.get(worker) ?? 0;
      started.delete(worker);
      if (stopping) {
        if (started.size === 0) resolve(exitCode);
        return;
      }
      logger.error({ worker: worker.process.pid, code, signal: killedBy }, 'worker exited; starting another');
      if (Date.now() - born < EARLY_EXIT_MS) {
        // Early exits count towards giving up only when they come in a run.
        if (Date.now() - lastEarlyExit > 10 * EARLY_EXIT_MS) earlyExits = 0;
        lastEarlyExit = Date.now();
        earlyExits++;
      }
      if (earlyExits >= MAX_EARLY_EXITS) {
        logger.fatal('workers keep exiting right after start; giving up (see the errors above)');
        stopping = true;
        exitCode = 1;
        for (const other of started.keys()) other.process.kill('SIGTERM');
        if (started.size === 0) resolve(exitCode);
        return;
      }
      spawn();
    });
  });
  const onHup = (): void => {
    for (const worker of started.keys()) worker.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHup);
  for (let i = 0; i < config.server.workers; i++) spawn();
  logger.info({ workers: config.server.workers }, 'started worker processes');

  const outcome = await Promise.race([signal.received.then(() => 'signal' as const), allExited.then((code) => code)]);
  if (outcome === 'signal') {
    stopping = true;
    logger.info('shutting down workers; waiting for requests in flight');
    for (const worker of started.keys()) worker.process.kill('SIGTERM');
    await (started.size === 0 ? Promise.resolve(0) : allExited);
  }
  process.off('SIGHUP', onHup);
  cluster.off('listening', onListening);
  await manager?.stop();
  stopServingPushes();
  await control.stop();
  signal.dispose();
  logger.info('stopped');
  return typeof outcome === 'number' ? outcome : 0;
}
