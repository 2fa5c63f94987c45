import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { excerpt } from '../excerpt.ts';
import { describeNetworkError } from './describe-network-error.ts';
import { NotifySendError } from './notify-send-error.ts';
import { checkedLookup, isPrivateAddress, privateAddressError } from './private-address.ts';
import { NOTIFICATION_USER_AGENT } from '../webhooks/notification-loop.ts';

/** How long one delivery may take, connection to last byte of the answer. */
export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** Most bytes of an answer read: receivers say "ok" or a short error, and nobody else's page is worth more memory. */
export const ANSWER_LIMIT_BYTES = 64 * 1024;

/** Longest Retry-After honoured, in ms: a receiver asking for a day is asking for a give-up. */
export const RETRY_AFTER_CAP_MS = 30 * 60_000;

/** What every sender takes besides the channel and the event. */
export interface SendOptions {
  /** @default DEFAULT_SEND_TIMEOUT_MS */
  timeoutMs?: number;
}

export interface HttpPostRequest {
  url: URL;
  headers: Record<string, string>;
  body: string;
  allowPrivate: boolean;
  signal: AbortSignal;
  timeoutMs?: number;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** At most ANSWER_LIMIT_BYTES. */
  body: Buffer;
}

/**
 * POSTs `body` to `url` and returns a 2xx answer; anything else is a
 * `NotifySendError`. Redirects are never followed (a 3xx names where it
 * pointed): a receiver that redirects could send the event, and for a
 * webhook its signature, to any host, including one inside our network.
 *
 * Messages name `url.host` only: a chat webhook URL carries its token in the
 * path, and messages are logged and stored.
 */
export async function httpPost(request: HttpPostRequest): Promise<HttpAnswer> {
  const { url } = request;
  const host = url.host;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new NotifySendError(`Cannot send to a ${url.protocol.replace(/:$/, '')} URL; use https://`, { retryable: false });
  }
  if (url.username !== '' || url.password !== '') {
    // Credentials in a URL would go out in the clear over http and are kept out of every message below.
    throw new NotifySendError(`The URL for ${url.hostname} has a user name or password in it; Berth does not send those`, { retryable: false });
  }
  const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  // An IP literal is never looked up, so checkedLookup would not see it.
  if (isIP(literal) !== 0 && !request.allowPrivate && isPrivateAddress(literal)) throw privateAddressError(host, literal);

  const timeoutMs = request.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  const signal = AbortSignal.any([request.signal, timeout.signal]);
  try {
    const answer = await exchange(request, signal);
    return classify(answer, url);
  } catch (error) {
    if (error instanceof NotifySendError) throw error;
    if (timeout.signal.aborted) {
      throw new NotifySendError(`Sending to ${host} timed out after ${timeoutMs} ms`, { retryable: true, cause: error });
    }
    if (request.signal.aborted) {
      throw new NotifySendError(`Sending to ${host} was cancelled`, { retryable: false, cause: error });
    }
    throw new NotifySendError(`Sending to ${host} failed: ${describeNetworkError(error)}`, { retryable: true, cause: error });
  } finally {
    clearTimeout(timer);
  }
}

function exchange(request: HttpPostRequest, signal: AbortSignal): Promise<HttpAnswer> {
  const { url } = request;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const body = Buffer.from(request.body);
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const req = send(url, {
      method: 'POST',
      headers: { ...request.headers, 'content-length': String(body.length), 'user-agent': NOTIFICATION_USER_AGENT },
      lookup: checkedLookup(request.allowPrivate),
      // One connection per delivery: no pooled socket outlives a channel's settings.
      agent: false,
    });
    const onAbort = (): void => {
      req.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const done = (): void => signal.removeEventListener('abort', onAbort);
    req.on('error', (error) => {
      done();
      reject(error);
    });
    req.on('response', (response: IncomingMessage) => {
      readLimited(response).then(
        (answer) => {
          done();
          // Stop the rest of a long answer; the connection is not reused.
          req.destroy();
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: answer });
        },
        (error: unknown) => {
          done();
          reject(error);
        },
      );
    });
    req.end(body);
  });
}

function readLimited(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (): void => {
      response.removeAllListeners('data');
      resolve(Buffer.concat(chunks).subarray(0, ANSWER_LIMIT_BYTES));
    };
    response.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= ANSWER_LIMIT_BYTES) {
        response.pause();
        finish();
      }
    });
    response.on('end', finish);
    response.on('error', reject);
    // Closed before the end of the answer (and not by us, or we resolved already).
    response.on('close', () => {
      if (!response.complete) reject(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
    });
  });
}

function classify(answer: HttpAnswer, url: URL): HttpAnswer {
  const { status } = answer;
  const host = url.host;
  if (status >= 200 && status < 300) return answer;
  const said = answerExcerpt(answer.body, url);
  if (status >= 300 && status < 400) {
    const to = redirectHost(answer.headers.location, url);
    throw new NotifySendError(`${host} answered ${status} redirecting to ${to}; redirects are not followed, so give the channel the final URL`, { retryable: false, httpStatus: status });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(answer.headers['retry-after']);
    return failure(`${host} answered 429 (too many requests)${said}`, { retryable: true, httpStatus: status, retryAfterMs });
  }
  if (status >= 500 || status === 408) {
    return failure(`${host} answered ${status}${said}`, { retryable: true, httpStatus: status, retryAfterMs: parseRetryAfter(answer.headers['retry-after']) });
  }
  return failure(`${host} answered ${status}${said}; check the channel's URL and credentials`, { retryable: false, httpStatus: status });
}

function failure(message: string, options: { retryable: boolean; httpStatus: number; retryAfterMs?: number | undefined }): never {
  const { retryAfterMs, ...rest } = options;
  throw new NotifySendError(message, retryAfterMs === undefined ? rest : { ...rest, retryAfterMs });
}

/** The host a redirect pointed at, or a word for a missing or unreadable Location. */
function redirectHost(location: string | undefined, base: URL): string {
  if (location === undefined) return 'nowhere (no Location)';
  try {
    return new URL(location, base).host;
  } catch {
    return 'an unreadable Location';
  }
}

/**
 * A short quote of what the receiver said, for the log: many servers echo
 * the request path in a 404 page ("Cannot POST /services/T0/B0/token"), so
 * every part of our URL's path and query is blanked out first.
 */
function answerExcerpt(body: Buffer, url: URL): string {
  let text = body.toString('utf8').trim();
  if (text === '') return '';
  const parts = [url.pathname + url.search, url.pathname, url.search, ...url.pathname.split('/'), ...[...url.searchParams.values()]]
    .map((part) => {
      try {
        return [part, decodeURIComponent(part)];
      } catch {
        return [part];
      }
    })
    .flat()
    .filter((part) => part.length >= 4)
    .sort((a, b) => b.length - a.length);
  for (const part of parts) text = text.split(part).join('…');
  return `: ${excerpt(text.replace(/\s+/g, ' '), 200)}`;
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}
