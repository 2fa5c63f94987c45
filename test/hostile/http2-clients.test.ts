import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { allAttacks, attacks, type Attack, type Target } from './http2-attacks.ts';

// Larger than the HTTP/2 window (64 KiB) and than the largest file
// server.memory_cache holds (1 MiB), so it is sent from disk while the client holds it back.
const big = Buffer.alloc(4 * 1024 * 1024, 'abcdefghij');
const files = { 'index.html': '<h1>still here</h1>', 'big.bin': big };

function targetOf(server: ServeProcess): Target {
  return { httpsPort: server.httpsPort, httpPort: server.httpPort, bigPath: '/big.bin', smallPath: '/' };
}

/**
 * An ordinary request, answered in full or failed: a stream the server
 * closes without an answer fails it, and so does no answer within a
 * minute (a liveness bound, far beyond any answer on a busy machine).
 */
function settle<T>(what: string, run: (resolve: (value: T) => void, reject: (error: Error) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer`)), 60_000);
    run(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

function h2Get(session: ClientHttp2Session, path: string): Promise<{ status: number; body: Buffer }> {
  return settle(`HTTP/2 ${path}`, (resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': 'localhost' });
    let status = 0;
    const chunks: Buffer[] = [];
    let ended = false;
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      ended = true;
      resolve({ status, body: Buffer.concat(chunks) });
    });
    stream.on('close', () => {
      if (!ended) reject(new Error(`HTTP/2 ${path}: stream closed without an answer (code ${stream.rstCode})`));
    });
    stream.on('error', reject);
    stream.end();
  });
}

function h2Session(server: ServeProcess): ClientHttp2Session {
  const session = http2Connect(`https://localhost:${server.httpsPort}`, { rejectUnauthorized: false, servername: 'localhost', host: '127.0.0.1' } as never);
  session.on('error', () => undefined);
  return session;
}

function h1Get(server: ServeProcess, path: string, agent: Agent | false): Promise<{ status: number; body: Buffer }> {
  return settle(`HTTP/1.1 ${path}`, (resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: server.httpPort, path, headers: { host: 'localhost' }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One ordinary request over each protocol, and the process tree still running. */
async function assertServing(server: ServeProcess, after: string): Promise<void> {
  const session = h2Session(server);
  try {
    const h2 = await h2Get(session, '/');
    assert.equal(h2.status, 200, `HTTP/2 after ${after}`);
    assert.equal(h2.body.toString(), files['index.html']);
  } finally {
    session.destroy();
  }
  const h1 = await h1Get(server, '/', false);
  assert.equal(h1.status, 200, `HTTP/1.1 after ${after}`);
  assert.equal(h1.body.toString(), files['index.html']);
  assert.equal(server.exited(), false, `berth serve exited after ${after}: ${server.stderr()}`);
  for (const pid of server.servingPids) assert.doesNotThrow(() => process.kill(pid, 0), `serving process ${pid} is gone after ${after}`);
  assert.deepEqual(server.workerDeaths(), [], `a worker died after ${after}`);
  assert.doesNotMatch(server.stderr(), /Unhandled|uncaught|ERR_HTTP2/i, `after ${after}`);
}

const named: Array<[string, Attack]> = [
  ['a stream reset with PROTOCOL_ERROR while a file larger than the window is sent', attacks.resetProtocolError],
  ['a stream reset with INTERNAL_ERROR while a file larger than the window is sent', attacks.resetInternalError],
  ['thousands of streams opened and cancelled on one session', attacks.openAndCancel],
  ['thousands of streams at once beyond the concurrency limit', attacks.beyondConcurrency],
  ['a GOAWAY from the client mid-response', attacks.goawayMidResponse],
  ['a burst of invalid frames', attacks.badFrames],
];

for (const [what, attack] of named) {
  test(`berth serve survives ${what} and answers normally afterwards`, async (t) => {
    const server = await startServeProcess(t, { files });
    await attack.run(targetOf(server));
    await assertServing(server, attack.name);
  });
}

test('with two workers, no worker exits under any attack of the corpus, HTTP/1.1 sockets closed mid-file included', async (t) => {
  const server = await startServeProcess(t, { files, server: 'workers = 2' });
  assert.equal(server.servingPids.length, 2);
  for (const attack of allAttacks) {
    await attack.run(targetOf(server));
    await assertServing(server, attack.name);
  }
});

/** Ordinary visitors: HTTP/1.1 over a keep-alive agent and HTTP/2 over one session, in a bounded loop. */
async function ordinaryLoad(t: TestContext, server: ServeProcess, until: () => boolean, maxRequests: number): Promise<{ ok: number; failures: string[] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  t.after(() => agent.destroy());
  let session = h2Session(server);
  t.after(() => session.destroy());
  const failures: string[] = [];
  let ok = 0;
  const h2 = (path: string): Promise<{ status: number; body: Buffer }> => {
    if (session.destroyed || session.closed) {
      failures.push('the ordinary HTTP/2 session was closed by the server');
      session = h2Session(server);
    }
    return h2Get(session, path);
  };
  const paths: Array<[string, Buffer]> = [
    ['/', Buffer.from(files['index.html'])],
    ['/', Buffer.from(files['index.html'])],
    ['/big.bin', big],
  ];
  for (let i = 0; i < maxRequests && !until(); i++) {
    const [path, expected] = paths[i % paths.length] as [string, Buffer];
    for (const [protocol, send] of [['HTTP/1.1', (p: string) => h1Get(server, p, agent)], ['HTTP/2', h2]] as const) {
      try {
        const answer = await send(path);
        if (answer.status === 200 && answer.body.equals(expected)) ok++;
        else failures.push(`${protocol} ${path}: ${answer.status}, ${answer.body.length} bytes`);
      } catch (error) {
        failures.push(`${protocol} ${path}: ${String(error)}`);
      }
    }
  }
  return { ok, failures };
}

test('the whole hostile corpus at once, against a server under ordinary load, for a bounded time', async (t) => {
  const server = await startServeProcess(t, { files, server: 'workers = 2' });
  const target = targetOf(server);
  // Bounded twice: by rounds and by wall time, whichever comes first; nothing asserts on the time.
  const stopAt = Date.now() + 12_000;
  const over = (): boolean => Date.now() >= stopAt;
  let rounds = 0;
  const attacking = (async () => {
    while (!over() && rounds < 6) {
      await Promise.all(allAttacks.map((attack) => attack.run(target)));
      rounds++;
    }
  })();
  let attacked = false;
  void attacking.then(() => (attacked = true));
  const load = await ordinaryLoad(t, server, () => attacked, 2_000);
  await attacking;
  assert.ok(rounds >= 1, 'the corpus ran at least once in full');
  assert.ok(load.ok > 0, 'ordinary requests were sent while the attacks ran');
  assert.deepEqual(load.failures, [], 'every ordinary request was answered in full');
  await assertServing(server, 'the whole corpus');
});
