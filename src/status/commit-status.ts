/**
 * Commit statuses: after each step of a deploy, Berth tells the forge how
 * the deploy of that commit went, so the forge shows it beside the commit
 * and on pull requests (the same place CI results appear).
 *
 * This module holds the shapes every forge client shares. The clients turn
 * an update into their forge's own request; the reporter
 * (status-reporter.ts) sends them in order and retries, off the deploy's
 * path: a forge that is down never holds up or fails a deploy.
 */

export type StatusForge = 'github' | 'gitlab' | 'gitea' | 'forgejo' | 'bitbucket';

/** Berth's own states; each client maps them to its forge's. */
export type DeployStatusState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface CommitStatusUpdate {
  /** The full commit id: 40 hex digits (64 for a SHA-256 repository). */
  sha: string;
  state: DeployStatusState;
  /** What the forge groups statuses by, `berth/<site>`: a later update with the same context replaces the earlier one. */
  context: string;
  /** One line for people; each client cuts it to its forge's limit (GitHub's is 140 characters). */
  description: string;
  /** The deploy's dashboard page, when there is one. */
  targetUrl?: string;
  /** The site's public URL, e.g. `https://blog.example.com/`: Bitbucket requires a link, and gets `targetUrl ?? siteUrl`. */
  siteUrl: string;
}

/** Where statuses for one site go. */
export interface ForgeTarget {
  forge: StatusForge;
  /** The forge's API root, without a trailing slash, e.g. `https://api.github.com`. */
  apiBase: string;
  /** `owner/name`, or GitLab's `group/sub/project` path. */
  repo: string;
}

export interface CommitStatusClient {
  /** Which forge it talks to, for log lines. */
  readonly forge?: StatusForge;
  /** Sets the status; rejects with a `StatusSendError` when the forge did not take it. */
  send(update: CommitStatusUpdate, signal?: AbortSignal): Promise<void>;
}

/** Longest forge message an error carries: enough to say what is wrong, too short to carry a page of HTML. */
export const FORGE_MESSAGE_MAX_CHARS = 200;

export interface StatusSendErrorDetails {
  httpStatus?: number;
  retryable: boolean;
  retryAfterMs?: number;
  forgeMessage: string;
}

/**
 * A status the forge did not take. `message` says what happened and what
 * to change; `forgeMessage` is the forge's own explanation, cut short. No
 * part of it ever holds the token: the clients remove it before building
 * the error, since the error goes to the log.
 */
export class StatusSendError extends Error {
  /** The forge's HTTP status; absent when no answer came (network error, timeout). */
  readonly httpStatus?: number;
  /** Whether the same request may succeed later (5xx, rate limit, network): the reporter retries only these. */
  readonly retryable: boolean;
  /** How long the forge asked us to wait (Retry-After, GitHub's rate-limit reset). */
  readonly retryAfterMs?: number;
  /** The forge's own error message, at most `FORGE_MESSAGE_MAX_CHARS` characters; empty when it gave none. */
  readonly forgeMessage: string;

  constructor(message: string, details: StatusSendErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StatusSendError';
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
    this.retryable = details.retryable;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    this.forgeMessage = details.forgeMessage;
  }
}
