import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSecret } from '../../src/config/secret.ts';
import { sendWebhook } from '../../src/notify/webhook-sender.ts';
import { tempDir } from '../helpers/temp.ts';
import { channel, deployFailed, startReceiver } from './notify-fixtures.ts';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'notifications.md');

type Verify = (secret: string, headers: Record<string, unknown>, body: string) => boolean;

test('the verifier in docs/notifications.md accepts what Berth sends and nothing changed', async (t) => {
  const doc = await readFile(DOC, 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(code !== undefined, 'a js block in docs/notifications.md');
  const file = join(await tempDir(t), 'verify.mjs');
  await writeFile(file, code);
  const { verifyBerthWebhook } = (await import(pathToFileURL(file).href)) as { verifyBerthWebhook: Verify };

  const secret = `whsec_${Buffer.from('thirty-two bytes of signing key!').toString('base64')}`;
  const receiver = await startReceiver(t);
  await sendWebhook(channel('webhook', receiver.url(), { secret: createSecret(secret, 'env HOOK_SECRET') }), deployFailed(), new AbortController().signal);
  const request = receiver.requests[0];
  assert.ok(request !== undefined);

  assert.equal(verifyBerthWebhook(secret, request.headers, request.body), true);
  assert.equal(verifyBerthWebhook(secret, request.headers, request.body.replace('"blog"', '"shop"')), false);
  assert.equal(verifyBerthWebhook(secret, { ...request.headers, 'webhook-id': 'evt_other' }, request.body), false);
  assert.equal(verifyBerthWebhook(secret, { ...request.headers, 'webhook-timestamp': '1000000000' }, request.body), false);
});
