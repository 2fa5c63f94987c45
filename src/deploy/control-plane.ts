import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { lockDataDir } from '../state/data-dir-lock.ts';
import { openStateStore, type StateStore } from '../state/state-store.ts';
import { createDeployer, type Deployer, type DeployerOptions } from './deployer.ts';
import { recoverInterruptedDeploys } from './interrupted-deploys.ts';
import { startMaintenance } from './maintenance.ts';
import { startPolling } from './poller.ts';
import { tidyReleaseStores } from './tidy-release-stores.ts';
import { reportDataDirModes } from '../state/data-dir-modes.ts';
import { buildHostFor } from './build-host.ts';
import { createDeployReporting, type DeployReporting } from './deploy-reporting.ts';
import { observeDeploys, type DeployListener } from './observe-deploys.ts';
import { startServerNotices, type ServerNotices } from '../notify/server-notices.ts';

/** How long stopping waits for commit statuses and notifications still being sent. */
const STOP_FLUSH_MS = 3_000;

export interface ControlPlaneOptions extends DeployerOptions {
  /**
   * Take `data_dir/serve.lock` here (the default). False when the process
   * that started this one holds it for the whole of `berth serve`.
   */
  lockDataDir?: boolean;
  /** Hears every change of a deploy too (the metrics), after the forge and the channels were told. */
  onDeploy?: DeployListener;
}

export interface ControlPlane {
  deployer: Deployer;
  store: StateStore;
  /** The `[[notify]]` channels; undefined when none is configured. The certificate manager tells them too. */
  notices: ServerNotices | undefined;
  stop(): Promise<void>;
}

/**
 * What `berth serve` runs once, whatever the number of workers: the data
 * directory lock (one server per data dir), the state database, recovery of
 * deploys a crash interrupted (at start, then every few seconds, so a killed
 * `berth deploy` is cleaned up after without a restart), pruning of the
 * deploy history, the deploy queue and polling.
 */
export async function startControlPlane(config: ResolvedConfig, logger: Logger, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  // One per process: a root parent answers for it when this process is an unprivileged child.
  const buildHost = buildHostFor(config);
  const lock = options.lockDataDir === false ? { release: async () => undefined } : await lockDataDir(config.dataDir);
  let store: StateStore | undefined;
  let notices: ServerNotices | undefined;
  let reporting: DeployReporting | undefined;
  try {
    const opened = openStateStore(config.dataDir);
    store = opened;
    notices = startServerNotices(config, logger);
    // Every change of a deploy, from any path (the queue, recovery below), reaches the forge and the channels.
    reporting = createDeployReporting(config, opened, logger, notices?.deployEnded);
    const told = reporting.listener;
    const onDeploy = options.onDeploy;
    store = observeDeploys(
      opened,
      onDeploy === undefined
        ? told
        : (record, before) => {
            try {
              told(record, before);
            } finally {
              onDeploy(record, before);
            }
          },
    );
    // Data directories from before every path in them was private (see data-dir-modes.ts).
    reportDataDirModes(await buildHost.secureDataDir(), logger);
    await recoverInterruptedDeploys({ config, store, logger, buildHost });
  } catch (error) {
    store?.close();
    await notices?.close(0);
    await lock.release();
    throw error;
  }
  // In the background: serving does not need it, and a deploy of a site waits for its site's part (the site lock).
  void tidyReleaseStores(config, logger);
  const deployer = createDeployer(config, store, logger, options);
  const poller = startPolling(config, store, deployer, logger);
  const maintenance = startMaintenance(config, store, logger);
  const opened = store;
  const reported = reporting;
  const told = notices;
  return {
    deployer,
    store: opened,
    notices: told,
    async stop() {
      poller.stop();
      await maintenance.stop();
      await deployer.stop();
      // The last deploys' statuses and notices get a moment; what still fails is retried by nobody (logged).
      await Promise.all([reported?.flush(STOP_FLUSH_MS), told?.close(STOP_FLUSH_MS)]);
      opened.close();
      await lock.release();
    },
  };
}
