import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { BerthError } from '../errors.ts';
import type { ResolvedServer } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { RequestHandler } from './request-handler.ts';
import type { StreamHandler } from './stream-handler.ts';

/** Hears each TLS handshake's outcome, for the metrics (server/serving-metrics.ts). */
export interface HandshakeCounts {
  tlsHandshakes: number;
  tlsFailures: number;
}

/** Where a listener gets a certificate for a name; the seam the ACME manager fills later. */
export interface CertificateSource {
  /** The context for an SNI name; undefined means the default one. */
  contextFor(servername: string): SecureContext | undefined;
  readonly defaultCert: { cert: string; key: string };
}

export interface Listeners {
  /** Bound ports (useful when the config asked for port 0). */
  readonly httpPort: number | undefined;
  readonly httpsPort: number | undefined;
  /** Serves a connection another process accepted on one of the ports (see app/listen-sockets.ts). */
  adopt(kind: 'http' | 'https', socket: Socket): void;
  /** Stops accepting, lets in-flight requests finish, closes everything after `timeoutMs`. */
  close(timeoutMs: number): Promise<void>;
  /**
   * The listening sockets' own handles, by port, while listening: what
   * `child.send` passes to another process as the same socket (a reload's
   * new worker takes over the old one's, keeping the connections that wait
   * in its queue).
   */
  listenHandles(): Map<'http' | 'https', object>;
}

/**
 * Listening sockets a parent process bound and passed over IPC (a server,
 * or its raw handle as `child.send` delivers one): the listeners take them
 * over instead of binding `server.http_port` and `server.https_port`.
 */
export interface BoundSockets {
  http?: ListenHandle;
  https?: ListenHandle;
}

/** What `net.Server.listen(handle)` accepts: a server, or an object with a `_handle` or `fd`. */
export type ListenHandle = NetServer | object;

/**
 * Starts the plain HTTP listener and the TLS listener (HTTP/2 with ALPN,
 * HTTP/1.1 fallback). `plain` answers the first, `request` and `stream` the
 * second's HTTP/1.1 and HTTP/2 requests.
 */
