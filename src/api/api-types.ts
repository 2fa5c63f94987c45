/**
 * What `/_berth/api/v1/` answers, field by field (docs/api.md describes each).
 * The dashboard's pages are rendered from the same objects, so a page never
 * shows what the API would not.
 *
 * Times are ISO 8601 strings in UTC; durations are milliseconds; absent
 * values are `null`, never left out, so a client sees every field.
 */

import type { ShownState } from '../deploy/shown-state.ts';

/** How a deploy started. `push`: a forge's webhook; `hook`: git's post-receive hook on this server. */
export type ApiTrigger = 'push' | 'poll' | 'hook' | 'cli' | 'api' | 'rollback';

export type ApiPhaseName = 'queued' | 'fetch' | 'build' | 'publish' | 'check' | 'activate';

export interface ApiPhase {
  name: ApiPhaseName;
  startedAt: string;
  finishedAt: string;
  ms: number;
}

export interface ApiError {
  /** Stable, documented in docs/errors.md: `E_BUILD_FAILED`, … */
  code: string;
  message: string;
}

export interface ApiDeploy {
  id: string;
  site: string;
  trigger: ApiTrigger;
  /** `github`, `gitlab`, `gitea`, `forgejo`, `bitbucket`, `generic` for a push; null otherwise. */
  forge: string | null;
  /** `refs/heads/main`. */
  ref: string;
  /** The branch's name when `ref` names one, for filtering. */
  branch: string | null;
  /** Full 40 (or 64) hex digits, once known. */
  sha: string | null;
  author: string | null;
  /** The first line of the commit message. */
  title: string | null;
  message: string | null;
  /** A page on the forge for the commit, when the repository's forge is known. */
  commitUrl: string | null;
  state: ShownState;
  /** This deploy's release is the one served now. */
  live: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** From creation to end (or to now, while it runs). */
  durationMs: number;
  phases: ApiPhase[];
  releaseId: string | null;
  /** e.g. `netlify.toml`, `preset astro`. */
  buildSource: string | null;
  error: ApiError | null;
}

export interface ApiRelease {
  id: string;
  site: string;
  createdAt: string;
  /** Served now. */
  live: boolean;
  sha: string | null;
  /** The deploy that published it; null for `berth publish` or when pruned from the history. */
  deployId: string | null;
  files: number | null;
  bytes: number | null;
}

export type ApiCertificateState = 'valid' | 'expiring' | 'expired' | 'missing' | 'self-signed' | 'failing';

export interface ApiCertificate {
  /** The names on it, primary first. */
  names: string[];
  /** Sites it serves (and `admin` for the dashboard's host). */
  sites: string[];
  state: ApiCertificateState;
  issuer: string | null;
  notBefore: string | null;
  notAfter: string | null;
  /** When Berth next looks at it (renews it when due). */
  nextCheckAt: string | null;
  lastError: ApiError | null;
}

export interface ApiLock {
  /** Admin name, or `token:<name>` for an API token. */
  by: string;
  at: string;
  reason: string | null;
}

export interface ApiSite {
  name: string;
  domains: string[];
  /** Where the site's commits come from, without credentials; null for a site published by `berth publish` only. */
  repo: string | null;
  branch: string;
  /** The served release, or null before the first. */
  liveRelease: string | null;
  /** The deploy that made the served release, when it is in the history. */
  liveDeploy: ApiDeploy | null;
  /** The newest deploy, whatever its state. */
  lastDeploy: ApiDeploy | null;
  /** Set: pushes and polls do not deploy (a rollback stays live) until unlocked. */
  lock: ApiLock | null;
  certificate: ApiCertificate | null;
}

/** One line of a deploy's log. `n` counts from 1 and is the SSE event id. */
export interface ApiLogLine {
  n: number;
  text: string;
}

/** Every error answer: `{ "error": { "code": …, "message": … } }` with a 4xx or 5xx status. */
export interface ApiErrorBody {
  error: ApiError;
}
