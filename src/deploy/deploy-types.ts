/** The record of one deploy, as stored in `state.db` and shown by `berth deploys`. */

export type DeployState = 'queued' | 'building' | 'publishing' | 'live' | 'failed' | 'cancelled' | 'superseded' | 'skipped';

/** `api`: the dashboard's or the API's redeploy. */
export type DeployTrigger = 'webhook' | 'cli' | 'poll' | 'hook' | 'api';

/** Milliseconds spent in each phase. */
export interface DeployPhases {
  queued?: number;
  fetch?: number;
  build?: number;
  publish?: number;
  smoke?: number;
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
