/**
 * How long a forge asked us to wait before asking again, from the headers of
 * a 403 or 429: `Retry-After` (seconds, or an HTTP date), else GitHub's
 * `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds).
 * `undefined` when the answer names no wait.
 *
 * @param now the current time in milliseconds since the epoch, for the date forms
 */
export function rateLimitDelayMs(headers: Headers, now: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter !== undefined && retryAfter !== '') {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  if (headers.get('x-ratelimit-remaining')?.trim() === '0') {
    const reset = headers.get('x-ratelimit-reset')?.trim();
    if (reset !== undefined && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - now);
  }
  return undefined;
}

/** Whether the headers say the answer is a rate limit (even one that names no wait). */
export function isRateLimited(headers: Headers): boolean {
  return headers.has('retry-after') || headers.get('x-ratelimit-remaining')?.trim() === '0';
}
