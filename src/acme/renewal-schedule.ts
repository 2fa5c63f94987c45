/**
 * When to renew, and how long to wait after a failure. Pure functions of
 * times and a random source, so the decisions are tested without a CA.
 */

export const MAX_RETRY_DELAY_MS = 6 * 3_600_000;

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/**
 * The moment to renew: a random point inside the CA's ARI window when it
 * gave one (RFC 9773 4.2: spreading renewals is the point of the window),
 * otherwise when a third of the lifetime is left.
 */
export function renewalTime(validity: Validity, window: RenewalWindow | undefined, random: () => number = Math.random): Date {
  if (window !== undefined && window.end.getTime() > window.start.getTime()) {
    return new Date(window.start.getTime() + random() * (window.end.getTime() - window.start.getTime()));
  }
  if (window !== undefined) return window.start;
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  return new Date(validity.notAfter.getTime() - lifetime / 3);
}

/**
 * Wait before retry number `failures` (1 for the first failure): `baseMs`,
 * doubled each time, at most six hours, with up to a tenth added at random
 * so many servers that failed together do not come back together.
 */
export function retryDelay(failures: number, baseMs: number, random: () => number = Math.random): number {
  const doubled = baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30);
  const capped = Math.min(doubled, MAX_RETRY_DELAY_MS);
  return Math.round(capped + random() * capped * 0.1);
}

/** The next routine check: the interval plus up to a tenth of it at random. */
export function checkDelay(intervalMs: number, random: () => number = Math.random): number {
  return Math.round(intervalMs + random() * intervalMs * 0.1);
}

/**
 * How loudly a certificate's state is logged: `error` once less than a
 * tenth of its lifetime (at most 7 days) is left, `warn` once it is due for
 * renewal, else nothing. A renewal that keeps failing is seen long before
 * the site breaks.
 */
export function expiryUrgency(validity: Validity, now: Date): 'error' | 'warn' | undefined {
  const lifetime = validity.notAfter.getTime() - validity.notBefore.getTime();
  const left = validity.notAfter.getTime() - now.getTime();
  if (left < Math.min(lifetime / 10, 7 * 86_400_000)) return 'error';
  if (left < lifetime / 3) return 'warn';
  return undefined;
}

/** `3d 4h`, `25m`, `40s`: a short span for log lines and `berth certs`. */
export function formatSpan(ms: number): string {
  let s = Math.round(Math.abs(ms) / 1000);
  const sign = ms < 0 && s > 0 ? '-' : '';
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3_600);
  s -= h * 3_600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${sign}${d}d${h > 0 ? ` ${h}h` : ''}`;
  if (h > 0) return `${sign}${h}h${m > 0 ? ` ${m}m` : ''}`;
  if (m > 0) return `${sign}${m}m${s > 0 ? ` ${s}s` : ''}`;
  return `${sign}${s}s`;
}
