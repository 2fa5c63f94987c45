import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NotifyChannel, ChannelKind } from '../../src/notify/channel-config.ts';
import type { NotifyEvent, NotifyEventType } from '../../src/notify/notify-event.ts';
import { createSecret } from '../../src/config/secret.ts';
import { createLogger, type Logger } from '../../src/log/logger.ts';
import { onCleanup } from '../helpers/cleanup.ts';

/** Shared pieces of the notification tests: a receiving HTTP server, channels, events, a captured logger. */

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  /** `http://127.0.0.1:PORT` and `path`. */
  url(path?: string): string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
}

/** What the receiver answers; the default is 200 "ok". Not answering at all is allowed (a hanging receiver). */
export type Answer = (request: ReceivedRequest, response: ServerResponse) => void;

/** A node:http server on 127.0.0.1 that keeps every request it gets; closed (connections and all) when the test ends. */
export async function startReceiver(t: { after(fn: () => unknown): void }, answer: Answer = (_request, response) => response.end('ok')): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(received);
      answer(received, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { port, requests, url: (path = '/hook') => `http://127.0.0.1:${port}${path}` };
}

const ALL_TYPES: NotifyEventType[] = ['deploy.failed', 'deploy.succeeded', 'deploy.recovered', 'certificate.renewal_failed', 'certificate.expiring'];

/** A channel of `kind` to `url`, every event, every site, private addresses allowed (the receivers are on loopback). */
export function channel(kind: ChannelKind, url: string | undefined, overrides: Partial<NotifyChannel> = {}): NotifyChannel {
  return {
    name: `${kind}-test`,
    kind,
    events: [...ALL_TYPES],
    sites: undefined,
    expiringDays: 14,
    allowPrivate: true,
    ...(url === undefined ? {} : { url: createSecret(url, 'env TEST_URL') }),
    ...overrides,
  };
}

let counter = 0;

export function deployFailed(overrides: Partial<NotifyEvent> = {}): NotifyEvent {
  counter++;
  return {
    id: `evt_test${counter}`,
    type: 'deploy.failed',
    timestamp: '2026-12-04T20:00:00.000Z',
    site: 'blog',
    deploy: {
      id: '20261204T200000Z-abc123',
      state: 'failed',
      trigger: 'webhook',
      ref: 'refs/heads/main',
      sha: '0123456789abcdef0123456789abcdef01234567',
      author: 'Ada',
      message: 'Add the about page',
      durationMs: 12_345,
      errorCode: 'E_BUILD_FAILED',
      errorMessage: 'The build command exited with status 1',
      url: 'https://blog.example.com/',
    },
    ...overrides,
  };
}

/** A logger whose JSON lines are kept in `lines`; pino writes to a plain `{ write }` object synchronously. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = { write: (line: string): void => void lines.push(...line.split('\n').filter((part) => part !== '')) };
  return { logger: createLogger({ level: 'debug', destination }), lines };
}
