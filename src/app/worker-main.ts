import { isBerthError } from '../errors.ts';
import { createLogger, flushLogger, logFormatFromEnv } from '../log/logger.ts';
import type { BoundSockets } from '../server/listeners.ts';
import { startServer } from './start-server.ts';
import { failStart, receiveStart, untilStopped } from './child-start.ts';
import { messageOf, type ListeningMessage, type LoadedMessage, type MetricsSnapshotMessage, type ReleaseMessage, type SocketMessage } from './ipc-messages.ts';
import { pushSinkOverIpc } from './push-relay.ts';

/**
 * A serving worker of `berth serve`: answers requests on the sockets the
 * supervisor passed, from the config it sent. Only the data plane is
 * imported here (server, static files, reading releases); deploys, the
 * state database, git and the ACME client live in the control plane.
 */
const stopped = untilStopped();
const { config, message, sockets } = await receiveStart('worker');
const logger = createLogger({ level: config.log.level, format: logFormatFromEnv(process.env) }).child({ worker: process.pid });
const joining = message.joining === true;
const bound = async (): Promise<BoundSockets> => {
  if (joining && process.connected) process.send?.({ berth: 'loaded' } satisfies LoadedMessage);
  const handles = await sockets();
  return { http: handles.get('http'), https: handles.get('https') };
};

let server;
try {
  server = await startServer(config, logger, {
    pushSink: pushSinkOverIpc(),
    sockets: bound,
    // Others serve meanwhile: this worker gets its sockets once it can answer from its releases.
    loadFirst: joining,
    // What this worker serves, for the control plane's "live means served".
    onRelease: (event) => {
      if (process.connected) process.send?.({ berth: 'release', ...event } satisfies ReleaseMessage);
    },
    adminHeadersTimeoutMs: adminHeadersTimeoutFromEnv(process.env),
  });
} catch (error) {
  // A described failure (certificate files that cannot be read, say) is not cured by a restart.
  if (isBerthError(error)) {
    await flushLogger(logger);
    failStart('worker', error.message, error.code);
  }
  throw error;
}
const running = server;
process.on('SIGHUP', () => {
  void running.releases.reloadAll();
  void running.certificates.reload();
});
process.on('message', (message: unknown, handle: unknown) => {
  if (messageOf(message, 'certs') !== undefined) void running.certificates.reload();
  const scrape = messageOf(message, 'metrics');
  if (scrape !== undefined && process.connected) {
    process.send?.({ berth: 'metrics-snapshot', id: String(scrape.id), snapshot: running.metrics?.snapshot() ?? { samples: [], histograms: [] } } satisfies MetricsSnapshotMessage);
  }
  if (messageOf(message, 'hand-sockets') !== undefined && process.connected) {
    // A copy: this worker accepts on them until its stop, the new one from now on.
    for (const [kind, listening] of running.listeners.listenHandles()) process.send?.({ berth: 'socket', kind } satisfies SocketMessage, listening as Parameters<NonNullable<typeof process.send>>[1]);
  }
  const connection = messageOf(message, 'connection');
  if (connection !== undefined && handle !== undefined && handle !== null) {
    running.listeners.adopt(connection.kind, handle as Parameters<typeof running.listeners.adopt>[1]);
  }
});
process.send?.({ berth: 'listening', http: running.listeners.httpPort, https: running.listeners.httpsPort } satisfies ListeningMessage);

const why = await stopped;
logger.info({ signal: why }, 'shutting down; waiting for requests in flight');
await running.stop();
logger.info('stopped');
await flushLogger(logger);
if (process.connected) process.disconnect();
process.exit(0);

/**
 * The tests' way to shorten the admin app's 30 s to start an answer without
 * waiting that long; deliberately not a config key, nor documented for users.
 */
function adminHeadersTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const value = Number(env.BERTH_TEST_ADMIN_HEADERS_TIMEOUT_MS);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}
