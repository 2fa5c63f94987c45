import type { NotifyChannel } from './channel-config.ts';
import { NotifySendError } from './notify-send-error.ts';

/** The channel's URL, parsed. The message of a bad one names neither the value nor its secret's source's content. */
export function channelUrl(channel: NotifyChannel): URL {
  if (channel.url === undefined) {
    throw new NotifySendError(`Channel ${channel.name} has no url; set url or url_file`, { retryable: false });
  }
  try {
    return new URL(channel.url.reveal());
  } catch {
    throw new NotifySendError(`Channel ${channel.name}: the url from ${channel.url.source} is not a URL`, { retryable: false });
  }
}
