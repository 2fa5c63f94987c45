import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createSecret } from '../../src/config/secret.ts';
import { createNotifier, RETRY_BUDGET_MS, RETRY_DELAYS_MS } from '../../src/notify/dispatcher.ts';
import { openDeliveryResults } from '../../src/notify/delivery-results.ts';
import { RETRY_AFTER_CAP_MS } from '../../src/notify/http-post.ts';
import type { NotifyEvent } from '../../src/notify/notify-event.ts';
import { eventually } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';
import { capturedLogger, channel, deployFailed, startReceiver, type ReceivedRequest } from './notify-fixtures.ts';

const TOKEN = 'T0ken5ecretInThePath';

/** A sleep that does not wait, noting what it was asked for. */
function recordingSleep(): { sleep: (ms: number) => Promise<void>; asked: number[] } {
  const asked: number[] = [];
  return { asked, sleep: async (ms) => void asked.push(ms) };
}

async function openResults(t: { after(fn: () => unknown): void }) {
  const results = openDeliveryResults(join(await tempDir(t as Parameters<typeof tempDir>[0]), 'data'));
  t.after(() => results.close());
  return results;
}

function eventIds(requests: ReceivedRequest[]): string[] {
  return requests.map((request) => (JSON.parse(request.body) as NotifyEvent).id);
}

test('events go to the channels whose events, sites and expiring days match, each channel in order', async (t) => {
  const all = await startReceiver(t);
  const blogFailures = await startReceiver(t);
  const { logger } = capturedLogger();
  const notifier = createNotifier({
    channels: [
      channel('webhook', all.url(), { name: 'all' }),
      channel('webhook', blogFailures.url(), { name: 'blog-failures', events: ['deploy.failed', 'certificate.expiring'], sites: ['blog'], expiringDays: 7 }),
    ],
    logger,
    results: await openResults(t),
  });
  const events = [
    deployFailed(),
    deployFailed({ site: 'shop' }),
    deployFailed({ type: 'deploy.succeeded' }),
    deployFailed({ type: 'certificate.expiring', site: undefined, deploy: undefined, certificate: { names: ['shop.example.com'], daysLeft: 3 } }),
    deployFailed({ type: 'certificate.expiring', deploy: undefined, certificate: { names: ['blog.example.com'], daysLeft: 10 } }),
    deployFailed(),
    deployFailed({ type: 'certificate.expiring', deploy: undefined, certificate: { names: ['blog.example.com'], daysLeft: 6 } }),
  ];
  for (const event of events) notifier.notify(event);
  await notifier.flush(30_000);

  assert.deepEqual(eventIds(all.requests), events.map((event) => event.id));
  // Not another site's, not a success, not 10 days left when the channel asks below 7.
  assert.deepEqual(eventIds(blogFailures.requests), [events[0]?.id, events[5]?.id, events[6]?.id]);
});

test('notify returns at once, and a channel that hangs does not hold up another', async (t) => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  const hanging = await startReceiver(t, (_request, response) => {
    void released.then(() => response.end('late'));
  });
  const quick = await startReceiver(t);
  const { logger } = capturedLogger();
  const notifier = createNotifier({
    channels: [channel('slack', hanging.url(), { name: 'hanging' }), channel('slack', quick.url(), { name: 'quick' })],
    logger,
    results: await openResults(t),
  });
  const first = deployFailed();
  const second = deployFailed();
  notifier.notify(first);
  notifier.notify(second);
  // Nothing was sent while notify ran: it only queued.
  assert.equal(hanging.requests.length + quick.requests.length, 0);

  assert.ok(await eventually(async () => quick.requests.length === 2), 'the quick channel got both events');
  assert.equal(hanging.requests.length, 1, 'the hanging channel still works on the first');
  release();
  await notifier.flush(30_000);
  assert.equal(hanging.requests.length, 2);
});

test('flush gives up after its timeout while a delivery is still under way', async (t) => {
  const hanging = await startReceiver(t, () => {});
  const { logger } = capturedLogger();
  // A sleep that refuses ends the retries once the receiver is gone at the end of the test.
  const sleep = (): Promise<void> => Promise.reject(new Error('no retries here'));
  const notifier = createNotifier({ channels: [channel('slack', hanging.url())], logger, results: await openResults(t), sleep, sendOptions: { timeoutMs: 60_000 } });
  notifier.notify(deployFailed());
  await notifier.flush(50);
  assert.ok(hanging.requests.length <= 1);
});

