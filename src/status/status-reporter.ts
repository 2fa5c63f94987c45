import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../log/logger.ts';
import { StatusSendError, type CommitStatusClient, type CommitStatusUpdate } from './commit-status.ts';

/**
 * Sends commit statuses off the deploy's path. A deploy calls `report` and
 * moves on: the status is sent in the background, after the ones reported
 * before it for the same site, and retried while the forge is down or
 * limiting us. A forge that never takes it costs one warning in the log,
 * never the deploy.
 *
 * Only the latest state of a commit matters to whoever looks at the forge,
 * so an update waiting its turn is replaced by a newer one for the same
 * commit, and a retry is dropped once a newer update for its commit waits.
 */

export interface StatusReporterOptions {
  logger: Logger;
  /** Waits between attempts; tests pass one that does not. The default timer does not keep the process alive. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The first wait after a failure; each next one doubles.
   * @default 2_000
   */
  firstRetryDelayMs?: number;
  /**
   * The longest single wait, also for a forge that asks for a longer one.
   * @default 300_000 (5 minutes)
   */
  maxRetryDelayMs?: number;
  /**
   * How long an update is retried, counted in time waited, before it is given up.
   * @default 900_000 (15 minutes)
   */
  retryForMs?: number;
}

export interface StatusReporter {
  /**
   * Queues an update for sending. Never throws and never waits.
   * @param key what keeps updates in order: the site's name
   */
  report(key: string, client: CommitStatusClient, update: CommitStatusUpdate): void;
  /** Resolves when everything reported has been sent or given up, or after `timeoutMs`, whichever is first. */
  flush(timeoutMs: number): Promise<void>;
}

/** Updates one site may have waiting; beyond it the oldest is dropped (a forge down for hours, a push every minute). */
export const STATUS_QUEUE_MAX = 50;

interface Entry {
  client: CommitStatusClient;
  update: CommitStatusUpdate;
}

interface Lane {
  waiting: Entry[];
  sending: boolean;
}

export function createStatusReporter(options: StatusReporterOptions): StatusReporter {
  const { logger } = options;
  const sleep = options.sleep ?? ((ms: number) => delay(ms, undefined, { ref: false }));
  const firstDelay = options.firstRetryDelayMs ?? 2_000;
  const maxDelay = options.maxRetryDelayMs ?? 300_000;
  const retryFor = options.retryForMs ?? 900_000;
  const lanes = new Map<string, Lane>();
  const idleWaiters = new Set<() => void>();

  const fields = (key: string, entry: Entry): Record<string, unknown> => ({
    site: key,
    sha: entry.update.sha,
    state: entry.update.state,
    forge: entry.client.forge,
  });

  /** Sends one update until it is taken, refused for good, superseded or out of time. Never throws. */
  async function deliver(key: string, lane: Lane, entry: Entry): Promise<void> {
    let waited = 0;
    let attempt = 0;
    let warned = false;
    for (;;) {
      try {
        await entry.client.send(entry.update);
        if (warned) logger.info({ ...fields(key, entry), attempts: attempt + 1 }, 'commit status sent after retrying');
        return;
      } catch (error) {
        const failure = asSendError(error);
        // Never sooner than the forge asked, nor sooner than our own backoff:
        // a Retry-After of 0, or a reset time already past, must not become
        // a loop of requests that waits for nothing.
        const wait = Math.min(Math.max(failure.retryAfterMs ?? 0, firstDelay * 2 ** attempt), maxDelay);
        attempt += 1;
        const retrying = failure.retryable && waited + wait <= retryFor;
        if (!warned) {
          // Once per update: a forge that is down for a quarter of an hour
          // must not fill the log with the same line.
          warned = true;
          logger.warn(
            { ...fields(key, entry), httpStatus: failure.httpStatus, forgeMessage: failure.forgeMessage, retrying, problem: failure.message },
            retrying ? 'cannot set the commit status; will try again' : 'cannot set the commit status',
          );
        } else if (!retrying) {
          logger.info({ ...fields(key, entry), attempts: attempt, httpStatus: failure.httpStatus }, 'commit status given up');
        }
        if (!retrying) return;
        await sleep(wait);
        waited += wait;
        if (lane.waiting.some((next) => next.update.sha === entry.update.sha)) {
          logger.debug(fields(key, entry), 'commit status retry dropped: a newer one for the commit is waiting');
          return;
        }
      }
    }
  }

  async function drain(key: string, lane: Lane): Promise<void> {
    lane.sending = true;
    try {
      for (let entry = lane.waiting.shift(); entry !== undefined; entry = lane.waiting.shift()) {
        await deliver(key, lane, entry);
      }
    } catch (error) {
      // deliver catches what send throws; this is a bug in the reporter
      // itself, and it must not become an unhandled rejection in a deploy.
      logger.error({ site: key, err: error }, 'commit status reporter failed');
      lane.waiting.length = 0;
    } finally {
      lane.sending = false;
      if (lane.waiting.length === 0) lanes.delete(key);
      else void drain(key, lane);
      if (lanes.size === 0) for (const resolve of idleWaiters) resolve();
    }
  }

  return {
    report(key: string, client: CommitStatusClient, update: CommitStatusUpdate): void {
      try {
        let lane = lanes.get(key);
        if (lane === undefined) {
          lane = { waiting: [], sending: false };
          lanes.set(key, lane);
        }
        const entry = { client, update: { ...update } };
        const same = lane.waiting.findIndex((waiting) => waiting.update.sha === update.sha);
        if (same >= 0) {
          lane.waiting[same] = entry;
        } else {
          lane.waiting.push(entry);
          if (lane.waiting.length > STATUS_QUEUE_MAX) {
            const dropped = lane.waiting.shift() as Entry;
            logger.warn(fields(key, dropped), `commit status dropped: more than ${STATUS_QUEUE_MAX} waiting for this site`);
          }
        }
        if (!lane.sending) void drain(key, lane);
      } catch (error) {
        logger.error({ site: key, err: error }, 'commit status not queued');
      }
    },

    async flush(timeoutMs: number): Promise<void> {
      if (lanes.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      let done: (() => void) | undefined;
      try {
        await new Promise<void>((resolve) => {
          done = resolve;
          idleWaiters.add(resolve);
          timer = setTimeout(resolve, timeoutMs);
        });
      } finally {
        clearTimeout(timer);
        if (done !== undefined) idleWaiters.delete(done);
      }
    },
  };
}

function asSendError(error: unknown): StatusSendError {
  if (error instanceof StatusSendError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StatusSendError(`Cannot set the commit status: ${message}`, { retryable: false, forgeMessage: '' }, { cause: error });
}
