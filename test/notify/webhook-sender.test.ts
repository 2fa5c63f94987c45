import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSecret } from '../../src/config/secret.ts';
import { sendWebhook, signWebhook, webhookKey } from '../../src/notify/webhook-sender.ts';
import { isNotifySendError } from '../../src/notify/notify-send-error.ts';
import { channel, deployFailed, startReceiver } from './notify-fixtures.ts';

const SECRET = `whsec_${Buffer.from('a key of thirty-two bytes, random').toString('base64')}`;

/**
 * A verifier written from the Standard Webhooks spec, apart from the code
 * under test: HMAC-SHA256 keyed with the base64 after `whsec_`, over
 * `id.timestamp.body`; the header may list several space-separated
 * `v1,<base64>` signatures and one matching is enough.
 */
function verify(secret: string, headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false;
  if (!/^\d+$/.test(timestamp)) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, mac] = entry.split(',');
    if (version !== 'v1' || mac === undefined) return false;
    const given = Buffer.from(mac, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

test('signWebhook gives the Standard Webhooks test vector', () => {
  // The vector the spec's reference libraries test with.
  const key = webhookKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  assert.equal(signWebhook(key, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}'), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
});

test('signWebhook agrees with openssl for an event body', () => {
  const body = JSON.stringify(deployFailed());
  const message = `evt_1.1764878400.${body}`;
  const hexKey = webhookKey(SECRET).toString('hex');
  const mac = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hexKey}`, '-binary'], { input: message }).toString('base64');
  assert.equal(signWebhook(webhookKey(SECRET), 'evt_1', 1764878400, body), `v1,${mac}`);
});

test('sendWebhook posts the event as JSON with a signature a Standard Webhooks verifier accepts', async (t) => {
  const receiver = await startReceiver(t);
  const event = deployFailed();
  await sendWebhook(channel('webhook', receiver.url('/berth?x=1'), { secret: createSecret(SECRET, 'env HOOK_SECRET') }), event, new AbortController().signal);

  assert.equal(receiver.requests.length, 1);
  const [request] = receiver.requests;
  assert.ok(request !== undefined);
  assert.equal(request.method, 'POST');
  assert.equal(request.path, '/berth?x=1');
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['webhook-id'], event.id);
  assert.match(String(request.headers['webhook-timestamp']), /^\d+$/);
  assert.deepEqual(JSON.parse(request.body), event);
  assert.ok(verify(SECRET, request.headers, request.body), 'the signature verifies');
  assert.ok(!verify(SECRET, request.headers, request.body.replace('blog', 'blag')), 'a changed body does not');
  assert.ok(!verify(`whsec_${Buffer.from('another key').toString('base64')}`, request.headers, request.body), 'another key does not');
});

test('sendWebhook without a secret sends no signature', async (t) => {
  const receiver = await startReceiver(t);
  await sendWebhook(channel('webhook', receiver.url()), deployFailed(), new AbortController().signal);
  assert.equal(receiver.requests[0]?.headers['webhook-signature'], undefined);
});

test('sendWebhook refuses a secret that is not base64, naming where it came from and not the value', async (t) => {
  const receiver = await startReceiver(t);
  const bad = createSecret('whsec_not base64!', 'env HOOK_SECRET');
  await assert.rejects(sendWebhook(channel('webhook', receiver.url(), { secret: bad }), deployFailed(), new AbortController().signal), (error) => {
    assert.ok(isNotifySendError(error));
    assert.equal(error.retryable, false);
    assert.match(error.message, /env HOOK_SECRET/);
    assert.doesNotMatch(error.message, /not base64!/);
    return true;
  });
  assert.equal(receiver.requests.length, 0);
});
