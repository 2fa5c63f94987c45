import type { NotifyChannel } from './channel-config.ts';
import { channelUrl } from './channel-url.ts';
import { httpPost, type SendOptions } from './http-post.ts';
import { summarize, truncate, type NotifyEvent } from './notify-event.ts';

/**
 * Slack's section text may hold 3,000 characters; `text`, the fallback shown
 * in notifications, 40,000 but Slack advises far less. Both are cut here.
 */
const SECTION_MAX = 3000;
const FALLBACK_MAX = 3000;

/** `&`, `<` and `>` are Slack's markup characters; everything else is shown as written. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The body for a Slack incoming webhook: `text` for notifications, one header and one section block for the channel. */
export function slackMessage(event: NotifyEvent): { text: string; blocks: unknown[] } {
  const { title, text } = summarize(event);
  return {
    text: truncate(escapeSlack(title), FALLBACK_MAX),
    blocks: [
      // Header text is plain_text, at most 150 characters.
      { type: 'header', text: { type: 'plain_text', text: truncate(title, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: truncate(escapeSlack(text), SECTION_MAX), verbatim: true } },
    ],
  };
}

export async function sendSlack(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options: SendOptions = {}): Promise<void> {
  await httpPost({
    url: channelUrl(channel),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(slackMessage(event)),
    allowPrivate: channel.allowPrivate,
    signal,
    ...options,
  });
}
