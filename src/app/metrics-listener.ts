import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ListenAddress } from '../config/listen-address.ts';
import type { Secret } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { EXPOSITION_CONTENT_TYPE, renderExposition } from '../metrics/exposition.ts';
import { MetricsTotals } from '../metrics/metrics-snapshot.ts';
import type { MetricsRequestMessage, MetricsSnapshotMessage } from './ipc-messages.ts';

export const METRICS_PATH = '/_berth/metrics';

/** How long a scrape waits for each process's counts; one that has not answered by then is left out (and counted missing). */
export const SCRAPE_WAIT_MS = 2_000;
/** Scrapes answered at once; more get 503 (a scrape asks every process, so they are not free). */
const MAX_SCRAPES = 4;
const MAX_CONNECTIONS = 64;

/** A process a scrape asks for its counts: a serving worker or the control plane. */
export interface Scraped {
  readonly connected: boolean;
  send(message: MetricsRequestMessage): unknown;
}

export interface MetricsListenerOptions {
  address: ListenAddress;
  /** The token a scrape must bear, read at each scrape (a reload changes it); undefined: none asked. */
  token(): Secret | undefined;
  /** The processes to ask now: the workers that serve and the control plane, when ready. */
  processes(): Scraped[];
  logger: Logger;
}

export interface MetricsListener {
  /** The bound port (the one the system picked for port 0). */
  readonly port: number;
  /** A `metrics-snapshot` message from a child: passed to the scrape waiting for it. */
  deliver(message: MetricsSnapshotMessage): void;
  close(): Promise<void>;
}

/**
 * The supervisor's metrics listener: `GET /_berth/metrics` asks every
 * serving worker and the control plane for its counts over IPC, waits up to
 * `SCRAPE_WAIT_MS`, sums them (metrics-snapshot.ts) and answers in the
 * Prometheus text format. It lives in the supervisor because it outlives
 * every child: a reload or a crash replaces processes, not the listener.
 *
 * As hostile as the site listeners: anything but that path is 404, header
 * and request timeouts and sizes are small, connections are capped, and a
 * client's errors close its connection only. With a token, a request
 * without `Authorization: Bearer <token>` is 401; the comparison takes the
 * same time whatever the token sent.
 */
export async function listenMetrics(options: MetricsListenerOptions): Promise<MetricsListener> {
  const waiting = new Map<string, (snapshot: unknown) => void>();
  let scrapes = 0;
  const gather = async (): Promise<string> => {
    const totals = new MetricsTotals();
    let missing = 0;
    let answered = 0;
    await Promise.all(
      options.processes().map(
        (child) =>
          new Promise<void>((resolve) => {
            const id = randomUUID();
            const timer = setTimeout(() => {
              waiting.delete(id);
              missing++;
              resolve();
            }, SCRAPE_WAIT_MS);
            waiting.set(id, (snapshot) => {
              clearTimeout(timer);
              waiting.delete(id);
              answered++;
              totals.add(snapshot);
              resolve();
            });
            try {
              if (!child.connected) throw new Error('not connected');
              child.send({ berth: 'metrics', id });
            } catch {
              // Gone between the list and the send: as good as not answering, without the wait.
              clearTimeout(timer);
              waiting.delete(id);
              missing++;
              resolve();
            }
          }),
      ),
    );
    totals.set('berth_metrics_scrape_missing_processes', missing);
    totals.set('berth_metrics_scrape_processes', answered);
    return renderExposition(totals);
  };

  const answer = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'cache-control': 'no-store', ...headers });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== METRICS_PATH) return answer(res, 404, 'Not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(res, 405, 'Method not allowed\n', { allow: 'GET, HEAD' });
    const token = options.token();
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      return answer(res, 401, 'A bearer token is needed: Authorization: Bearer <[metrics] token>\n', { 'www-authenticate': 'Bearer realm="berth metrics"' });
    }
    if (scrapes >= MAX_SCRAPES) return answer(res, 503, 'Too many scrapes at once\n', { 'retry-after': '1' });
    scrapes++;
    void gather()
      .then((text) => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((error: unknown) => {
        options.logger.error({ err: error }, 'metrics scrape failed');
        if (!res.headersSent && !res.destroyed) answer(res, 500, 'Internal error\n');
        else res.destroy();
      })
      .finally(() => scrapes--);
  };

  const server = createServer(
    { maxHeaderSize: 8192, headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000, noDelay: true },
    (req, res) => {
      try {
        handle(req, res);
      } catch (error) {
        options.logger.error({ err: error }, 'metrics request failed');
        res.destroy();
      }
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.setTimeout(15_000);
  // A client's malformed request or reset is its own: its connection closes, nothing else.
  server.on('clientError', (_error: Error, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.address.host, port: options.address.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => options.logger.error({ err: error }, 'metrics listener error'));
  const bound = server.address();
  return {
    port: typeof bound === 'object' && bound !== null ? bound.port : options.address.port,
    deliver(message) {
      waiting.get(String(message.id))?.(message.snapshot);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `Authorization: Bearer <token>`, compared by digest so that neither the length nor the bytes of the token leak through timing. */
function bearerMatches(header: string | undefined, token: Secret): boolean {
  const sent = /^Bearer +(\S+) *$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(sent), digest(token.reveal())) && sent !== '';
}
