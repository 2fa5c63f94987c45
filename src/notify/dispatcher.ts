import type { Logger } from '../log/logger.ts';
import type { NotifyChannel } from './channel-config.ts';
import type { DeliveryResults } from './delivery-results.ts';
import { RETRY_AFTER_CAP_MS, type SendOptions } from './http-post.ts';
import type { NotifyEvent } from './notify-event.ts';
import { isNotifySendError } from './notify-send-error.ts';
import { sendNotification, type Sender } from './send-notification.ts';

/** Pauses before the 2nd, 3rd, … attempt of one delivery; after the last, it is given up. */
export const RETRY_DELAYS_MS: readonly number[] = [5_000, 30_000, 2 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000];

/** Most time one delivery spends waiting between attempts; a Retry-After cannot stretch it. */
export const RETRY_BUDGET_MS = 60 * 60_000;

/** Most events waiting per channel: a receiver down for hours must not hold a day of events in memory. */
export const QUEUE_LIMIT = 500;

export interface NotifierOptions {
  channels: readonly NotifyChannel[];
  logger: Logger;
  results: Pick<DeliveryResults, 'record'>;
  /** Waits `ms` or until `signal` aborts; tests pass one that does not wait. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** @default sendNotification */
  send?: Sender;
  /** Passed to every send (timeouts). */
  sendOptions?: SendOptions;
}

export interface Notifier {
  /** Queues `event` for every channel that wants it; returns at once and never throws. */
  notify(event: NotifyEvent): void;
  /** Resolves when every queued delivery is done (sent or given up), or after `timeoutMs`, whichever is first. */
  flush(timeoutMs: number): Promise<void>;
}

/**
 * Routes events to channels. Each channel has its own queue, worked in
 * order, so a slow or failing receiver delays only its own later events. A
 * retryable failure is tried again after RETRY_DELAYS_MS (or a longer
 * Retry-After, capped), until RETRY_BUDGET_MS of waiting is used up.
 *
 * Log lines name the channel, the event and the failure's message, which
 * names a host at most: never a URL (chat URLs hold a token) or a secret.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const { logger, results } = options;
  const sleep = options.sleep ?? unrefSleep;
  const send = options.send ?? sendNotification;
  const lanes = options.channels.map((channel) => ({ channel, queue: [] as NotifyEvent[], running: false }));
  const idleWaiters = new Set<() => void>();
  // Nothing cancels a delivery: flush() only waits, and a process that exits
  // takes pending retries with it (their timers do not keep it alive).
  const signal = new AbortController().signal;

  const busy = (): boolean => lanes.some((lane) => lane.running);
  const settle = (): void => {
    if (busy()) return;
    for (const resolve of idleWaiters) resolve();
    idleWaiters.clear();
  };

  async function deliver(channel: NotifyChannel, event: NotifyEvent): Promise<void> {
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      let failure: { code: string; message: string; retryable: boolean; httpStatus?: number | undefined; retryAfterMs?: number | undefined } | undefined;
      try {
        await send(channel, event, signal, options.sendOptions);
      } catch (error) {
        failure = isNotifySendError(error)
          ? { code: error.code, message: error.message, retryable: error.retryable, httpStatus: error.httpStatus, retryAfterMs: error.retryAfterMs }
          : // A sender bug, not the receiver's fault: its message may hold anything, so it is not repeated.
            { code: 'E_NOTIFY_FAILED', message: `Sending failed unexpectedly (${(error as Error | undefined)?.name ?? 'unknown error'})`, retryable: false };
      }
      const base = { channel: channel.name, eventId: event.id, eventType: event.type, site: event.site, attempt, at: new Date().toISOString() };
      if (failure === undefined) {
        record({ ...base, ok: true, willRetry: false });
        if (attempt > 1) logger.info({ channel: channel.name, event: event.id, type: event.type, attempt }, 'Notification delivered after retrying');
        return;
      }
      const scheduled = RETRY_DELAYS_MS[attempt - 1];
      const delay = scheduled === undefined ? undefined : Math.max(scheduled, Math.min(failure.retryAfterMs ?? 0, RETRY_AFTER_CAP_MS));
      const willRetry = failure.retryable && delay !== undefined && waited + delay <= RETRY_BUDGET_MS;
      record({ ...base, ok: false, ...(failure.httpStatus === undefined ? {} : { httpStatus: failure.httpStatus }), error: failure.message, willRetry });
      const fields = { channel: channel.name, event: event.id, type: event.type, attempt, err: { code: failure.code, message: failure.message } };
      if (!willRetry) {
        logger.warn(fields, failure.retryable ? `Gave up notifying ${channel.name} after ${attempt} attempts` : `Notifying ${channel.name} failed; not retrying`);
        return;
      }
      logger.warn({ ...fields, retryInMs: delay }, `Notifying ${channel.name} failed; trying again later`);
      waited += delay;
      try {
        await sleep(delay, signal);
      } catch {
        // Only a cancelled wait rejects: the delivery ends here, its last failure already logged and recorded.
        return;
      }
    }
  }

  function record(attempt: Parameters<DeliveryResults['record']>[0]): void {
    try {
      results.record(attempt);
    } catch (error) {
      // A full disk must not stop notifications: the log still has the outcome.
      logger.warn({ channel: attempt.channel, err: { code: (error as { code?: string }).code, message: (error as Error).message } }, 'Could not store a notification result');
    }
  }

  async function work(lane: (typeof lanes)[number]): Promise<void> {
    lane.running = true;
    try {
      for (let event = lane.queue.shift(); event !== undefined; event = lane.queue.shift()) {
        await deliver(lane.channel, event);
      }
    } finally {
      lane.running = false;
      settle();
    }
  }

  return {
    notify(event) {
      try {
        for (const lane of lanes) {
          const { channel } = lane;
          if (!wants(channel, event)) continue;
          if (lane.queue.length >= QUEUE_LIMIT) {
            logger.warn({ channel: channel.name, event: event.id, type: event.type }, `Dropped a notification: ${QUEUE_LIMIT} are already waiting for ${channel.name}`);
            continue;
          }
          lane.queue.push(event);
          if (!lane.running) {
            void work(lane).catch((error: unknown) => {
              logger.error({ channel: channel.name, err: { message: (error as Error).message } }, 'Notification queue stopped unexpectedly');
            });
          }
        }
      } catch (error) {
        logger.error({ err: { message: (error as Error).message } }, 'Could not queue a notification');
      }
    },

    flush(timeoutMs) {
      if (!busy()) return Promise.resolve();
      return new Promise((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        timer.unref();
        idleWaiters.add(done);
      });
    },
  };
}

/**
 * Whether `channel` gets `event`: its type is among the channel's events,
 * its site among the channel's sites, and for `certificate.expiring`, fewer
 * days are left than the channel's `expiring_days` (the certificate code
 * fires once a day below the largest of them; each channel takes its own).
 */
export function wants(channel: NotifyChannel, event: NotifyEvent): boolean {
  if (!channel.events.includes(event.type)) return false;
  if (channel.sites !== undefined && (event.site === undefined || !channel.sites.includes(event.site))) return false;
  const daysLeft = event.certificate?.daysLeft;
  if (event.type === 'certificate.expiring' && daysLeft !== undefined && daysLeft >= channel.expiringDays) return false;
  return true;
}

/** A wait that does not keep the process alive: pending retries never hold up an exit. */
function unrefSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
