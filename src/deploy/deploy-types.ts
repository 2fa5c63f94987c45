/** The record of one deploy, as stored in `state.db` and shown by `berth deploys`. */

export type DeployState = 'queued' | 'building' | 'publishing' | 'live' | 'failed' | 'cancelled' | 'superseded' | 'skipped';

/**
 * `api`: the dashboard's or the API's redeploy. `rollback`: an older release
 * made live again (by `berth rollback`, the dashboard or the API); such a
 * deploy builds nothing, and its only phase is `activate`.
 */
export type DeployTrigger = 'webhook' | 'cli' | 'poll' | 'hook' | 'api' | 'rollback';

/** Milliseconds spent in each phase. */
export interface DeployPhases {
  queued?: number;
  fetch?: number;
  build?: number;
  publish?: number;
  /** The release's files read back before it is switched to (the API's `check`). */
  smoke?: number;
  /** The switch, and the wait until the serving workers answer with the new release. */
  activate?: number;
}

export interface DeployRecord {
  /** Sortable by time: `20261127T085500Z-1a2b3c`. */
  id: string;
  site: string;
  trigger: DeployTrigger;
  forge: string | undefined;
  delivery: string | undefined;
  ref: string;
  sha: string | undefined;
  author: string | undefined;
  message: string | undefined;
  state: DeployState;
  createdAt: string;
  startedAt: string | undefined;
  finishedAt: string | undefined;
  phases: DeployPhases;
  releaseId: string | undefined;
  /** Which build settings were used, e.g. `netlify.toml` or `preset astro`. */
  buildSource: string | undefined;
  errorCode: string | undefined;
  errorMessage: string | undefined;
}

export interface NewDeploy {
  site: string;
  trigger: DeployTrigger;
  forge?: string;
  delivery?: string;
  ref: string;
  sha?: string;
  author?: string;
  message?: string;
}
