import { readdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import type { ResolvedHistory } from '../config/resolved-config.ts';
import type { StateStore } from '../state/state-store.ts';
import { deployLogPath } from './deploy-log.ts';

export interface PruneDeps {
  dataDir: string;
  history: ResolvedHistory;
  store: StateStore;
}

export interface PruneReport {
  /** Deploys deleted from the history, their logs with them. */
  deploys: string[];
  /** Webhook deliveries forgotten. */
  deliveries: number;
  /** Log files whose deploy was no longer in the history (state.db moved aside), older than keep_days. */
  strayLogs: string[];
}

/** Rows deleted per transaction: each holds the database's write lock, and (in one process with the server) the event loop, only briefly. */
const BATCH = 200;
const DAY_MS = 86_400_000;

/**
 * Applies the history's retention policy (`[deploy] keep_deploys`,
 * `keep_days`, `keep_deliveries_days`): a deploy and its log are deleted
 * once it is neither among the newest `keep_deploys` of its site nor younger
 * than `keep_days`; deploys still running and each site's newest live deploy
 * are always kept. Webhook deliveries are forgotten after
 * `keep_deliveries_days`. Releases are not touched: `retain` keeps those.
 *
 * Works in small batches and yields between them, so a server that prunes
 * a long history keeps answering requests meanwhile.
 */
export async function pruneHistory({ dataDir, history, store }: PruneDeps, now = new Date()): Promise<PruneReport> {
  const before = new Date(now.getTime() - history.keepDays * DAY_MS);
  const report: PruneReport = { deploys: [], deliveries: 0, strayLogs: [] };
  for (;;) {
    const ids = store.pruneDeploys({ keepPerSite: history.keepDeploys, before }, BATCH);
    for (const id of ids) await rm(deployLogPath(dataDir, id), { force: true });
    report.deploys.push(...ids);
    if (ids.length < BATCH) break;
    await yieldToEvents();
  }
  const deliveriesBefore = new Date(now.getTime() - history.keepDeliveriesDays * DAY_MS);
  for (;;) {
    const count = store.pruneDeliveries(deliveriesBefore, BATCH);
    report.deliveries += count;
    if (count < BATCH) break;
    await yieldToEvents();
  }
  report.strayLogs = await removeStrayLogs(dataDir, store, before);
  return report;
}

/**
 * Logs with no deploy in the history any more: left when state.db was moved
 * aside, or by a deletion that stopped before the file went. Judged by the
 * file's age too, so a deploy being created right now is never touched.
 */
async function removeStrayLogs(dataDir: string, store: StateStore, before: Date): Promise<string[]> {
  const dir = dirname(deployLogPath(dataDir, 'x'));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  let looked = 0;
  for (const name of names) {
    if (!name.endsWith('.log')) continue;
    if (++looked % BATCH === 0) await yieldToEvents();
    const id = name.slice(0, -'.log'.length);
    if (store.hasDeploy(id)) continue;
    const file = deployLogPath(dataDir, id);
    try {
      if ((await stat(file)).mtimeMs >= before.getTime()) continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    await rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}
