import { createServer, type Server, type Socket } from 'node:net';
import type { ResolvedServer } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { listenError } from '../server/listeners.ts';

export type PortKind = 'http' | 'https';

/** One listening socket per configured port, as handed to a serving worker. */
export type WorkerSockets = Map<PortKind, Server>;

export interface ListenSockets {
  /** The bound port numbers (port 0 in the config resolved); undefined for a listener that is off. */
  readonly ports: Readonly<Record<PortKind, number | undefined>>;
  /** True when each worker gets its own sockets (SO_REUSEPORT); false when all share one per port. */
  readonly ownSockets: boolean;
  /**
   * Sockets for one (new) worker: freshly bound ones with SO_REUSEPORT, the
   * shared ones otherwise. Pass them with `child.send(message, socket)`, then
   * call `handedOver`.
   */
  forWorker(): Promise<WorkerSockets>;
  /** Closes this process's copy of a worker's own sockets once the worker has them. */
  handedOver(sockets: WorkerSockets): void;
  /** Closes every socket this process still holds. */
  close(): void;
  /**
   * The sockets for another `[server]` (a reload): a port whose address and
   * number stay is kept as it is (the same sockets, or the same port for the
   * workers' own), any other is bound anew, with the same checks as at
   * start. Throws `E_LISTEN` when one cannot be bound, and this set is then
   * unchanged. Close the one of the two that is no longer used: a socket
   * both hold stays open for the other.
   */
  rebind(server: ResolvedServer): Promise<ListenSockets>;
}

/** What a rebind carries over: per kept port, its number and (shared sockets) the socket itself. */
interface Inherited {
  ownSockets: boolean;
  kept: Map<PortKind, { port: number; shared: Server | undefined }>;
}

/**
 * The listening sockets of `berth serve`, bound by the supervisor (which may
 * be root, for ports below 1024) for workers that may not be.
 *
 * On Linux each worker gets its own socket per port, bound with
 * SO_REUSEPORT: the kernel spreads new connections over the workers' accept
 * queues, and no process relays them (nginx's `reuseport`). A worker that
 * dies takes its socket and the connections waiting in its queue with it;
 * its replacement gets new sockets.
 *
 * Between binding a worker's socket and closing its own copy, the supervisor
 * could itself accept a connection the kernel sent there: `onStray` gets it,
 * unread (the server pauses it), to pass to a worker. Where SO_REUSEPORT is
 * refused, every worker shares one socket per port and the supervisor keeps
 * its copy to give to replacements, so it accepts part of the connections
 * itself and passes them on the same way: this is said once at warn level.
 *
 * Limit: SO_REUSEPORT lets any process of the same user that sets it join a
 * port. So that a second Berth (or anything else) already on the port is an
 * `E_LISTEN` rather than a silent share of the traffic, each port is first
 * bound without it, then released and bound again with it; something that
 * takes the port in between joins unnoticed.
 */
/** Sets holding each shared socket: one kept by a rebind is held by the old set and the new until both are closed. */
const holders = new WeakMap<Server, number>();

function release(socket: Server): void {
  const left = (holders.get(socket) ?? 1) - 1;
  holders.set(socket, left);
  if (left <= 0) socket.close();
}

