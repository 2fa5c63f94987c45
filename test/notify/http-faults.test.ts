import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendSlack } from '../../src/notify/slack-sender.ts';
import { sendWebhook } from '../../src/notify/webhook-sender.ts';
import { isNotifySendError, type NotifySendError } from '../../src/notify/notify-send-error.ts';
import { parseRetryAfter } from '../../src/notify/http-post.ts';
import { freePort } from '../helpers/pebble.ts';
import { channel, deployFailed, startReceiver } from './notify-fixtures.ts';

const signal = new AbortController().signal;
const TOKEN = 'XyZ9tokenPart8Secret';

async function failure(promise: Promise<unknown>): Promise<NotifySendError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isNotifySendError(error), `a NotifySendError, not ${String(error)}`);
    return error;
  }
  assert.fail('the send should have failed');
}

test('a receiver that never answers times out, retryably', async (t) => {
  const receiver = await startReceiver(t, () => {
    // Keeps the request open.
  });
  const error = await failure(sendWebhook(channel('webhook', receiver.url()), deployFailed(), signal, { timeoutMs: 200 }));
  assert.equal(error.retryable, true);
  assert.equal(error.code, 'E_NOTIFY_FAILED');
  assert.equal(error.message, `Sending to 127.0.0.1:${receiver.port} timed out after 200 ms`);
});

test('a redirect to another host is not followed and names that host', async (t) => {
  const other = await startReceiver(t);
  const receiver = await startReceiver(t, (_request, response) => {
    response.writeHead(307, { location: other.url('/elsewhere') }).end();
  });
  const error = await failure(sendWebhook(channel('webhook', receiver.url()), deployFailed(), signal));
  assert.equal(error.retryable, false);
  assert.equal(error.httpStatus, 307);
  assert.match(error.message, new RegExp(`answered 307 redirecting to 127\\.0\\.0\\.1:${other.port};`));
  assert.equal(other.requests.length, 0, 'the other host got nothing');
});

for (const [status, retryable] of [
  [301, false],
  [400, false],
  [401, false],
  [404, false],
  [500, true],
  [502, true],
  [503, true],
] as const) {
  test(`an answer of ${status} is ${retryable ? '' : 'not '}retryable`, async (t) => {
    const receiver = await startReceiver(t, (_request, response) => {
      response.writeHead(status).end('nope');
    });
    const error = await failure(sendSlack(channel('slack', receiver.url()), deployFailed(), signal));
    assert.equal(error.httpStatus, status);
    assert.equal(error.retryable, retryable);
  });
}

test('429 with Retry-After is retryable after the time asked for', async (t) => {
  const receiver = await startReceiver(t, (_request, response) => {
    response.writeHead(429, { 'retry-after': '120' }).end();
  });
  const error = await failure(sendSlack(channel('slack', receiver.url()), deployFailed(), signal));
  assert.equal(error.retryable, true);
  assert.equal(error.httpStatus, 429);
  assert.equal(error.retryAfterMs, 120_000);
});

test('parseRetryAfter reads seconds and HTTP dates, and ignores anything else', () => {
  const now = Date.parse('2026-12-04T20:00:00Z');
  assert.equal(parseRetryAfter('30', now), 30_000);
  assert.equal(parseRetryAfter('Fri, 04 Dec 2026 20:01:00 GMT', now), 60_000);
  assert.equal(parseRetryAfter('Fri, 04 Dec 2026 19:00:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('an error names the host only, even when the receiver echoes the URL path', async (t) => {
  const receiver = await startReceiver(t, (request, response) => {
    response.writeHead(404).end(`Cannot POST ${request.path}`);
  });
  const url = receiver.url(`/services/T0123/B0456/${TOKEN}?key=${TOKEN}`);
  const error = await failure(sendSlack(channel('slack', url), deployFailed(), signal));
  assert.doesNotMatch(error.message, new RegExp(TOKEN));
  assert.doesNotMatch(error.message, /services/);
  assert.match(error.message, new RegExp(`^127\\.0\\.0\\.1:${receiver.port} answered 404: "Cannot POST …`));
});

test('an answer longer than 64 KiB is not read to its end', async (t) => {
  let left = 128;
  const receiver = await startReceiver(t, (_request, response) => {
    response.writeHead(200);
    // 8 MiB, written as fast as the client takes it; the sender stops reading early.
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const write = (): void => {
      while (left > 0) {
        left--;
        if (!response.write(chunk)) {
          response.once('drain', write);
          return;
        }
      }
      response.end();
    };
    response.on('error', () => {});
    write();
  });
  await sendSlack(channel('slack', receiver.url()), deployFailed(), signal);
  assert.ok(left > 0, 'the receiver was still writing when the sender was done');
});

test('a connection refused is retryable', async () => {
  const port = await freePort();
  const error = await failure(sendSlack(channel('slack', `http://127.0.0.1:${port}/hook`), deployFailed(), signal));
  assert.equal(error.retryable, true);
  assert.equal(error.message, `Sending to 127.0.0.1:${port} failed: connection refused`);
});

test('http://127.0.0.1 and a name resolving to loopback are refused before connecting unless allow_private', async (t) => {
  const receiver = await startReceiver(t);
  for (const url of [receiver.url(), `http://localhost:${receiver.port}/hook`, `http://[::ffff:127.0.0.1]:${receiver.port}/hook`]) {
    const error = await failure(sendWebhook(channel('webhook', url, { allowPrivate: false }), deployFailed(), signal));
    assert.equal(error.code, 'E_NOTIFY_PRIVATE_ADDRESS');
    assert.equal(error.retryable, false);
    assert.match(error.message, /allow_private = true/);
  }
  assert.equal(receiver.requests.length, 0, 'nothing reached the receiver');

  await sendWebhook(channel('webhook', receiver.url(), { allowPrivate: true }), deployFailed(), signal);
  await sendWebhook(channel('webhook', `http://localhost:${receiver.port}/hook`, { allowPrivate: true }), deployFailed(), signal);
  assert.equal(receiver.requests.length, 2);
});

test('a URL that is not http or https, or carries a password, is refused', async () => {
  for (const url of ['file:///etc/passwd', 'https://user:pa55@example.com/hook']) {
    const error = await failure(sendWebhook(channel('webhook', url), deployFailed(), signal));
    assert.equal(error.retryable, false);
    assert.doesNotMatch(error.message, /pa55/);
  }
});