export async function startListeners(
  server: ResolvedServer,
  handlers: { plain: RequestHandler; request: RequestHandler; stream: StreamHandler },
  certificates: CertificateSource,
  logger: Logger,
  bound: BoundSockets = {},
  handshakes?: HandshakeCounts,
): Promise<Listeners> {
  const h1 = server.httpPort === false ? undefined : createPlain(server, handlers.plain);
  const h2 = server.httpsPort === false ? undefined : createTls(server, handlers, certificates, logger.child({ kind: 'client' }), handshakes);
  const h1Port = h1 === undefined ? undefined : await listen(h1.server, server.host, server.httpPort as number, 'http_port', bound.http);
  let h2Port: number | undefined;
  try {
    h2Port = h2 === undefined ? undefined : await listen(h2.server, server.host, server.httpsPort as number, 'https_port', bound.https);
  } catch (error) {
    h1?.server.close();
    throw error;
  }
  // Connections the supervisor accepted and passed on (shared sockets): net does not count them among a
  // server's connections, so its close would not wait for them, and a worker stopping during a reload
  // would exit with one unanswered. Each is kept here until it closes.
  const adopted = new Set<Socket>();
  return {
    httpPort: h1Port,
    httpsPort: h2Port,
    adopt(kind, socket) {
      const target = kind === 'http' ? h1?.server : h2?.server;
      if (target === undefined) {
        socket.destroy();
        return;
      }
      adopted.add(socket);
      socket.once('close', () => adopted.delete(socket));
      target.emit('connection', socket);
    },
    async close(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      await Promise.all([h1?.close(timeoutMs), h2?.close(timeoutMs)]);
      // One passed on as the stop began gets its answer (its connection then closes, see createPlain) within the same deadline.
      while (adopted.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      for (const socket of adopted) socket.destroy();
    },
    listenHandles() {
      const handles = new Map<'http' | 'https', object>();
      for (const [kind, listener] of [['http', h1?.server], ['https', h2?.server]] as const) {
        const handle = (listener as unknown as { _handle?: object | null } | undefined)?._handle;
        if (handle !== undefined && handle !== null) handles.set(kind, handle);
      }
      return handles;
    },
  };
}

const ignore = (): void => undefined;

interface Closable<S> {
  server: S;
  close(timeoutMs: number): Promise<void>;
}

function createPlain(options: ResolvedServer, handler: RequestHandler): Closable<HttpServer> {
  const server = createHttpServer(
    {
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.idleTimeoutMs,
      maxHeaderSize: options.maxHeaderBytes,
      connectionsCheckingInterval: Math.min(1000, options.headersTimeoutMs),
      requireHostHeader: false,
    },
    handler as unknown as Parameters<typeof createHttpServer>[1],
  );
  server.maxConnections = options.maxConnections;
  server.timeout = options.idleTimeoutMs;
  let closing = false;
  // A request that arrives once the stop has begun (on a connection accepted just before, or passed on by the
  // supervisor) is answered, and its connection closed after the answer instead of kept for another.
  server.prependListener('request', (_req, res) => {
    if (closing) res.shouldKeepAlive = false;
  });
  return {
    server,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        closing = true;
        // Kept referenced: the stop must end by the deadline even if a close
        // callback never comes, and never leave the process with nothing to wait on.
        const force = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, timeoutMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

function createTls(
  options: ResolvedServer,
  { request: handler, stream: streamHandler }: { request: RequestHandler; stream: StreamHandler },
  certificates: CertificateSource,
  clientLog: Logger,
  handshakes: HandshakeCounts | undefined,
): Closable<Http2SecureServer> {
  // HTTP/1.1 connections over TLS: count requests in flight per socket, so a
  // shutdown can close idle ones at once and busy ones after their response.
  const busy = new Map<Socket, number>();
  let closing = false;
  // The HTTP/1.1 fallback inside the HTTP/2 server has no headers timeout of
  // its own: a connection must deliver its first request's headers in time
  // (later requests on it are bounded by the idle timeout).
  const firstRequestDeadline = new Map<Socket, NodeJS.Timeout>();
  const tracked = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const socket = req.socket as Socket & { alpnProtocol?: string | false };
    if (socket.alpnProtocol !== 'h2') {
      const deadline = firstRequestDeadline.get(socket);
      if (deadline !== undefined) {
        clearTimeout(deadline);
        firstRequestDeadline.delete(socket);
      }
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      res.on('close', () => {
        const left = (busy.get(socket) ?? 1) - 1;
        if (left > 0) busy.set(socket, left);
        else {
          busy.delete(socket);
          if (closing) socket.end();
        }
      });
    }
    handler(req as never, res as never);
  };
  const server = createSecureServer(
    {
      allowHTTP1: true,
      cert: certificates.defaultCert.cert,
      key: certificates.defaultCert.key,
      minVersion: 'TLSv1.2',
      SNICallback: (servername, callback) => callback(null, certificates.contextFor(servername)),
      handshakeTimeout: options.headersTimeoutMs,
      maxSessionMemory: 10,
      settings: {
        maxHeaderListSize: options.maxHeaderBytes,
        maxConcurrentStreams: 128,
      },
      // HTTP/1.1 over TLS gets the same limits as plain HTTP.
      maxHeaderSize: options.maxHeaderBytes,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.idleTimeoutMs,
    } as Parameters<typeof createSecureServer>[0],
    tracked,
  );
  // The request listener above is for HTTP/1.1 connections; Node also hooks
  // it to every HTTP/2 stream through compatibility objects. HTTP/2 streams
  // are answered directly instead.
  server.removeAllListeners('stream');
  server.on('stream', streamHandler);
  server.maxConnections = options.maxConnections;
  server.setTimeout(options.idleTimeoutMs);

  const sessions = new Set<ServerHttp2Session>();
  const sockets = new Set<Socket>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    // Node already reports session errors as 'sessionError' below; this
    // listener makes sure one can never be an uncaught 'error' event.
    session.on('error', ignore);
  });
  // What clients cause (protocol errors, floods Node cuts off, failed TLS
  // handshakes) is theirs: the connection is closed, the process carries on,
  // and it is logged at debug level only so a client cannot fill the log.
  server.on('sessionError', (error: NodeJS.ErrnoException) => clientLog.debug({ code: error.code }, 'HTTP/2 session error; session closed'));
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    clientLog.debug({ code: error.code }, 'TLS handshake failed; connection closed');
    if (handshakes !== undefined) handshakes.tlsFailures++;
    socket.destroy();
  });
  server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
    if (handshakes !== undefined) handshakes.tlsHandshakes++;
    sockets.add(socket);
    if (socket.alpnProtocol !== 'h2') {
      const deadline = setTimeout(() => socket.destroy(), options.headersTimeoutMs);
      deadline.unref();
      firstRequestDeadline.set(socket, deadline);
    }
    socket.on('close', () => {
      sockets.delete(socket);
      const deadline = firstRequestDeadline.get(socket);
      if (deadline !== undefined) clearTimeout(deadline);
      firstRequestDeadline.delete(socket);
    });
  });
  return {
    server,
    close: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
          resolve();
        }, timeoutMs);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        // GOAWAY: clients finish open streams and open no new ones here.
        for (const session of sessions) session.close();
        closing = true;
        for (const socket of sockets) {
          // An HTTP/1.1 connection with no request in flight can go now.
          if ((socket as Socket & { alpnProtocol?: string | false }).alpnProtocol !== 'h2' && !busy.has(socket)) socket.end();
        }
      }),
  };
}

function listen(server: HttpServer | Http2SecureServer, host: string, port: number, key: string, handle: ListenHandle | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => reject(listenError(error, host, port, key));
    server.once('error', onError);
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    };
    // A passed socket is already bound and listening: this takes over its handle.
    if (handle === undefined) server.listen(port, host, onListening);
    else server.listen(handle as NetServer, onListening);
  });
}

/** `E_LISTEN` for a failed bind of `server.<key>`, with what would fix it. */
export function listenError(error: NodeJS.ErrnoException, host: string, port: number, key: string): BerthError {
  const hint =
    error.code === 'EADDRINUSE'
      ? 'another program is using it; stop it or choose another port'
      : error.code === 'EACCES'
        ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE; grant it or choose a port above 1024'
        : error.message;
  return new BerthError('E_LISTEN', `Cannot listen on ${host} port ${port} (server.${key}): ${hint}`, { cause: error });
}
