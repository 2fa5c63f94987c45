import type { DeployRecord, DeployState } from './deploy-types.ts';

/**
 * The state a deploy is shown in. A deploy that went live stays `live` in
 * the database; what serves now is the site's `current` link. So only the
 * deploy that made the active release live most recently is `live`; an
 * earlier one is `superseded` (a newer release, or a rollback to its own
 * release, came after it) or `rolled back` (an older release was made live
 * again after it).
 */
export type ShownState = DeployState | 'rolled back';

export const SHOWN_STATES: readonly ShownState[] = ['queued', 'building', 'publishing', 'live', 'superseded', 'rolled back', 'failed', 'cancelled', 'skipped'];

/** What a site serves now: its active release (undefined: none) and the newest live deploy of that release, if any is in the history. */
export interface Serving {
  release: string | undefined;
  deploy: string | undefined;
}

/** Release ids sort by time. */
export function shownState(record: DeployRecord, serving: Serving): ShownState {
  if (record.state !== 'live') return record.state;
  if (record.releaseId === undefined) return 'live';
  const { release } = serving;
  if (record.releaseId === release) return serving.deploy === undefined || serving.deploy === record.id ? 'live' : 'superseded';
  return release !== undefined && release < record.releaseId ? 'rolled back' : 'superseded';
}
