import { FORGE_MESSAGE_MAX_CHARS, StatusSendError } from './commit-status.ts';
import { isRateLimited, rateLimitDelayMs } from './rate-limit-delay.ts';

/**
 * The one HTTP exchange every forge client makes: POST a status, read a
 * bounded answer, and turn anything but a 2xx into a `StatusSendError` that
 * says whether to retry and what to fix.
 *
 * Redirects are not followed. The token travels in a header, and a forge
 * that answers 3xx for an API call is pointing somewhere we were not told
 * about (an `api` set to the web address, http instead of https, a renamed
 * repository): sending the token on is not ours to decide, so the error
 * names where it pointed and the operator changes the config.
 */

export interface StatusClientOptions {
  /**
   * How long one request may take, answer included.
   * @default 10_000
   */
  timeoutMs?: number;
  /**
   * The clock that `Retry-After` dates and GitHub's reset times are read against.
   * @default Date.now
   */
  now?: () => number;
  /**
   * The User-Agent header (GitHub refuses requests without one).
   * @default 'berth'
   */
  userAgent?: string;
}

export const STATUS_REQUEST_TIMEOUT_MS = 10_000;

/** Most of an answer that is read: forge errors are small; anything longer is not an API answer. */
export const ANSWER_MAX_BYTES = 64 * 1024;

/** What to tell the operator when the forge refuses, by status. */
export interface RefusalHints {
  /** 401: the token itself is refused. */
  unauthorized: string;
  /** 403 without a rate limit: the token lacks a scope or a permission. */
  forbidden: string;
  /** 404: the repository or commit is unknown, or hidden from the token. */
  notFound: string;
  /** 400 and 422: the forge rejected the content. */
  invalid: string;
}

export interface StatusRequest {
  /** For messages: `GitHub`, `GitLab`, `Gitea`, `Forgejo`, `Bitbucket`. */
  forgeLabel: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Strings that must never appear in an error: the token and every form of it that was sent. */
  secrets: readonly string[];
  /** What the status is for, in messages: `jo/blog@9fceb02`. */
  subject: string;
  hints: RefusalHints;
  /** An error answer that means the forge already shows the state asked for, so there is nothing left to do. */
  alreadySet?: (httpStatus: number, forgeMessage: string) => boolean;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  now: () => number;
}

export async function sendStatusRequest(request: StatusRequest): Promise<void> {
  const scrub = scrubber(request.secrets);
  const fail = (what: string, details: ConstructorParameters<typeof StatusSendError>[1], cause?: unknown): never => {
    const message = scrub(`Cannot set the ${request.forgeLabel} commit status of ${request.subject}: ${what}`);
    throw new StatusSendError(message, details, cause === undefined ? undefined : { cause: describeCause(cause, scrub) });
  };

  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal === undefined ? timeout : AbortSignal.any([timeout, request.signal]);
  let response: Response;
  let text: string;
  try {
    response = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body, redirect: 'manual', signal });
    text = response.ok ? await discard(response) : await readCapped(response, ANSWER_MAX_BYTES);
  } catch (error) {
    if (timeout.aborted) {
      return fail(`${request.forgeLabel} did not answer within ${seconds(request.timeoutMs)}`, { retryable: true, forgeMessage: '' });
    }
    if (request.signal?.aborted === true) {
      return fail('sending was cancelled', { retryable: false, forgeMessage: '' }, error);
    }
    return fail(`cannot reach ${request.forgeLabel} at ${originOf(request.url)} (${networkProblem(error)})`, { retryable: true, forgeMessage: '' }, error);
  }

  const status = response.status;
  if (response.ok) return;
  const forgeMessage = cut(scrub(messageOf(text)));
  const said = forgeMessage === '' ? `${status}` : `${status} ${forgeMessage}`;
  if (request.alreadySet?.(status, forgeMessage) === true) return;

  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    const where = location === null ? 'without saying where' : `to ${scrub(safeLocation(location, request.url))}`;
    return fail(
      `${request.forgeLabel} answered ${status}, pointing ${where}; Berth does not follow redirects with a token, so check the repository's address (was it renamed or moved?) and the api setting`,
      { httpStatus: status, retryable: false, forgeMessage },
    );
  }
  if ((status === 403 || status === 429) && (isRateLimited(response.headers) || /rate limit/i.test(forgeMessage))) {
    const retryAfterMs = rateLimitDelayMs(response.headers, request.now());
    return fail(`${request.forgeLabel} is limiting our requests (${said})`, {
      httpStatus: status,
      retryable: true,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      forgeMessage,
    });
  }
  if (status === 401) return fail(`${request.forgeLabel} refused the token (${said}); ${request.hints.unauthorized}`, { httpStatus: status, retryable: false, forgeMessage });
  if (status === 403) return fail(`${request.forgeLabel} did not allow it (${said}); ${request.hints.forbidden}`, { httpStatus: status, retryable: false, forgeMessage });
  if (status === 404) return fail(`${request.forgeLabel} answered ${said}; ${request.hints.notFound}`, { httpStatus: status, retryable: false, forgeMessage });
  if (status === 400 || status === 422) return fail(`${request.forgeLabel} rejected the status (${said}); ${request.hints.invalid}`, { httpStatus: status, retryable: false, forgeMessage });
  // 408 and 429 say "later"; 5xx is the forge's own trouble, and a 503 for
  // maintenance may say how long it lasts.
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = rateLimitDelayMs(response.headers, request.now());
    return fail(`${request.forgeLabel} answered ${said}`, { httpStatus: status, retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }), forgeMessage });
  }
  return fail(`${request.forgeLabel} answered ${said}`, { httpStatus: status, retryable: false, forgeMessage });
}

