import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { webhookBodies } from '../../src/server/webhook-route.ts';
import { WEBHOOK_BODIES_IN_FLIGHT_LIMIT, WEBHOOK_BODY_LIMIT } from '../../src/webhooks/read-body.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { eventually, startTestServer, type TestServer } from '../helpers/server.ts';

const SECRET = 'route-test-secret-5d1f0e9a';
const SIGNING_TOKEN = `whsec_${Buffer.from('route-test-signing-key').toString('base64')}`;

/** One site per forge, and one with no webhook. */
const SITES = [
  { name: 'hub', forge: 'github' },
  { name: 'lab', forge: 'gitlab' },
  { name: 'signedlab', forge: 'gitlab', secret: SIGNING_TOKEN },
  { name: 'tea', forge: 'gitea' },
  { name: 'forgejo', forge: 'forgejo' },
  { name: 'bucket', forge: 'bitbucket' },
  { name: 'own', forge: 'generic' },
  { name: 'plain', forge: undefined },
];

async function server(t: TestContext): Promise<TestServer> {
  return startTestServer(t, {
    sites: SITES.map((site, index) => ({
      name: site.name,
      domains: [`site${index}.test`],
      extra: site.forge === undefined ? '' : `[sites.webhook]\nforge = "${site.forge}"\nsecret = "${site.secret ?? SECRET}"`,
    })),
  });
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface OpenRequest {
  socket: Socket;
  /** The answer, as soon as it has arrived whole, whether or not the request was. */
  response: Promise<RawResponse>;
}

/** Sends a request head and `body` on a fresh connection, and keeps the connection open (the body need not be whole). */
function openRequest(t: TestContext, port: number, path: string, headers: Record<string, string>, body: Buffer | string = ''): OpenRequest {
  const socket = connect(port, '127.0.0.1');
  onCleanup(t, () => socket.destroy());
  const lines = [`POST ${path} HTTP/1.1`, 'Host: localhost', ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  if (body.length > 0) socket.write(body);
  const response = new Promise<RawResponse>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const parse = (): RawResponse | undefined => {
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const [statusLine = '', ...fields] = received.subarray(0, end).toString('latin1').split('\r\n');
      const parsed: Record<string, string> = {};
      for (const field of fields) {
        const colon = field.indexOf(':');
        parsed[field.slice(0, colon).toLowerCase()] = field.slice(colon + 1).trim();
      }
      const length = Number(parsed['content-length'] ?? 0);
      if (received.length < end + 4 + length) return undefined;
      return { status: Number(statusLine.split(' ')[1]), headers: parsed, body: received.subarray(end + 4, end + 4 + length).toString() };
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const done = parse();
      if (done !== undefined) resolve(done);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Answered, then reset for the body still coming: the answer counts.
      const done = parse();
      if (done !== undefined) resolve(done);
      else reject(error);
    });
    socket.on('close', () => reject(new Error(`closed before an answer: ${received.toString('latin1')}`)));
  });
  return { socket, response };
}

const BIG = String(WEBHOOK_BODY_LIMIT);
const JSON_HEADERS = { 'Content-Type': 'application/json', 'Content-Length': BIG };