test('retryable failures are retried on the schedule, within the budget, then given up once, and recorded', async (t) => {
  const receiver = await startReceiver(t, (request, response) => {
    response.writeHead(503).end(`Service down for ${request.path}`);
  });
  const { logger, lines } = capturedLogger();
  const results = await openResults(t);
  const { sleep, asked } = recordingSleep();
  const secret = `whsec_${Buffer.from('SIGNING-KEY-never-logged').toString('base64')}`;
  const notifier = createNotifier({
    channels: [channel('webhook', receiver.url(`/hooks/${TOKEN}?t=${TOKEN}`), { name: 'ops', secret: createSecret(secret, 'env OPS_SECRET') })],
    logger,
    results,
    sleep,
  });
  const event = deployFailed();
  notifier.notify(event);
  await notifier.flush(30_000);

  assert.deepEqual(asked, RETRY_DELAYS_MS);
  assert.ok(asked.reduce((sum, ms) => sum + ms, 0) <= RETRY_BUDGET_MS);
  assert.equal(receiver.requests.length, RETRY_DELAYS_MS.length + 1);
  assert.deepEqual(new Set(receiver.requests.map((request) => request.headers['webhook-id'])), new Set([event.id]), 'every attempt has the same webhook-id');

  const warnings = lines.map((line) => JSON.parse(line) as { level: string; msg: string; attempt: number });
  assert.equal(warnings.length, RETRY_DELAYS_MS.length + 1, 'one line per failed attempt');
  assert.ok(warnings.every((line) => line.level === 'warn'));
  assert.equal(warnings.filter((line) => line.msg.startsWith('Gave up')).length, 1);

  const [result] = results.list();
  assert.equal(result?.channel, 'ops');
  assert.equal(result?.last.ok, false);
  assert.equal(result?.last.httpStatus, 503);
  assert.equal(result?.last.willRetry, false);
  assert.equal(result?.last.attempt, RETRY_DELAYS_MS.length + 1);
  assert.equal(result?.failuresSinceSuccess, RETRY_DELAYS_MS.length + 1);
  assert.match(result?.last.error ?? '', /^127\.0\.0\.1:\d+ answered 503: "Service down for …"$/);

  for (const text of [...lines, JSON.stringify(results.list())]) {
    assert.doesNotMatch(text, new RegExp(TOKEN), 'no URL token');
    assert.doesNotMatch(text, /hooks\//, 'no URL path');
    assert.doesNotMatch(text, new RegExp(secret.slice(6, 20).replace(/[+/]/g, '\\$&')), 'no secret');
  }
});

test('Retry-After is honoured up to its cap, and a failure that is not retryable is tried once', async (t) => {
  let answers = [429, 429, 200];
  const limited = await startReceiver(t, (_request, response) => {
    const status = answers.shift() ?? 200;
    response.writeHead(status, status === 429 ? { 'retry-after': answers.length === 2 ? '600' : '86400' } : {}).end();
  });
  const gone = await startReceiver(t, (_request, response) => response.writeHead(404).end());
  const { logger, lines } = capturedLogger();
  const results = await openResults(t);
  const { sleep, asked } = recordingSleep();
  const notifier = createNotifier({
    channels: [channel('discord', limited.url(), { name: 'limited' }), channel('discord', gone.url(), { name: 'gone' })],
    logger,
    results,
    sleep,
  });
  notifier.notify(deployFailed());
  await notifier.flush(30_000);

  assert.deepEqual(asked, [600_000, RETRY_AFTER_CAP_MS]);
  assert.equal(limited.requests.length, 3);
  assert.equal(gone.requests.length, 1);
  const byName = new Map(results.list().map((result) => [result.channel, result]));
  assert.equal(byName.get('limited')?.last.ok, true);
  assert.equal(byName.get('limited')?.last.attempt, 3);
  assert.equal(byName.get('limited')?.failuresSinceSuccess, 0);
  assert.equal(byName.get('gone')?.last.ok, false);
  assert.equal(byName.get('gone')?.last.willRetry, false);
  const goneLines = lines.map((line) => JSON.parse(line) as { channel: string; level: string }).filter((line) => line.channel === 'gone');
  assert.equal(goneLines.length, 1);
  answers = [];
});

test('a Retry-After that would pass the budget ends the retries', async (t) => {
  const receiver = await startReceiver(t, (_request, response) => response.writeHead(429, { 'retry-after': String(RETRY_AFTER_CAP_MS / 1000) }).end());
  const { logger } = capturedLogger();
  const { sleep, asked } = recordingSleep();
  const notifier = createNotifier({ channels: [channel('ntfy', receiver.url())], logger, results: await openResults(t), sleep });
  notifier.notify(deployFailed());
  await notifier.flush(30_000);
  assert.deepEqual(asked, [RETRY_AFTER_CAP_MS, RETRY_AFTER_CAP_MS]);
  assert.equal(receiver.requests.length, 3);
});

test('a channel refused for its private address is tried once and logged with that code', async (t) => {
  const receiver = await startReceiver(t);
  const { logger, lines } = capturedLogger();
  const results = await openResults(t);
  const { sleep, asked } = recordingSleep();
  const notifier = createNotifier({ channels: [channel('slack', `http://localhost:${receiver.port}/services/${TOKEN}`, { name: 'local', allowPrivate: false })], logger, results, sleep });
  notifier.notify(deployFailed());
  await notifier.flush(30_000);

  assert.equal(receiver.requests.length, 0);
  assert.deepEqual(asked, []);
  const logged = lines.map((line) => JSON.parse(line) as { level: string; err: { code: string } });
  assert.deepEqual(logged.map((line) => [line.level, line.err.code]), [['warn', 'E_NOTIFY_PRIVATE_ADDRESS']]);
  assert.match(results.list()[0]?.last.error ?? '', /^Refused to connect to localhost/);
  assert.doesNotMatch(lines.join('\n'), new RegExp(TOKEN));
});