export async function bindListenSockets(
  server: ResolvedServer,
  logger: Logger,
  onStray: (kind: PortKind, socket: Socket) => void,
  /** Tests: act as a system that refuses SO_REUSEPORT, so the shared sockets are tried on Linux too. */
  refuseReusePort = false,
  inherited?: Inherited,
): Promise<ListenSockets> {
  const wanted: Array<[PortKind, number | false, string]> = [
    ['http', server.httpPort, 'http_port'],
    ['https', server.httpsPort, 'https_port'],
  ];
  const ports: Record<PortKind, number | undefined> = { http: undefined, https: undefined };
  const held = new Set<Server>();
  let ownSockets = inherited?.ownSockets ?? true;
  const bind = async (kind: PortKind, port: number, key: string, reusePort: boolean): Promise<Server> => {
    const socket = createServer({ pauseOnConnect: true }, (connection) => onStray(kind, connection));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, server.host, port, key)));
      socket.listen({ port, host: server.host, reusePort }, () => resolve());
    });
    held.add(socket);
    holders.set(socket, 1);
    return socket;
  };
  const shared = new Map<PortKind, Server>();
  try {
    for (const [kind, port, key] of wanted) {
      if (port === false) continue;
      const kept = inherited?.kept.get(kind);
      if (kept !== undefined) {
        ports[kind] = kept.port;
        if (kept.shared !== undefined) {
          shared.set(kind, kept.shared);
          held.add(kept.shared);
          holders.set(kept.shared, (holders.get(kept.shared) ?? 1) + 1);
        }
        continue;
      }
      // The probe: a plain bind fails if anything holds the port, and picks the port for 0.
      const probe = await bind(kind, port, key, false);
      const bound = (probe.address() as { port: number }).port;
      ports[kind] = bound;
      if (ownSockets) {
        await closeServer(probe);
        held.delete(probe);
        try {
          if (refuseReusePort) throw Object.assign(new Error('SO_REUSEPORT refused (test)'), { code: 'ENOPROTOOPT' });
          await bind(kind, bound, key, true).then(closeServer);
          continue;
        } catch (error) {
          if (!isRefusedOption(error)) throw error;
          ownSockets = false;
          logger.warn(
            { port: bound },
            'this system refuses SO_REUSEPORT: the workers share one socket per port, and the supervisor accepts some connections itself and passes them to a worker',
          );
          shared.set(kind, await bind(kind, bound, key, false));
        }
      } else {
        shared.set(kind, probe);
      }
    }
    // A refusal on the second port leaves the first one per-worker: share both.
    if (!ownSockets) {
      for (const [kind, , key] of wanted) {
        const port = ports[kind];
        if (port !== undefined && !shared.has(kind)) shared.set(kind, await bind(kind, port, key, false));
      }
    }
  } catch (error) {
    for (const socket of held) release(socket);
    throw error;
  }
  const self: ListenSockets = {
    ports,
    ownSockets,
    async forWorker() {
      if (!ownSockets) return new Map(shared);
      const sockets: WorkerSockets = new Map();
      try {
        for (const [kind, , key] of wanted) {
          const port = ports[kind];
          if (port !== undefined) sockets.set(kind, await bind(kind, port, key, true));
        }
      } catch (error) {
        for (const socket of sockets.values()) {
          held.delete(socket);
          release(socket);
        }
        throw error;
      }
      return sockets;
    },
    handedOver(sockets) {
      if (!ownSockets) return;
      for (const socket of sockets.values()) {
        held.delete(socket);
        release(socket);
      }
    },
    close() {
      for (const socket of held) release(socket);
      held.clear();
    },
    async rebind(next) {
      const kept: Inherited['kept'] = new Map();
      for (const [kind, port] of [['http', next.httpPort], ['https', next.httpsPort]] as const) {
        const before = kind === 'http' ? server.httpPort : server.httpsPort;
        const bound = ports[kind];
        if (port === false || bound === undefined || next.host !== server.host || port !== before) continue;
        kept.set(kind, { port: bound, shared: shared.get(kind) });
      }
      return bindListenSockets(next, logger, onStray, refuseReusePort, { ownSockets, kept });
    },
  };
  return self;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The platform does not do SO_REUSEPORT (Node refuses the option, or the kernel does). */
function isRefusedOption(error: unknown): boolean {
  const codes = [(error as NodeJS.ErrnoException).code, (error as { cause?: NodeJS.ErrnoException }).cause?.code];
  return codes.some((code) => code === 'ENOTSUP' || code === 'EINVAL' || code === 'ENOPROTOOPT' || code === 'ERR_INVALID_ARG_VALUE');
}
