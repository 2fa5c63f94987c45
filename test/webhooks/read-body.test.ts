import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { BodyBudget } from '../../src/webhooks/body-budget.ts';
import { readBody, WEBHOOK_BODIES_IN_FLIGHT_LIMIT, WEBHOOK_BODY_LIMIT, type BodySource, type ReadBodyResult } from '../../src/webhooks/read-body.ts';

const LIMIT = 64 * 1024;

interface Harness {
  port: number;
  /** What readBody returned for each request, in order, and how many body bytes it pulled. */
  results: Array<{ result: ReadBodyResult; pulled: number; largestChunk: number }>;
}

/** A real HTTP server on a free port whose handler is `readBody`; it answers with the status readBody implies. */
async function startServer(t: TestContext, limit = LIMIT): Promise<Harness> {
  const harness: Harness = { port: 0, results: [] };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const counted = countingSource(req);
      const result = await readBody(counted.source, limit);
      harness.results.push({ result, pulled: counted.pulled(), largestChunk: counted.largest() });
      const status = result.ok ? 200 : result.status;
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(result.ok ? `${result.body.length}` : result.message);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  harness.port = (server.address() as { port: number }).port;
  return harness;
}

/** Wraps a request so the test can see how much of the body readBody took. */
function countingSource(req: IncomingMessage): { source: BodySource; pulled: () => number; largest: () => number } {
  let pulled = 0;
  let largest = 0;
  const source: BodySource = {
    headers: req.headers,
    [Symbol.asyncIterator]() {
      const inner = req[Symbol.asyncIterator]();
      return {
        async next() {
          const step = await inner.next();
          if (step.done !== true) {
            const chunk = step.value as Buffer;
            pulled += chunk.length;
            largest = Math.max(largest, chunk.length);
          }
          return step;
        },
      };
    },
  };
  return { source, pulled: () => pulled, largest: () => largest };
}

/**
 * Sends raw bytes on a fresh connection, optionally half-closes, and returns
 * the status line of the answer (or the error that ended the connection).
 */
function rawRequest(port: number, parts: Array<string | Buffer>, options: { end: boolean }): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => {
      for (const part of parts) socket.write(part);
      if (options.end) socket.end();
    });
    socket.on('data', (data) => {
      received += data.toString('latin1');
    });
    socket.on('error', (error) => resolve(`error ${error.message}`));
    socket.on('close', () => resolve(received.split('\r\n', 1)[0] ?? ''));
  });
}

const head = (lines: string[]) => `POST /_berth/hooks/blog HTTP/1.1\r\nHost: localhost\r\n${lines.map((line) => `${line}\r\n`).join('')}\r\n`;

function chunked(size: number, count: number): string {
  const chunk = `${size.toString(16)}\r\n${'x'.repeat(size)}\r\n`;
  return chunk.repeat(count);
}

describe('readBody() on a real HTTP server', () => {
  it('refuses a Content-Length over the limit with 413 before reading any of the body', async (t) => {
    const harness = await startServer(t);
    // Only the head is sent: an answer proves the server did not wait for the body.
    const status = await rawRequest(harness.port, [head([`Content-Length: ${LIMIT + 1}`])], { end: false });
    assert.equal(status, 'HTTP/1.1 413 Payload Too Large');
    const [entry] = harness.results;
    assert.ok(entry !== undefined && !entry.result.ok);
    assert.equal(entry.result.ok === false && entry.result.status, 413);
    assert.match(entry.result.ok === false ? entry.result.message : '', /65537 bytes \(Content-Length\), over the limit of 65536 bytes/);
    assert.equal(entry.pulled, 0);
  });

  it('stops reading a chunked body as soon as it passes the limit, with 413', async (t) => {
    const harness = await startServer(t);
    // Ten times the limit, sent without waiting: the server must stop early and answer anyway.
    const status = await rawRequest(harness.port, [head(['Transfer-Encoding: chunked']), chunked(4096, (LIMIT * 10) / 4096), '0\r\n\r\n'], { end: false });
    assert.equal(status, 'HTTP/1.1 413 Payload Too Large');
    const [entry] = harness.results;
    assert.ok(entry !== undefined);
    assert.equal(entry.result.ok === false && entry.result.status, 413);
    assert.ok(entry.pulled <= LIMIT + entry.largestChunk, `pulled ${entry.pulled} bytes`);
    assert.ok(entry.pulled > LIMIT);
  });

  it('accepts a body of exactly the limit, by Content-Length or chunked', async (t) => {
    const harness = await startServer(t);
    const body = Buffer.alloc(LIMIT, 'x');
    assert.equal(await rawRequest(harness.port, [head([`Content-Length: ${LIMIT}`]), body], { end: true }), 'HTTP/1.1 200 OK');
    assert.equal(await rawRequest(harness.port, [head(['Transfer-Encoding: chunked']), chunked(LIMIT / 4, 4), '0\r\n\r\n'], { end: true }), 'HTTP/1.1 200 OK');
    for (const { result } of harness.results) {
      assert.ok(result.ok);
      assert.equal(result.ok && result.body.length, LIMIT);
      assert.ok(result.ok && result.body.equals(body));
    }
  });

  it('accepts an empty body', async (t) => {
    const harness = await startServer(t);
    assert.equal(await rawRequest(harness.port, [head(['Content-Length: 0'])], { end: true }), 'HTTP/1.1 200 OK');
    assert.equal(harness.results[0]?.result.ok && harness.results[0].result.body.length, 0);
  });

  it('answers 400 when the client sends less than its Content-Length and stops', async (t) => {
    const harness = await startServer(t);
    const status = await rawRequest(harness.port, [head(['Content-Length: 500']), '{"ref": "refs/heads/ma'], { end: true });
    // The client only half-closed its side, so it can still read the answer.
    assert.equal(status, 'HTTP/1.1 400 Bad Request');
    const [entry] = harness.results;
    assert.ok(entry !== undefined);
    assert.equal(entry.result.ok === false && entry.result.status, 400);
    assert.match(entry.result.ok === false ? entry.result.message : '', /ended early, after 22 bytes of the 500 declared/);
  });
});

