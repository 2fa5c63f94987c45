import { rename, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.ts';
import { adminSocketPath } from './admin-socket.ts';

export interface AdminServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Open connections at once: the workers forward a few browsers' and scripts' requests, not the sites' traffic. */
const MAX_CONNECTIONS = 256;

/**
 * Serves the admin app on `data_dir/admin.sock` for the workers to forward
 * to. The socket is bound under a name of its own, created 0600 (the umask
 * applies to bind), then renamed over admin.sock in one step: a control
 * plane that replaces another (a reload) takes the name without a moment
 * where none answers, and the old one's close removes only its own name.
 */
export async function startAdminServer(dataDir: string, app: (req: IncomingMessage, res: ServerResponse) => void, logger: Logger): Promise<AdminServer> {
  const path = adminSocketPath(dataDir);
  const bound = `${path}.${process.pid}`;
  await unlink(bound).catch(() => undefined);
  const open = new Set<Socket>();
  const server: Server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 }, app);
  server.maxConnections = MAX_CONNECTIONS;
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  server.on('clientError', (_error, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const mask = process.umask(0o177);
    try {
      server.listen(bound, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(mask);
    }
  });
  await rename(bound, path);
  server.on('error', (error) => logger.warn({ err: error, path }, 'error on the admin socket'));
  logger.debug({ path }, 'admin app listening');
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        // Followed logs stay open for minutes: they end with the process.
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
