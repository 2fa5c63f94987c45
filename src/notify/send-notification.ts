import type { ChannelKind, NotifyChannel } from './channel-config.ts';
import { sendDiscord } from './discord-sender.ts';
import { sendEmail } from './email-sender.ts';
import type { SendOptions } from './http-post.ts';
import type { NotifyEvent } from './notify-event.ts';
import { sendNtfy } from './ntfy-sender.ts';
import { sendSlack } from './slack-sender.ts';
import { sendWebhook } from './webhook-sender.ts';

/** One delivery attempt; throws a `NotifySendError` when it fails. */
export type Sender = (channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options?: SendOptions) => Promise<void>;

const SENDERS: Record<ChannelKind, Sender> = {
  webhook: sendWebhook,
  slack: sendSlack,
  discord: sendDiscord,
  ntfy: sendNtfy,
  email: sendEmail,
};

/** Sends `event` to `channel` with the sender for its kind. */
export function sendNotification(channel: NotifyChannel, event: NotifyEvent, signal: AbortSignal, options?: SendOptions): Promise<void> {
  return SENDERS[channel.kind](channel, event, signal, options);
}
