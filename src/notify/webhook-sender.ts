import { createHmac } from 'node:crypto';
import type { NotifyChannel } from './channel-config.ts';
import { channelUrl } from './channel-url.ts';
import { httpPost, type SendOptions } from './http-post.ts';
import type { NotifyEvent } from './notify-event.ts';
import { NotifySendError } from './notify-send-error.ts';

/** The prefix of a Standard Webhooks secret; what follows is the key in base64. */
const SECRET_PREFIX = 'whsec_';

/**
 * The key a Standard Webhooks secret stands for: the base64 after `whsec_`.
 * A secret without the prefix is read as base64 too, as the spec's own
 * libraries do.
 */
export function webhookKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('not base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('empty');
  return key;
}

/**
 * The `webhook-signature` value for one delivery, per the Standard Webhooks
 * spec (standardwebhooks.com): `v1,` and the base64 HMAC-SHA256, keyed with
 * the decoded secret, of `id.timestamp.body`.
 *
 * @param timestamp unix seconds, as sent in `webhook-timestamp`
 */
export function signWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/**
 * Sends the event itself, as JSON, signed the Standard Webhooks way, so any
 * of that spec's verifier libraries accepts it. The event id is the
 * `webhook-id`: a receiver that sees one twice (a retry after a lost answer)
 * can drop the second.
 */
export async function sendWebhook(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options: SendOptions = {}): Promise<void> {
  const url = channelUrl(channel);
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
  };
  if (channel.secret !== undefined) {
    let key: Buffer;
    try {
      key = webhookKey(channel.secret.reveal());
    } catch {
      throw new NotifySendError(`Channel ${channel.name}: the secret from ${channel.secret.source} is not a Standard Webhooks secret ("whsec_" and base64)`, { retryable: false });
    }
    headers['webhook-signature'] = signWebhook(key, event.id, timestamp, body);
  }
  await httpPost({ url, headers, body, allowPrivate: channel.allowPrivate, signal, ...options });
}
