import { StatusSendError, type CommitStatusUpdate, type ForgeTarget } from './commit-status.ts';
import { STATUS_REQUEST_TIMEOUT_MS, type StatusClientOptions } from './send-status-request.ts';

/** What the forge clients share besides the request itself. */

export interface ResolvedClientOptions {
  timeoutMs: number;
  now: () => number;
  userAgent: string;
}

export function resolveClientOptions(options: StatusClientOptions = {}): ResolvedClientOptions {
  return Object.freeze({
    timeoutMs: options.timeoutMs ?? STATUS_REQUEST_TIMEOUT_MS,
    now: options.now ?? Date.now,
    userAgent: options.userAgent ?? 'berth',
  });
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

/**
 * Refuses an update no forge would take, before anything is sent: a short or
 * symbolic commit id would set the status of whatever it resolves to by then.
 */
export function checkUpdate(update: CommitStatusUpdate): void {
  if (!FULL_SHA.test(update.sha)) {
    throw new StatusSendError(`Cannot set a commit status: the commit id must be the full 40 (or 64) hex digits, not ${JSON.stringify(update.sha.slice(0, 80))}`, {
      retryable: false,
      forgeMessage: '',
    });
  }
}

/** `jo/blog@9fceb02`, for messages. */
export function subjectOf(target: ForgeTarget, sha: string): string {
  return `${target.repo}@${sha.slice(0, 7)}`;
}

/**
 * Cuts a description to `max` characters (code points, as the forges count
 * them), ending with an ellipsis when cut, on one line.
 */
export function cutDescription(text: string, max: number): string {
  const line = text.replace(/[\p{Cc}\u2028\u2029]+/gu, ' ').trim();
  const chars = Array.from(line);
  return chars.length <= max ? line : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** `owner/name` as two URL path segments, each encoded. */
export function ownerAndName(repo: string): string {
  return repo.split('/').map((part) => encodeURIComponent(part)).join('/');
}

/**
 * Refuses a token that cannot go into a header (empty, or with a newline or
 * another control character, as a secret file written with `echo -e` can
 * hold): fetch would refuse it with an error that quotes it. The token is
 * not quoted here.
 */
export function checkToken(token: string, forgeLabel: string): void {
  if (token === '' || /[\p{Cc}]/u.test(token) || token.trim() !== token) {
    throw new StatusSendError(`Cannot set a ${forgeLabel} commit status: the token is empty, has white space around it or a control character in it; check [sites.status] token or token_file`, {
      retryable: false,
      forgeMessage: '',
    });
  }
}
