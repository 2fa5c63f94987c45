import type { DeployRecord, DeployState } from './deploy-types.ts';

/**
 * The state a deploy is shown in. A deploy that went live stays `live` in
 * the database; what serves now is the site's `current` link. So only the
 * deploy whose release is the active one is `live`; an earlier one is
 * `superseded` (a newer release went live) or `rolled back` (an older
 * release was made live again after it).
 */
export type ShownState = DeployState | 'rolled back';

export const SHOWN_STATES: readonly ShownState[] = ['queued', 'building', 'publishing', 'live', 'superseded', 'rolled back', 'failed', 'cancelled', 'skipped'];

/** `active`: the release the site serves now (undefined: none). Release ids sort by time. */
export function shownState(record: DeployRecord, active: string | undefined): ShownState {
  if (record.state !== 'live') return record.state;
  if (record.releaseId === undefined || record.releaseId === active) return 'live';
  return active !== undefined && active < record.releaseId ? 'rolled back' : 'superseded';
}
