import { dashboardUrl } from '../admin/dashboard-url.ts';
import { deployPath } from '../dashboard/dashboard-paths.ts';
import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import type { StateStore } from '../state/state-store.ts';
import type { CommitStatusClient, CommitStatusUpdate } from '../status/commit-status.ts';
import { createStatusClient } from '../status/create-status-client.ts';
import { createStatusReporter, type StatusReporter } from '../status/status-reporter.ts';
import { FINAL_STATES, noticesOf, statusOf, statusOfPassedOver } from './deploy-report.ts';
import type { DeployRecord } from './deploy-types.ts';
import type { DeployListener } from './observe-deploys.ts';

/** Ended deploys read to tell a recovery: the last outcome before this one is among them, whatever else ran. */
const RECOVERY_LOOKBACK = 200;

/** Where a deploy that ended is told, once its notices are known (notifications). */
export type DeployNoticeSink = (record: DeployRecord, notices: ReturnType<typeof noticesOf>) => void;

export interface DeployReporting {
  /** Give to `observeDeploys`: hears every deploy's changes. */
  listener: DeployListener;
  /** Waits at most `timeoutMs` for what is still being sent (for `berth deploy`, which exits after). */
  flush(timeoutMs: number): Promise<void>;
}

/**
 * Tells the world about deploys: each site's commit statuses on its forge
 * (`[sites.status]`), and each ended deploy's notices to `notices`. Nothing
 * here ever blocks or fails a deploy: statuses are sent in the background,
 * retried by the reporter, and a forge's refusal is logged once.
 */
export function createDeployReporting(config: ResolvedConfig, history: Pick<StateStore, 'listDeploys' | 'liveSha'>, logger: Logger, notices?: DeployNoticeSink): DeployReporting {
  const clients = new Map<string, CommitStatusClient>();
  for (const site of config.sites) {
    if (site.status === undefined) continue;
    try {
      clients.set(site.name, createStatusClient({ forge: site.status.forge, apiBase: site.status.api, repo: site.status.repo }, site.status.token.reveal()));
    } catch (error) {
      // A token this process could not resolve (a command reading history): no statuses from here.
      logger.warn({ site: site.name, err: error }, 'commit statuses are off for this site');
    }
  }
  const reporter: StatusReporter | undefined = clients.size === 0 ? undefined : createStatusReporter({ logger });
  const dashboard = dashboardUrl(config);
  /** The commits each unfinished deploy was reported under: a push's, then its branch's tip. */
  const reported = new Map<string, string[]>();

  const report = (site: ResolvedSite, client: CommitStatusClient, record: DeployRecord): void => {
    if (record.sha === undefined || reporter === undefined) return;
    const shas = reported.get(record.id) ?? [];
    if (!shas.includes(record.sha)) shas.push(record.sha);
    // The deploy's page on the dashboard, when there is one (issue 16's [admin] domain); else the forge shows no link.
    const base = { context: `berth/${site.name}`, siteUrl: siteUrl(config, site), ...(dashboard === undefined ? {} : { targetUrl: `${dashboard}${deployPath(record.id)}` }) };
    // A push replaced before it ran whose commit another deploy already made live keeps that deploy's green status.
    if (record.state === 'superseded' && history.liveSha(site.name) === record.sha) {
      reported.delete(record.id);
      return;
    }
    for (const sha of shas) {
      const status = sha === record.sha ? statusOf(record) : statusOfPassedOver(record);
      const update: CommitStatusUpdate = { ...base, sha, state: status.state, description: status.description };
      reporter.report(site.name, client, update);
    }
    if (FINAL_STATES.has(record.state)) reported.delete(record.id);
    else reported.set(record.id, shas);
  };

  return {
    listener(record) {
      const site = config.sites.find((candidate) => candidate.name === record.site);
      // A rollback publishes no commit: the forge keeps the status its deploy had, and nobody is told of a deploy.
      if (site === undefined || record.trigger === 'rollback') return;
      try {
        const client = clients.get(site.name);
        if (client !== undefined) report(site, client, record);
        if (notices !== undefined && FINAL_STATES.has(record.state)) {
          const kinds = noticesOf(record, history.listDeploys({ site: site.name, limit: RECOVERY_LOOKBACK, states: ['live', 'failed'] }));
          if (kinds.length > 0) notices(record, kinds);
        }
      } catch (error) {
        // The state database busy, say: the deploy goes on, and the log says what was not told.
        logger.warn({ deploy: record.id, site: site.name, state: record.state, err: error }, 'cannot report this deploy to the forge or the notification channels');
      }
    },
    async flush(timeoutMs) {
      await reporter?.flush(timeoutMs);
    },
  };
}

/** The site's address as a visitor types it: the primary name, HTTPS when it is served. */
export function siteUrl(config: ResolvedConfig, site: ResolvedSite): string {
  const domain = site.domains[0] ?? 'localhost';
  const host = domain.includes(':') ? `[${domain}]` : domain;
  const { httpsPort, httpPort } = config.server;
  if (httpsPort !== false) return `https://${host}${httpsPort === 443 || httpsPort === 0 ? '' : `:${httpsPort}`}/`;
  return `http://${host}${httpPort === 80 || httpPort === 0 || httpPort === false ? '' : `:${httpPort}`}/`;
}