/** Replaces every secret in a text; longest first, so a secret that contains another is removed whole. */
function scrubber(secrets: readonly string[]): (text: string) => string {
  const sorted = secrets.filter((secret) => secret !== '').sort((a, b) => b.length - a.length);
  return (text) => sorted.reduce((out, secret) => out.split(secret).join('[token]'), text);
}

/**
 * The forge's own explanation from an error body: `message` (GitHub,
 * GitLab, Gitea), `error.message` (Bitbucket), `error` as a string (GitLab's
 * OAuth errors), else the text itself when it is short and not a page.
 */
function messageOf(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // Not JSON: a proxy's plain-text or HTML error page. A page says nothing useful in 200 characters.
    return /^</.test(trimmed) ? '' : oneLine(trimmed);
  }
  if (typeof parsed !== 'object' || parsed === null) return oneLine(trimmed);
  const record = parsed as Record<string, unknown>;
  const message = record.message;
  if (typeof message === 'string') return oneLine(message);
  // GitLab reports invalid fields as {"message": {"state": ["is invalid"]}}.
  if (typeof message === 'object' && message !== null) return oneLine(JSON.stringify(message));
  const error = record.error;
  if (typeof error === 'string') return oneLine(error);
  if (typeof error === 'object' && error !== null) {
    const inner = error as Record<string, unknown>;
    const detail = typeof inner.detail === 'string' ? `: ${inner.detail}` : '';
    if (typeof inner.message === 'string') return oneLine(`${inner.message}${detail}`);
  }
  return oneLine(trimmed);
}

/** Control characters turned to spaces: a forge message must not forge log lines. */
function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').replace(/\s+/g, ' ').trim();
}

function cut(text: string): string {
  const chars = Array.from(text);
  return chars.length <= FORGE_MESSAGE_MAX_CHARS ? text : `${chars.slice(0, FORGE_MESSAGE_MAX_CHARS - 1).join('')}…`;
}

/** Reads at most `limit` bytes of the answer and drops the rest. */
async function readCapped(response: Response, limit: number): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= limit) {
      // The rest is not wanted; cancelling closes the connection rather than reading on.
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/** A 2xx needs no body; cancelling it frees the connection. */
async function discard(response: Response): Promise<string> {
  await response.body?.cancel().catch(() => undefined);
  return '';
}

/** Where a redirect pointed, resolved against the request, without credentials or query (either could carry a secret). */
function safeLocation(location: string, base: string): string {
  try {
    const url = new URL(location, base);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return 'an address that is not a URL';
  }
}

function originOf(url: string): string {
  return new URL(url).origin;
}

function networkProblem(error: unknown): string {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  const message = (cause as Error | undefined)?.message ?? (error as Error | undefined)?.message;
  return typeof message === 'string' ? oneLine(message).slice(0, 100) : 'network error';
}

/** The cause kept on the error, as a plain Error with the secrets removed: a raw fetch error could quote headers. */
function describeCause(cause: unknown, scrub: (text: string) => string): Error {
  const message = cause instanceof Error ? cause.message : String(cause);
  const plain = new Error(scrub(message));
  plain.name = cause instanceof Error ? cause.name : 'Error';
  return plain;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