test('requests without a signature header are answered 401 before a byte of their bodies is read, 20 at once', async (t) => {
  const s = await server(t);
  const takenBefore = webhookBodies.taken;
  // 25 MiB announced, 1 MiB sent, and the rest never comes.
  const start = Buffer.alloc(1024 * 1024, 'x');
  const crowd = Array.from({ length: 20 }, () => openRequest(t, s.httpPort, '/_berth/hooks/hub', { ...JSON_HEADERS, 'X-GitHub-Event': 'push' }, start));
  const answers = await Promise.all(crowd.map((request) => request.response));
  assert.deepEqual(answers.map((answer) => answer.status), Array(20).fill(401));
  // The server closes each connection rather than read the rest of its body.
  await Promise.all(crowd.map((request) => new Promise((resolve) => (request.socket.closed ? resolve(undefined) : request.socket.once('close', resolve)))));
  assert.equal(answers[0]?.headers.connection, 'close');

  // Every forge's scheme, a site without a webhook, and no site at all.
  const others = await Promise.all(
    ['lab', 'signedlab', 'tea', 'forgejo', 'bucket', 'own', 'plain', 'nosuchsite'].map((name) => openRequest(t, s.httpPort, `/_berth/hooks/${name}`, JSON_HEADERS, start).response),
  );
  assert.deepEqual(others.map((answer) => answer.status), Array(8).fill(401));
  assert.ok(s.logs.some((line) => line.site === 'hub' && /GitHub sent no X-Hub-Signature-256 header/.test(String(line.reason))), 'the log says why');

  // Over HTTP/2 as well: the stream stays open, the answer comes.
  const session = http2Connect(`https://localhost:${s.httpsPort}`, { rejectUnauthorized: false });
  onCleanup(t, () => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': '/_berth/hooks/hub', ':authority': 'site0.test', 'content-type': 'application/json', 'content-length': BIG });
  stream.write(Buffer.alloc(16 * 1024, 'x'));
  const status = await new Promise<number | undefined>((resolve) => stream.once('response', (headers) => resolve(headers[':status'])));
  assert.equal(status, 401);

  assert.equal(webhookBodies.taken - takenBefore, 0, 'no byte of any of these bodies was read');
  assert.equal(webhookBodies.held, 0);
});

test('an unknown site name gets the same answer as a site that exists', async (t) => {
  const s = await server(t);
  const body = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) });
  const headers = { 'Content-Type': 'application/json', 'Content-Length': String(body.length), 'X-GitHub-Event': 'push' };
  const unknown = await openRequest(t, s.httpPort, '/_berth/hooks/nosuchsite', headers, body).response;
  const unsigned = await openRequest(t, s.httpPort, '/_berth/hooks/hub', headers, body).response;
  const wronglySigned = await openRequest(t, s.httpPort, '/_berth/hooks/hub', { ...headers, 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` }, body).response;
  const signedForUnknown = await openRequest(t, s.httpPort, '/_berth/hooks/nosuchsite', { ...headers, 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` }, body).response;
  const noWebhook = await openRequest(t, s.httpPort, '/_berth/hooks/plain', headers, body).response;
  const shape = (answer: RawResponse): object => ({ status: answer.status, body: answer.body, type: answer.headers['content-type'], connection: answer.headers.connection });
  // A signed request has its body read whether or not the site exists: nothing tells them apart.
  const takenBefore = webhookBodies.taken;
  await openRequest(t, s.httpPort, '/_berth/hooks/nosuchsite2', { ...headers, 'X-Gitea-Signature': '0'.repeat(64) }, body).response;
  const forUnknown = webhookBodies.taken - takenBefore;
  await openRequest(t, s.httpPort, '/_berth/hooks/tea', { ...headers, 'X-Gitea-Signature': '0'.repeat(64) }, body).response;
  assert.equal(forUnknown, body.length);
  assert.equal(webhookBodies.taken - takenBefore, 2 * body.length);
  assert.equal(unknown.status, 401);
  assert.deepEqual(JSON.parse(unknown.body), { error: 'E_WEBHOOK_SIGNATURE', message: 'The request is not signed for a site on this server; the server log says why' });
  for (const known of [unsigned, wronglySigned, signedForUnknown, noWebhook]) assert.deepEqual(shape(known), shape(unknown));
  // The reason is in the log, for the operator.
  assert.ok(s.logs.some((line) => line.site === 'hub' && /does not match the body/.test(String(line.reason))));
  assert.ok(s.logs.some((line) => line.site === 'nosuchsite' && line.reason === 'no site by that name'));
});

test('bodies beyond what the server holds in flight are answered 503 with Retry-After, and webhooks are taken again once they are gone', async (t) => {
  const s = await server(t);
  const signed = { ...JSON_HEADERS, 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': `sha256=${'0'.repeat(64)}` };
  // Four bodies of the largest size, each one byte short of whole: held, waiting for the rest.
  const almost = Buffer.alloc(WEBHOOK_BODY_LIMIT - 1, 'x');
  const holders = Array.from({ length: 4 }, () => openRequest(t, s.httpPort, '/_berth/hooks/hub', signed, almost));
  // Never answered: these connections are closed by the test below.
  for (const holder of holders) holder.response.catch(() => undefined);
  const full = 4 * (WEBHOOK_BODY_LIMIT - 1);
  assert.ok(await eventually(async () => webhookBodies.held === full, 60_000), `held ${webhookBodies.held} of ${full}`);

  const declared = await openRequest(t, s.httpPort, '/_berth/hooks/hub', { ...signed, 'Content-Length': '1000' }, 'x'.repeat(1000)).response;
  assert.equal(declared.status, 503);
  assert.equal(declared.headers['retry-after'], '10');
  assert.equal(JSON.parse(declared.body).error, 'E_WEBHOOK_BUSY');
  const chunkedHeaders: Record<string, string> = { ...signed, 'Transfer-Encoding': 'chunked' };
  delete chunkedHeaders['Content-Length'];
  const chunked = await openRequest(t, s.httpPort, '/_berth/hooks/hub', chunkedHeaders, `40\r\n${'x'.repeat(64)}\r\n`).response;
  assert.equal(chunked.status, 503);
  assert.equal(chunked.headers['retry-after'], '10');
  assert.ok(webhookBodies.peak <= WEBHOOK_BODIES_IN_FLIGHT_LIMIT, `peak ${webhookBodies.peak}`);

  for (const holder of holders) holder.socket.destroy();
  assert.ok(await eventually(async () => webhookBodies.held === 0, 10_000), `still held: ${webhookBodies.held}`);
  const ping = '{"zen":"Keep it logically awesome."}';
  const pinged = await openRequest(t, s.httpPort, '/_berth/hooks/hub', {
    'Content-Type': 'application/json',
    'Content-Length': String(ping.length),
    'X-GitHub-Event': 'ping',
    'X-Hub-Signature-256': `sha256=${createHmac('sha256', SECRET).update(ping).digest('hex')}`,
  }, ping).response;
  assert.equal(pinged.status, 202, pinged.body);
  assert.equal(webhookBodies.held, 0);
});