describe('readBody() on any chunk source', () => {
  function source(headers: Record<string, string>, chunks: Buffer[]): BodySource {
    return {
      headers,
      async *[Symbol.asyncIterator]() {
        yield* chunks;
      },
    };
  }

  it('defaults to the GitHub payload limit of 25 MiB', () => {
    assert.equal(WEBHOOK_BODY_LIMIT, 25 * 1024 * 1024);
  });

  it('joins the chunks', async () => {
    const result = await readBody(source({}, [Buffer.from('ab'), Buffer.from('cd')]), 10);
    assert.ok(result.ok);
    assert.deepEqual(result.body, Buffer.from('abcd'));
  });

  it('refuses a body that does not add up to its Content-Length', async () => {
    const result = await readBody(source({ 'content-length': '5' }, [Buffer.from('abc')]), 10);
    assert.equal(result.ok === false && result.status, 400);
  });

  it('refuses a Content-Length that is not a number', async () => {
    for (const value of ['ten', '-1', '1e3', '']) {
      const result = await readBody(source({ 'content-length': value }, []), 10);
      assert.equal(result.ok === false && result.status, 400, value);
    }
  });

  it('counts one byte over the limit as too large', async () => {
    const result = await readBody(source({}, [Buffer.alloc(10), Buffer.alloc(1)]), 10);
    assert.equal(result.ok === false && result.status, 413);
  });

  it('reports a stream that fails as a 400', async () => {
    const failing: BodySource = {
      headers: {},
      async *[Symbol.asyncIterator]() {
        yield Buffer.from('x');
        throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
      },
    };
    const result = await readBody(failing, 10);
    assert.equal(result.ok === false && result.status, 400);
  });

  it('holds the bodies of all requests together under one budget, and gives the bytes back', async () => {
    assert.equal(WEBHOOK_BODIES_IN_FLIGHT_LIMIT, 4 * WEBHOOK_BODY_LIMIT);
    const budget = new BodyBudget(10);
    const first = await readBody(source({}, [Buffer.alloc(4), Buffer.alloc(3)]), 10, budget);
    assert.ok(first.ok);
    assert.equal(budget.held, 7);
    // Declared larger than what is left: refused before a byte is read.
    const declared = await readBody(source({ 'content-length': '4' }, [Buffer.alloc(4)]), 10, budget);
    assert.equal(declared.ok === false && declared.status, 503);
    assert.equal(budget.taken, 7, 'nothing of the refused body was taken');
    // Chunked, growing past what is left: refused when it does, its bytes given back.
    const growing = await readBody(source({}, [Buffer.alloc(2), Buffer.alloc(2)]), 10, budget);
    assert.equal(growing.ok === false && growing.status, 503);
    assert.match(growing.ok === false ? growing.message : '', /hold 9 bytes, near the limit of 10/);
    assert.equal(budget.held, 7);
    first.release();
    first.release();
    assert.equal(budget.held, 0, 'released once, whatever the number of calls');
    assert.equal(budget.peak, 9);
    const after = await readBody(source({ 'content-length': '10' }, [Buffer.alloc(10)]), 10, budget);
    assert.ok(after.ok, 'the budget is whole again');
    after.release();
  });

  it('gives back what a refused or broken body had taken', async () => {
    const budget = new BodyBudget(100);
    assert.equal((await readBody(source({}, [Buffer.alloc(8), Buffer.alloc(8)]), 10, budget)).ok, false);
    assert.equal((await readBody(source({ 'content-length': '20' }, [Buffer.alloc(5)]), 30, budget)).ok, false);
    const failing: BodySource = {
      headers: {},
      async *[Symbol.asyncIterator]() {
        yield Buffer.alloc(6);
        throw new Error('aborted');
      },
    };
    assert.equal((await readBody(failing, 10, budget)).ok, false);
    assert.equal(budget.held, 0);
    assert.equal(budget.taken, 19);
  });
});
