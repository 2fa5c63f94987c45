import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSecret } from '../../src/config/secret.ts';
import { sendDiscord } from '../../src/notify/discord-sender.ts';
import { sendNtfy } from '../../src/notify/ntfy-sender.ts';
import { sendSlack } from '../../src/notify/slack-sender.ts';
import { summarize } from '../../src/notify/notify-event.ts';
import { channel, deployFailed, startReceiver } from './notify-fixtures.ts';

const signal = new AbortController().signal;

/** A deploy that failed with a 10,000-character message, and a long site name: every limit is met. */
function hugeFailure() {
  const event = deployFailed({ site: 'a-site-with-a-rather-long-name-'.repeat(12) });
  if (event.deploy !== undefined) event.deploy.errorMessage = `<b>&</b> ${'x'.repeat(10_000)}`;
  return event;
}

interface SlackBody {
  text: string;
  blocks: Array<{ type: string; text: { type: string; text: string } }>;
}

test('sendSlack posts text and blocks an incoming webhook accepts', async (t) => {
  const receiver = await startReceiver(t);
  const event = deployFailed();
  await sendSlack(channel('slack', receiver.url('/services/T0/B0/token')), event, signal);
  const request = receiver.requests[0];
  assert.ok(request !== undefined);
  assert.equal(request.headers['content-type'], 'application/json');
  const body = JSON.parse(request.body) as SlackBody;
  assert.equal(body.text, 'Deploy of blog failed');
  assert.deepEqual(body.blocks.map((block) => block.type), ['header', 'section']);
  assert.equal(body.blocks[0]?.text.type, 'plain_text');
  assert.equal(body.blocks[1]?.text.type, 'mrkdwn');
  assert.match(body.blocks[1]?.text.text ?? '', /The build command exited with status 1 \[E_BUILD_FAILED\]/);
});

test('sendSlack cuts a 10,000-character error to Slack\'s limits and escapes its markup', async (t) => {
  const receiver = await startReceiver(t);
  await sendSlack(channel('slack', receiver.url()), hugeFailure(), signal);
  const body = JSON.parse(receiver.requests[0]?.body ?? '') as SlackBody;
  assert.ok([...(body.blocks[0]?.text.text ?? '')].length <= 150);
  const section = body.blocks[1]?.text.text ?? '';
  assert.ok([...section].length <= 3000);
  assert.ok(section.endsWith('…'));
  assert.match(section, /&lt;b&gt;&amp;&lt;\/b&gt;/);
});

interface DiscordBody {
  content?: string;
  embeds: Array<{ title: string; description: string; color: number; timestamp: string }>;
  allowed_mentions: { parse: string[] };
}

test('sendDiscord posts one embed and allows no mentions', async (t) => {
  const receiver = await startReceiver(t);
  const event = deployFailed();
  await sendDiscord(channel('discord', receiver.url('/api/webhooks/1/token')), event, signal);
  const body = JSON.parse(receiver.requests[0]?.body ?? '') as DiscordBody;
  assert.equal(body.embeds.length, 1);
  assert.equal(body.embeds[0]?.title, summarize(event).title);
  assert.equal(body.embeds[0]?.description, summarize(event).text);
  assert.equal(body.embeds[0]?.timestamp, event.timestamp);
  assert.deepEqual(body.allowed_mentions, { parse: [] });
});

test('sendDiscord keeps a 10,000-character error within Discord\'s embed limits', async (t) => {
  const receiver = await startReceiver(t);
  await sendDiscord(channel('discord', receiver.url()), hugeFailure(), signal);
  const body = JSON.parse(receiver.requests[0]?.body ?? '') as DiscordBody;
  const embed = body.embeds[0];
  assert.ok(embed !== undefined);
  assert.ok([...embed.title].length <= 256, 'title within 256');
  assert.ok([...embed.description].length <= 4096, 'description within 4096');
  assert.ok(embed.description.endsWith('…'));
  assert.ok(body.content === undefined || [...body.content].length <= 2000);
});

test('sendNtfy posts the text with Title, Priority and Tags, and the token as Bearer', async (t) => {
  const receiver = await startReceiver(t);
  const event = deployFailed();
  await sendNtfy(channel('ntfy', receiver.url('/berth-alerts'), { token: createSecret('tk_secret_token_value', 'env NTFY_TOKEN') }), event, signal);
  const request = receiver.requests[0];
  assert.ok(request !== undefined);
  assert.equal(request.path, '/berth-alerts');
  assert.equal(request.body, summarize(event).text);
  assert.equal(request.headers.title, 'Deploy of blog failed');
  assert.equal(request.headers.priority, 'high');
  assert.equal(request.headers.tags, 'x,deploy');
  assert.equal(request.headers.authorization, 'Bearer tk_secret_token_value');
});

test('sendNtfy keeps a 10,000-character error within 4,096 bytes, and a non-ASCII title readable', async (t) => {
  const receiver = await startReceiver(t);
  const event = hugeFailure();
  event.site = 'blög';
  await sendNtfy(channel('ntfy', receiver.url()), event, signal);
  const request = receiver.requests[0];
  assert.ok(request !== undefined);
  assert.ok(Buffer.byteLength(request.body) <= 4096);
  assert.equal(request.headers.authorization, undefined);
  const title = String(request.headers.title);
  const encoded = /^=\?UTF-8\?B\?(.*)\?=$/.exec(title)?.[1];
  assert.ok(encoded !== undefined, 'sent as an RFC 2047 encoded word');
  assert.equal(Buffer.from(encoded, 'base64').toString('utf8'), 'Deploy of blög failed');
});
