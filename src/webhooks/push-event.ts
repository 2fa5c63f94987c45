import type { Forge } from '../config/resolved-config.ts';

/** A push a forge told us about, after its signature was verified. */
export interface PushEvent {
  site: string;
  forge: Forge;
  /** The forge's delivery id (or a hash of the body where the forge sends none); duplicates are not rebuilt. */
  delivery: string;
  /** Full ref, e.g. `refs/heads/main`. */
  ref: string;
  /** The commit the ref now points at (40 or 64 hex). */
  sha: string;
  author: string | undefined;
  message: string | undefined;
  /** Repository as the forge names it (full name or URL), for logs. */
  repository: string | undefined;
}

/** What a webhook request turns into. */
export type WebhookOutcome =
  /** A push for the site's branch: deploy it (202). */
  | { kind: 'push'; event: PushEvent }
  /** Signed and well-formed but nothing to do (ping, other branch, tag, deletion): 202 with the reason. */
  | { kind: 'ignore'; reason: string; delivery: string | undefined }
  /** Refused; nothing is triggered. */
  | { kind: 'reject'; status: 400 | 401 | 413 | 415; code: WebhookErrorCode; message: string };

export type WebhookErrorCode =
  | 'E_WEBHOOK_SIGNATURE'
  | 'E_WEBHOOK_MALFORMED'
  | 'E_WEBHOOK_TOO_LARGE'
  | 'E_WEBHOOK_CONTENT_TYPE';
