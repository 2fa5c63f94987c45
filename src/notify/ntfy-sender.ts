import type { NotifyChannel } from './channel-config.ts';
import { channelUrl } from './channel-url.ts';
import { httpPost, type SendOptions } from './http-post.ts';
import { summarize, truncate, type NotifyEvent, type NotifyEventType } from './notify-event.ts';

/** ntfy keeps messages up to 4,096 bytes as text; longer ones become attachments. */
const MESSAGE_MAX_BYTES = 4096;

const PRIORITY: Record<NotifyEventType, string> = {
  'deploy.failed': 'high',
  'deploy.succeeded': 'low',
  'deploy.recovered': 'default',
  'certificate.renewal_failed': 'high',
  'certificate.expiring': 'default',
};

/** Tags that are ntfy emoji short codes show as emoji; the others as words. */
const TAGS: Record<NotifyEventType, string> = {
  'deploy.failed': 'x,deploy',
  'deploy.succeeded': 'white_check_mark,deploy',
  'deploy.recovered': 'white_check_mark,deploy',
  'certificate.renewal_failed': 'warning,certificate',
  'certificate.expiring': 'hourglass,certificate',
};

/** The message and the headers ntfy documents for a publish by POST to the topic URL. */
export function ntfyMessage(event: NotifyEvent): { body: string; headers: Record<string, string> } {
  const { title, text } = summarize(event);
  let body = text;
  while (Buffer.byteLength(body) > MESSAGE_MAX_BYTES) body = truncate(body, Math.floor([...body].length * 0.9));
  return {
    body,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      // HTTP headers are Latin-1; ntfy decodes RFC 2047 encoded words, so a title with other characters is sent as one.
      title: headerText(truncate(title, 250)),
      priority: PRIORITY[event.type],
      tags: TAGS[event.type],
    },
  };
}

function headerText(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  return `=?UTF-8?B?${Buffer.from(text).toString('base64')}?=`;
}

export async function sendNtfy(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options: SendOptions = {}): Promise<void> {
  const { body, headers } = ntfyMessage(event);
  if (channel.token !== undefined) headers.authorization = `Bearer ${channel.token.reveal()}`;
  await httpPost({ url: channelUrl(channel), headers, body, allowPrivate: channel.allowPrivate, signal, ...options });
}
