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
import { workDirFor } from './work-dir.ts';

export interface RecoveryDeps {
  config: ResolvedConfig;
  store: StateStore;
  logger: Logger;
}

export interface RecoveryOptions {
  /** Only this site. */
  site?: string;
  /**
   * How long to wait for a publish in progress before leaving its site's
   * temporary files for the next time.
   * @default 1000
   */
  lockWaitMs?: number;
}

export interface RecoveryReport {
  /** Deploys marked failed with `E_DEPLOY_INTERRUPTED`. */
  failed: string[];
  /** Process groups of builds that had outlived their deploy, now killed. */
  stoppedBuilds: number[];
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
 * - `.tmp-*` entries, under the site lock, which every writer of them holds.
 *
 * Limits: a build process that left its process group (`setsid`) is not
 * found by its group; and if the whole group had already ended and a later,
 * unrelated group got the same id with its leader gone too, that group
 * would be killed: the id must have been reused between the crash and now.
 */
export async function recoverInterruptedDeploys(deps: RecoveryDeps, options: RecoveryOptions = {}): Promise<RecoveryReport> {
  const { config, store, logger } = deps;
  const report: RecoveryReport = { failed: [], stoppedBuilds: [], removed: [] };
  for (const deploy of store.recoverInterrupted(new Date(), options.site)) {
    report.failed.push(deploy.id);
    const build = store.buildProcess(deploy.id);
    if (build !== undefined) {
      if (await stopOrphanedBuild(build)) report.stoppedBuilds.push(build.pid);
      store.recordBuildProcess(deploy.id, undefined);
    }
    logger.warn({ deploy: deploy.id, site: deploy.site, build: build?.pid }, 'deploy was interrupted: the process running it stopped or crashed; marked failed');
  }
  const sites = options.site === undefined ? config.sites.map((site) => site.name) : [options.site];
  for (const site of sites) {
    report.removed.push(...(await removeAbandonedWorkDirs(deps, site)));
    try {
      report.removed.push(...(await cleanTemporaryFiles(sitePaths(config.dataDir, site), options.lockWaitMs ?? 1_000)));
    } catch (error) {
      // A publish is running; what it leaves is its own, or the next round's.
      if (!isBerthError(error) || error.code !== 'E_SITE_LOCKED') throw error;
    }
  }
  if (report.removed.length > 0) logger.warn({ removed: report.removed }, 'removed what interrupted deploys and publishes left behind');
  return report;
}

/** Work directories of deploys that no process is running any more. */
async function removeAbandonedWorkDirs({ config, store }: RecoveryDeps, site: string): Promise<string[]> {
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
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
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
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') break;
      throw error;
    }
    await sleep(POLL_MS);
  } while (runningGroupMembers(pgid).length > 0 && performance.now() < deadline);
  return true;
}
