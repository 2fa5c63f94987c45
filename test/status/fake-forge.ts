import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { createLogger, type Logger } from '../../src/log/logger.ts';

/** A request as the fake forge received it. */
export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeForge {
  /** `http://127.0.0.1:<port>`: the API root to give a client. */
  base: string;
  requests: ReceivedRequest[];
  /** What the forge's checks found wrong in the requests it got; a test expects none. */
  problems: string[];
}

/**
 * A forge on a real socket: every request is recorded, checked by `check`
 * (the forge's documented request shape; a problem is answered 400 and
 * kept), then answered by `answer`, which may also never answer.
 */
export async function startFakeForge(
  t: TestContext,
  check: (request: ReceivedRequest) => string[],
  answer: (request: ReceivedRequest, response: ServerResponse) => void,
): Promise<FakeForge> {
  const requests: ReceivedRequest[] = [];
  const problems: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const found = check(request);
      if (found.length > 0) {
        problems.push(...found);
        sendJson(res, 400, { message: found.join('; ') });
        return;
      }
      answer(request, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, problems };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A logger whose lines are kept as parsed objects, and as the raw text. */
export function captureLogs(): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: sink }), lines, text: () => raw.join('\n') };
}

/** A commit id used across these tests. */
export const SHA = '9fceb02d0ae598e95dc970b74767f19372d61af8';

/** Long and distinctive, so a leak is easy to spot. */
export const TOKEN = 'berth-status-token-5c1e9a7f02d84b36';
