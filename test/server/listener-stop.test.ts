import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.ts';
import { startListeners } from '../../src/server/listeners.ts';
import type { RequestHandler } from '../../src/server/request-handler.ts';
import type { StreamHandler } from '../../src/server/stream-handler.ts';
import { startTestServer } from '../helpers/server.ts';

/** Everything the server sends on `socket` until the connection closes, and how it ended. */
function readToEnd(socket: Socket): Promise<{ text: string; error: string | undefined }> {
  return new Promise((resolve) => {
    let text = '';
    let error: string | undefined;
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', (failure: NodeJS.ErrnoException) => (error = failure.code ?? failure.message));
    socket.on('close', () => resolve({ text, error }));
  });
}

test('a connection passed on by the supervisor as a stop begins is answered, closed after its answer, and waited for', async (t) => {
  const base = await startTestServer(t, { files: { site: { 'index.html': 'fine' } } });
  const logger = createLogger({ level: 'error', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
  const plain = ((_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('answered');
  }) as unknown as RequestHandler;
  const listeners = await startListeners(
    { ...base.config.server, host: '127.0.0.1', httpPort: 0, httpsPort: false },
    { plain, request: plain, stream: (() => undefined) as StreamHandler },
    base.server.certificates.source,
    logger,
  );
  t.after(() => listeners.close(100));

  // The supervisor's side of a shared socket: it accepts, paused and unread, and passes the connection on.
  const supervisor = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => supervisor.listen(0, '127.0.0.1', resolve));
  t.after(() => supervisor.close());
  const accepted = once(supervisor, 'connection') as Promise<[Socket]>;
  const client = connect({ host: '127.0.0.1', port: (supervisor.address() as { port: number }).port });
  await once(client, 'connect');
  const [passed] = await accepted;
  const answer = readToEnd(client);

  const order: string[] = [];
  const stopped = listeners.close(5_000).then(() => order.push('stopped'));
  // In a worker the connection arrives over IPC as a new socket that reads; this one was accepted paused.
  passed.resume();
  listeners.adopt('http', passed);
  client.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const { text, error } = await answer;
  order.push('answered');
  await stopped;
  assert.equal(error, undefined, text);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nconnection: close\r\n/i, 'not kept for another request');
  assert.match(text, /\r\n\r\n8\r\nanswered\r\n0\r\n\r\n$/);
  assert.deepEqual(order, ['answered', 'stopped'], 'the stop waited for it');
});
