import { formatDuration } from '../cli/format.ts';
import type { NotifyEventType } from '../config/resolved-config.ts';
import type { DeployStatusState } from '../status/commit-status.ts';
import type { DeployRecord, DeployState } from './deploy-types.ts';

/**
 * What a deploy's record says to the world outside the server: the commit
 * status a forge shows for it, and which notifications it is worth. Pure,
 * so that the wording and the rules are tested apart from any forge.
 */

export interface ReportedStatus {
  /** Berth's own state; each forge's client maps it to the forge's. */
  state: DeployStatusState;
  /** One line, within every forge's limit (GitHub's 140 characters). */
  description: string;
}

/** The commit status for a deploy in its current state. */
export function statusOf(record: DeployRecord): ReportedStatus {
  const took = tookOf(record);
  switch (record.state) {
    case 'queued':
      return { state: 'queued', description: 'Waiting to deploy' };
    case 'building':
      return { state: 'running', description: 'Fetching and building' };
    case 'publishing':
      return { state: 'running', description: 'Publishing and checking the release' };
    case 'live':
      return { state: 'succeeded', description: `Live${took}${record.releaseId === undefined ? '' : `: release ${record.releaseId}`}` };
    case 'skipped':
      return { state: 'succeeded', description: 'Already live; nothing to deploy' };
    case 'failed':
      return { state: 'failed', description: `Failed${took}: ${record.errorCode ?? 'E_DEPLOY_FAILED'}; the live site is unchanged` };
    case 'superseded':
      return { state: 'cancelled', description: 'Not deployed: a newer push replaced it before it started' };
    case 'cancelled':
      return { state: 'cancelled', description: `Cancelled${took}; the live site is unchanged` };
  }
}

/** The status a deploy leaves on a commit it no longer deploys: a push whose branch had moved on by the fetch. */
export function statusOfPassedOver(record: DeployRecord): ReportedStatus {
  const short = record.sha?.slice(0, 12) ?? 'a newer commit';
  const now = statusOf(record);
  if (now.state === 'succeeded') return { state: 'succeeded', description: `Deployed as part of ${short}` };
  if (now.state === 'queued' || now.state === 'running') return { state: now.state, description: `Deploying with ${short}` };
  return { ...now, description: `${now.description} (deploy of ${short})` };
}

/** States that end a deploy. */
export const FINAL_STATES: ReadonlySet<DeployState> = new Set(['live', 'failed', 'cancelled', 'superseded', 'skipped']);

/** States that count for "recovered": a deploy that ran to an end of its own. */
const OUTCOMES: ReadonlySet<DeployState> = new Set(['live', 'failed']);

/**
 * The notifications a deploy that just ended is worth. `earlier` is the
 * site's deploy history before this one, newest first: a success after one
 * or more failures is also a recovery. Cancelled and superseded deploys are
 * nobody's news.
 */
export function noticesOf(record: DeployRecord, earlier: readonly DeployRecord[]): NotifyEventType[] {
  if (record.state === 'failed') return ['deploy.failed'];
  if (record.state !== 'live') return [];
  // The outcome that ended last before this one: deploys of a site may start in one order and end in another
  // (one from `berth deploy`, one from the server).
  const previous = earlier
    .filter((deploy) => deploy.id !== record.id && deploy.trigger !== 'rollback' && OUTCOMES.has(deploy.state) && deploy.finishedAt !== undefined && (record.finishedAt === undefined || deploy.finishedAt <= record.finishedAt))
    .sort((a, b) => (b.finishedAt ?? '').localeCompare(a.finishedAt ?? ''))[0];
  return previous?.state === 'failed' ? ['deploy.succeeded', 'deploy.recovered'] : ['deploy.succeeded'];
}

/** The time from queued to the end, in ms, once ended. */
export function durationOf(record: DeployRecord): number | undefined {
  if (record.finishedAt === undefined) return undefined;
  const ms = Date.parse(record.finishedAt) - Date.parse(record.createdAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}

function tookOf(record: DeployRecord): string {
  const ms = durationOf(record);
  return ms === undefined ? '' : ` in ${formatDuration(ms)}`;
}
