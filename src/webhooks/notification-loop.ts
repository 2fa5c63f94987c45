import type { IncomingHttpHeaders } from 'node:http';

/**
 * The User-Agent of every notification Berth sends. A webhook endpoint of
 * Berth's that receives one (a `[[notify]]` URL pointed at a site's own
 * `/_berth/hooks/` path, directly or through a relay that keeps the header)
 * ignores it: a notification never triggers a deploy, whose notification
 * would trigger another.
 */
export const NOTIFICATION_USER_AGENT = 'Berth-Notify/1';

export function isBerthNotification(headers: IncomingHttpHeaders): boolean {
  return headers['user-agent']?.startsWith('Berth-Notify/') === true;
}
