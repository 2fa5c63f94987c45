import type { NotifyChannel } from './channel-config.ts';
import { channelUrl } from './channel-url.ts';
import { httpPost, type SendOptions } from './http-post.ts';
import { summarize, truncate, type NotifyEvent, type NotifyEventType } from './notify-event.ts';

/** Discord's documented limits for an embed. */
const TITLE_MAX = 256;
const DESCRIPTION_MAX = 4096;

const COLOURS: Record<NotifyEventType, number> = {
  'deploy.failed': 0xd73a49,
  'deploy.succeeded': 0x28a745,
  'deploy.recovered': 0x28a745,
  'certificate.renewal_failed': 0xd73a49,
  'certificate.expiring': 0xdbab09,
};

/**
 * The body for Discord's "execute webhook": one embed. `allowed_mentions`
 * is empty so an `@everyone` in a commit message pings nobody.
 */
export function discordMessage(event: NotifyEvent): { embeds: unknown[]; allowed_mentions: { parse: never[] } } {
  const { title, text } = summarize(event);
  return {
    embeds: [{ title: truncate(title, TITLE_MAX), description: truncate(text, DESCRIPTION_MAX), color: COLOURS[event.type], timestamp: event.timestamp }],
    allowed_mentions: { parse: [] },
  };
}

export async function sendDiscord(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options: SendOptions = {}): Promise<void> {
  await httpPost({
    url: channelUrl(channel),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(discordMessage(event)),
    allowPrivate: channel.allowPrivate,
    signal,
    ...options,
  });
}
