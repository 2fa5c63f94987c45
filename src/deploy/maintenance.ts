import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { StateStore } from '../state/state-store.ts';
import { recoverInterruptedDeploys } from './interrupted-deploys.ts';
import { pruneHistory } from './prune-history.ts';

export interface MaintenanceOptions {
  /**
   * How often to look for deploys whose process died (a killed `berth
   * deploy`) and clean up after them.
   * @default 5000
   */
  recoverEveryMs?: number;
  /**
   * How often to prune the deploy history and webhook deliveries.
   * @default 3600000 (1 hour)
   */
  pruneEveryMs?: number;
}

export interface Maintenance {
  /** Stops the timer and waits for a round in progress. */
  stop(): Promise<void>;
}

/**
 * The control plane's housekeeping, in the background of a running server:
 * cleaning up after interrupted deploys without waiting for a restart, and
 * pruning the history by its retention policy. The first prune runs at once.
 * Rounds never overlap; a failing round is logged and the next one tries
 * again. Nothing here is awaited by the serving path.
 */
export function startMaintenance(config: ResolvedConfig, store: StateStore, logger: Logger, options: MaintenanceOptions = {}): Maintenance {
  const recoverEveryMs = options.recoverEveryMs ?? 5_000;
  const pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  let lastPrune = Number.NEGATIVE_INFINITY;
  let round: Promise<void> | undefined;
  let stopped = false;

  const runRound = async (): Promise<void> => {
    try {
      await recoverInterruptedDeploys({ config, store, logger });
    } catch (error) {
      logger.warn({ err: error }, 'cannot clean up after interrupted deploys; trying again later');
    }
    if (stopped || performance.now() - lastPrune < pruneEveryMs) return;
    lastPrune = performance.now();
    try {
      const pruned = await pruneHistory({ dataDir: config.dataDir, history: config.deploy.history, store });
      if (pruned.deploys.length > 0 || pruned.deliveries > 0 || pruned.strayLogs.length > 0) {
        logger.info({ deploys: pruned.deploys.length, deliveries: pruned.deliveries, strayLogs: pruned.strayLogs.length }, 'pruned the deploy history');
      }
    } catch (error) {
      logger.warn({ err: error }, 'cannot prune the deploy history; trying again later');
    }
  };
  const tick = (): void => {
    if (stopped || round !== undefined) return;
    round = runRound().finally(() => {
      round = undefined;
    });
  };
  const timer = setInterval(tick, recoverEveryMs);
  // Housekeeping never keeps a stopping process alive.
  timer.unref();
  tick();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await round;
    },
  };
}
