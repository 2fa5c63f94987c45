import type { ResolvedSite } from '../config/resolved-config.ts';
import { activateRelease, previousReleaseId } from '../releases/activate.ts';
import { activeReleaseId, readReleaseSummary } from '../releases/release-list.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { sitePaths } from '../releases/site-paths.ts';
import type { StateStore } from '../state/state-store.ts';
import { openDeployLog } from './deploy-log.ts';
import type { DeployRecord } from './deploy-types.ts';

export interface RollbackRequest {
  dataDir: string;
  site: Pick<ResolvedSite, 'name' | 'branch'>;
  /** The release to make live; undefined: the newest one older than the live one. */
  release: string | undefined;
  /** Who asked, for the log: an admin's name, `token:NAME`, or the user at the shell. */
  by: string;
  store: Pick<StateStore, 'createDeploy' | 'updateDeploy' | 'listDeploys'>;
}

export interface RollbackOutcome {
  /** The release live before (undefined: none was). */
  from: string | undefined;
  to: string;
  /** The rollback as it is in the history; undefined when nothing changed (it was live already) or it could not be recorded. */
  deploy: DeployRecord | undefined;
  /** Why the history does not hold it, when the switch happened but the record failed. */
  recordError?: unknown;
}

/**
 * Makes an older release live again (the same atomic switch a deploy ends
 * with, under the site's lock) and records it in the deploy history as a
 * deploy with the trigger `rollback`: its release, the commit that release
 * was built from (with the author and message of the deploy that made it),
 * and one phase, `activate`. So the history says what serves now and since
 * when, and the deploy that first made the release shows as superseded.
 * Once the switch is done the rollback stands: a history that cannot be
 * written (the database busy) is reported, not undone.
 */
export async function rollBack(request: RollbackRequest): Promise<RollbackOutcome> {
  const { site, store } = request;
  const paths = sitePaths(request.dataDir, site.name);
  const startedAt = new Date();
  const began = performance.now();
  const [from, to] = await withSiteLock(paths.lockFile, async () => {
    const active = await activeReleaseId(paths);
    const target = request.release ?? (await previousReleaseId(paths));
    await activateRelease(paths, target);
    return [active, target] as const;
  });
  const activateMs = Math.round(performance.now() - began);
  if (from === to) return { from, to, deploy: undefined };
  try {
    const maker = store.listDeploys({ site: site.name, limit: 10_000, states: ['live'] }).find((record) => record.releaseId === to && record.trigger !== 'rollback');
    const commit = (await readReleaseSummary(paths, to).catch(() => undefined))?.commit ?? maker?.sha;
    const record = store.createDeploy(
      {
        site: site.name,
        trigger: 'rollback',
        ref: maker?.ref ?? `refs/heads/${site.branch}`,
        ...(commit === undefined ? {} : { sha: commit }),
        ...(maker?.author === undefined ? {} : { author: maker.author }),
        ...(maker?.message === undefined ? {} : { message: maker.message }),
      },
      startedAt,
    );
    const log = await openDeployLog(request.dataDir, record.id);
    log.line(`rollback ${record.id}: site ${site.name}, release ${to} made live again by ${request.by} (it was ${from ?? 'no release'})`);
    log.line(maker === undefined ? `release ${to} is not from a deploy in the history` : `release ${to} was made by deploy ${maker.id}`);
    log.line(`release ${to} is live`);
    await log.close();
    const deploy = store.updateDeploy(record.id, { state: 'live', startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(), phases: { activate: activateMs }, releaseId: to });
    return { from, to, deploy };
  } catch (error) {
    return { from, to, deploy: undefined, recordError: error };
  }
}
