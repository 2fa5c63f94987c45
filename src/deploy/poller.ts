import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { StateStore } from '../state/state-store.ts';
import type { Deployer } from './deployer.ts';
import { resolveRef } from './git-source.ts';

/**
 * For sites with `poll` set: asks the repository for the branch's commit at
 * that interval and deploys it when it is not what the site serves. A commit
 * is submitted once; if its deploy fails, the next new commit is tried.
 */
export function startPolling(config: ResolvedConfig, store: StateStore, deployer: Deployer, logger: Logger): { stop(): void } {
  const timers: NodeJS.Timeout[] = [];
  for (const site of config.sites) {
    if (site.pollIntervalMs === undefined || site.repo === undefined) continue;
    const repo = site.repo;
    const ref = `refs/heads/${site.branch}`;
    let lastSubmitted: string | undefined;
    let busy = false;
    const check = async (): Promise<void> => {
      // A locked site (a rollback from the dashboard, say) stays on what it serves.
      if (busy || store.siteLock(site.name) !== undefined) return;
      busy = true;
      try {
        const sha = await resolveRef({ repo, ref, deployKeyFile: site.deployKeyFile, token: site.token?.reveal() });
        if (sha !== lastSubmitted && sha !== store.liveSha(site.name)) {
          lastSubmitted = sha;
          const record = deployer.submit({ site: site.name, trigger: 'poll', ref, sha });
          logger.info({ site: site.name, sha, deploy: record.id }, 'poll found a new commit');
        }
      } catch (error) {
        logger.warn({ site: site.name, err: error }, 'poll failed; trying again at the next interval');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void check(), site.pollIntervalMs);
    timer.unref();
    timers.push(timer);
    void check();
  }
  return {
    stop() {
      for (const timer of timers) clearInterval(timer);
    },
  };
}
