import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { StateStore } from '../state/state-store.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import { DeployQueue } from './deploy-queue.ts';
import type { DeployRecord, NewDeploy } from './deploy-types.ts';
import { runDeploy, type ConfirmServed } from './run-deploy.ts';
import { BerthError } from '../errors.ts';

/** The answer to a webhook that passed verification. */
export interface PushReply {
  status: 200 | 202;
  body: { status: 'queued' | 'duplicate' | 'locked'; message: string; deploy?: string };
}

export interface Deployer {
  /** Records a deploy and queues it. */
  submit(input: NewDeploy): DeployRecord;
  /** A verified push: a deploy of its branch's tip queued, or answered as a duplicate delivery. */
  receivePush(event: PushEvent): PushReply;
  /**
   * Cancels a deploy that waits in the queue (recorded `cancelled` at once)
   * or is fetching or building (its build is killed; recorded `cancelled`
   * when it has stopped). One that publishes is past the point where
   * stopping it is safe, and a finished one has nothing to stop:
   * E_DEPLOY_NOT_CANCELLABLE. `by` is recorded in the error message.
   */
  cancel(id: string, by: string): DeployRecord;
  /** Resolves when no deploy runs or waits. */
  idle(): Promise<void>;
  /** Deploys running or waiting to run. */
  queueDepth(): number;
  /** Cancels running and waiting deploys (their builds are killed) and waits for them to end. */
  stop(): Promise<void>;
}

export interface DeployerOptions {
  /** See `DeployDeps.confirmServed`: a deploy is recorded live only once the serving workers answer with its release. */
  confirmServed?: ConfirmServed;
}

/**
 * The control plane's deploy service: turns pushes and requests into deploy
 * records, and runs them through the queue (one per site, `deploy.concurrency`
 * overall, bursts collapsed to the newest commit).
 */
export function createDeployer(config: ResolvedConfig, store: StateStore, logger: Logger, options: DeployerOptions = {}): Deployer {
  const stopping = new AbortController();
  // Per running deploy, so that one can be cancelled without stopping the rest.
  const cancels = new Map<string, AbortController>();
  const queue = new DeployQueue<DeployRecord>({
    concurrency: config.deploy.concurrency,
    run: async (record) => {
      const cancel = new AbortController();
      cancels.set(record.id, cancel);
      try {
        await runDeploy({ config, store, logger, confirmServed: options.confirmServed }, record, AbortSignal.any([stopping.signal, cancel.signal]));
      } finally {
        cancels.delete(record.id);
      }
    },
    superseded: (record, by) => {
      store.updateDeploy(record.id, {
        state: 'superseded',
        finishedAt: new Date().toISOString(),
        errorMessage: `Replaced by deploy ${by.id} of a newer commit before it started`,
      });
      logger.info({ deploy: record.id, by: by.id, site: record.site }, 'deploy superseded');
    },
    crashed: (record, error) => {
      logger.error({ deploy: record.id, err: error }, 'deploy crashed');
      try {
        store.updateDeploy(record.id, {
          state: 'failed',
          finishedAt: new Date().toISOString(),
          errorCode: 'E_DEPLOY_FAILED',
          errorMessage: error instanceof Error ? error.message : String(error),
        });
      } catch (recordError) {
        // The database itself is failing; the log line above is all that is left.
        logger.error({ deploy: record.id, err: recordError }, 'cannot record the crashed deploy');
      }
    },
  });

  const submit = (input: NewDeploy): DeployRecord => {
    const record = store.createDeploy(input);
    queue.add(record);
    return record;
  };

  return {
    submit,
    receivePush(event) {
      if (store.recordDelivery(event.site, event.forge, event.delivery) === 'duplicate') {
        return { status: 200, body: { status: 'duplicate', message: `Delivery ${event.delivery} was received before; nothing to do` } };
      }
      const lock = store.siteLock(event.site);
      if (lock !== undefined) {
        // Recorded as received all the same: the forge's retries of this push are duplicates, not deploys once unlocked.
        logger.info({ site: event.site, delivery: event.delivery, by: lock.by }, 'push not deployed: the site is locked');
        return { status: 200, body: { status: 'locked', message: `Deploys of ${event.site} are locked by ${lock.by} since ${lock.at}; nothing deployed (unlock it in the dashboard)` } };
      }
      let record: DeployRecord;
      try {
        record = submit({
          site: event.site,
          trigger: 'webhook',
          forge: event.forge,
          delivery: event.delivery,
          ref: event.ref,
          sha: event.sha,
          author: event.author,
          message: event.message,
        });
      } catch (error) {
        // Not deployed, so not seen: the forge's retry must be taken, not answered as a duplicate.
        store.forgetDelivery(event.site, event.delivery);
        throw error;
      }
      store.linkDelivery(event.site, event.delivery, record.id);
      // The push is a hint that the branch moved: the deploy fetches the branch and builds its tip, if the pushed commit is on it.
      const branch = event.ref.replace(/^refs\/heads\//, '');
      return {
        status: 202,
        body: { status: 'queued', message: `Deploy ${record.id} of the tip of ${branch} queued (pushed ${event.sha.slice(0, 12)})`, deploy: record.id },
      };
    },
    cancel(id, by) {
      const record = store.getDeploy(id);
      if (record === undefined) throw new BerthError('E_DEPLOY_NOT_FOUND', `No deploy ${JSON.stringify(id)} is in the history`);
      if (queue.remove(record)) {
        logger.info({ deploy: id, site: record.site, by }, 'deploy cancelled before it started');
        return store.updateDeploy(id, {
          state: 'cancelled',
          finishedAt: new Date().toISOString(),
          errorCode: 'E_BUILD_CANCELLED',
          errorMessage: `Cancelled by ${by} before it started`,
        });
      }
      const running = cancels.get(id);
      if (running === undefined || (record.state !== 'queued' && record.state !== 'building')) {
        const why = record.state === 'publishing' ? 'it is publishing, past the point where stopping is safe; roll back once it is live' : `it is ${record.state}, not waiting or building`;
        throw new BerthError('E_DEPLOY_NOT_CANCELLABLE', `Deploy ${id} cannot be cancelled: ${why}`);
      }
      logger.info({ deploy: id, site: record.site, by }, 'cancelling a running deploy');
      running.abort(new Error(`cancelled by ${by}`));
      return record;
    },
    idle: () => queue.idle(),
    queueDepth: () => queue.size,
    async stop() {
      stopping.abort();
      await queue.idle();
    },
  };
}
