import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { cleanTemporaryFiles } from '../releases/clean-temp.ts';
import { sitePaths } from '../releases/site-paths.ts';
import { identify, runningGroupMembers, type ProcessIdentity } from '../state/process-identity.ts';
import type { StateStore } from '../state/state-store.ts';
import { buildHostFor, type BuildHost } from './build-host.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { isDeployId, workDirFor } from './work-dir.ts';

export interface RecoveryDeps {
  config: ResolvedConfig;
  store: StateStore;
  logger: Logger;
  /** Kills a site's build uid and gives checkouts back; `buildHostFor(config)` when absent. */
  buildHost?: BuildHost;
}

export interface RecoveryOptions {
  /** Only this site. */
  site?: string;
  /**
   * How long to wait for a publish (or a deploy) in progress before leaving
   * its site's leftovers for the next time.
   * @default 1000
   */
  lockWaitMs?: number;
  /** The caller holds the site's deploy lock (it is about to deploy `site`). */
  holdsDeployLock?: boolean;
}

export interface RecoveryReport {
  /** Deploys marked failed with `E_DEPLOY_INTERRUPTED`. */
  failed: string[];
  /** Process groups of builds that had outlived their deploy, now killed. */
  stoppedBuilds: number[];
  /** Processes of a site's build uid that outlived every deploy (left the group with `setsid`), now killed. */
  strayProcesses: number[];
  /** Work directories and temporary release files removed. */
  removed: string[];
}

/** States in which a deploy's process is still working on it. */
const RUNNING_STATES: ReadonlySet<string> = new Set(['queued', 'building', 'publishing']);
/** How long killed build processes get to be gone before the work dir is removed anyway. */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 25;

/**
 * Cleans up after deploys whose process died (`berth serve` or a `berth
 * deploy` killed, even with SIGKILL): marks their rows failed with
 * `E_DEPLOY_INTERRUPTED`, kills the build they left running, removes their
 * work directories and the half-assembled releases of an interrupted
 * publish. `berth serve` runs it at start, every few seconds, and every
 * deploy runs it for its site once it holds the deploy lock.
 *
 * It may run at any moment beside deploys of this or another process, so it
 * touches only what no running process owns:
 * - a row whose recorded process (pid and start time) no longer runs;
 * - the build process group recorded on such a row, and only while the
 *   group's leader is that same process (or gone, its group left over);
 * - a work directory whose deploy is not queued, building or publishing
 *   (finished, just failed here, or unknown);
 * - `.tmp-*` entries, under the site lock, which every writer of them holds;
 * - processes of the site's own build uid (when Berth is root), while no
 *   deploy of the site runs (its deploy lock held): those that left the
 *   build's group with `setsid` are found this way.
 *
 * Limits: when builds have no uid of their own (Berth is not root), a build
 * process that left its process group is not found; and if the whole group
 * had already ended and a later, unrelated group got the same id with its
 * leader gone too, that group would be killed: the id must have been reused
 * between the crash and now.
 */
export async function recoverInterruptedDeploys(deps: RecoveryDeps, options: RecoveryOptions = {}): Promise<RecoveryReport> {
  const { config, store, logger } = deps;
  const host = deps.buildHost ?? buildHostFor(config);
  const report: RecoveryReport = { failed: [], stoppedBuilds: [], strayProcesses: [], removed: [] };
  const interruptedSites = new Set<string>();
  for (const deploy of store.recoverInterrupted(new Date(), options.site)) {
    report.failed.push(deploy.id);
    interruptedSites.add(deploy.site);
    const build = store.buildProcess(deploy.id);
    if (build !== undefined) {
      if (await stopOrphanedBuild(build)) report.stoppedBuilds.push(build.pid);
      store.recordBuildProcess(deploy.id, undefined);
    }
    logger.warn({ deploy: deploy.id, site: deploy.site, build: build?.pid }, 'deploy was interrupted: the process running it stopped or crashed; marked failed');
  }
  const sites = options.site === undefined ? config.sites.map((site) => site.name) : [options.site];
  for (const site of sites) {
    if (options.holdsDeployLock === true || interruptedSites.has(site)) {
      report.strayProcesses.push(...(await stopStrayBuildProcesses(deps, host, site, options)));
    }
    report.removed.push(...(await removeAbandonedWorkDirs(deps, host, site)));
    try {
      report.removed.push(...(await cleanTemporaryFiles(sitePaths(config.dataDir, site), options.lockWaitMs ?? 1_000)));
    } catch (error) {
      // A publish is running; what it leaves is its own, or the next round's.
      if (!isBerthError(error) || error.code !== 'E_SITE_LOCKED') throw error;
    }
  }
  if (report.strayProcesses.length > 0) logger.warn({ killed: report.strayProcesses }, 'killed build processes that outlived their deploy');
  if (report.removed.length > 0) logger.warn({ removed: report.removed }, 'removed what interrupted deploys and publishes left behind');
  return report;
}

/** Work directories of deploys that no process is running any more. */
async function removeAbandonedWorkDirs({ config, store, logger }: RecoveryDeps, host: BuildHost, site: string): Promise<string[]> {
  const workRoot = join(sitePaths(config.dataDir, site).siteDir, 'work');
  let names: string[];
  try {
    names = await readdir(workRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    const deploy = store.getDeploy(name);
    // Unfinished after recoverInterrupted: its process runs, so the directory is in use.
    if (deploy !== undefined && RUNNING_STATES.has(deploy.state)) continue;
    const dir = workDirFor(config.dataDir, site, name);
    try {
      // A checkout the build user still owns (the deploy died during its build) is given back first.
      if (isDeployId(name) && !(await host.reclaimWorkDir({ site, deployId: name }))) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (error) {
      logger.warn({ site, dir, err: error }, 'cannot remove the work directory of an interrupted deploy; trying again later');
    }
  }
  return removed;
}

/**
 * Kills every process of the site's own build uid, when builds have one
 * (Berth runs as root) and no deploy of the site runs: that is while the
 * site's deploy lock is held, by the caller or here (not waited for long).
 * Only that site's builds use the uid, so whatever still runs as it is a
 * leftover, including processes that left the build's group with `setsid`.
 */
async function stopStrayBuildProcesses({ config }: RecoveryDeps, host: BuildHost, site: string, options: RecoveryOptions): Promise<number[]> {
  const kill = (): Promise<number[]> => host.stopStrayProcesses(site);
  if (options.holdsDeployLock === true) return kill();
  try {
    return await withSiteLock(join(sitePaths(config.dataDir, site).siteDir, '.deploy.lock'), kill, options.lockWaitMs ?? 1_000);
  } catch (error) {
    // A deploy of the site runs: its build ends by killing the uid's processes itself.
    if (isBerthError(error) && error.code === 'E_SITE_LOCKED') return [];
    throw error;
  }
}

/**
 * Kills the process group of a build whose deploy's process is gone, and
 * waits (a bounded time) until none of its processes runs. Straight to
 * SIGKILL: nobody is left to read what the build would say on its way out.
 * Returns whether any process was found to kill.
 */
async function stopOrphanedBuild(build: ProcessIdentity): Promise<boolean> {
  const pgid = build.pid;
  const leader = identify(pgid);
  // A running process with that pid that is not the recorded leader: the pid
  // was free to reuse, so the build's group (which would have kept it taken) is gone.
  if (leader !== undefined && build.start !== undefined && leader.start !== build.start) return false;
  if (runningGroupMembers(pgid).length === 0) return false;
  const deadline = performance.now() + KILL_WAIT_MS;
  do {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') break;
      // The build runs as its own uid and this Berth is not root: the root parent stopped it when the deploy's
      // process died, and the build host kills what the uid left (stopStrayProcesses).
      if (code === 'EPERM') return false;
      throw error;
    }
    await sleep(POLL_MS);
  } while (runningGroupMembers(pgid).length > 0 && performance.now() < deadline);
  return true;
}
