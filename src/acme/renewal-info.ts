import { webcrypto } from 'node:crypto';
import { BerthError } from '../errors.ts';

/** A CA's answer to "when should this certificate be renewed?" (RFC 9773). */
export interface RenewalInfo {
  start: Date;
  end: Date;
  explanationUrl: string | undefined;
  /** When to ask again. */
  fetchAfter: Date;
}

/** Asked again no sooner than this, whatever Retry-After says, and no later. */
const MIN_REFETCH_MS = 60_000;
const MAX_REFETCH_MS = 24 * 3_600_000;
/** RFC 9773 4.3: without a Retry-After, ask again in about six hours. */
const DEFAULT_REFETCH_MS = 6 * 3_600_000;

/**
 * The ARI certificate identifier (RFC 9773 4.1): the base64url key
 * identifier of the issuer (the certificate's Authority Key Identifier) and
 * the base64url DER bytes of its serial number, joined by a dot.
 */
export async function renewalInfoId(certPem: string): Promise<string> {
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<(typeof import('@peculiar/x509'))['cryptoProvider']['set']>[0]);
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certPem)?.[0] ?? certPem;
  const cert = new x509.X509Certificate(first);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (aki?.keyId === undefined) {
    throw new BerthError('E_ACME_ORDER', 'The certificate has no Authority Key Identifier, so its renewal information cannot be asked for');
  }
  // The serial as a DER INTEGER's content: a leading zero byte keeps a high first bit from reading as negative.
  let serial = cert.serialNumber.toLowerCase();
  if (serial.length % 2 === 1) serial = `0${serial}`;
  if (Number.parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`;
  return `${Buffer.from(aki.keyId, 'hex').toString('base64url')}.${Buffer.from(serial, 'hex').toString('base64url')}`;
}

/** Reads a renewalInfo response body; a malformed one is an error, not a guess. */
export function parseRenewalInfo(body: string, retryAfter: string | undefined, now: Date): RenewalInfo {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new BerthError('E_ACME_ORDER', 'The CA sent renewal information that is not JSON; Berth falls back to renewing when a third of the lifetime is left');
  }
  const window = (parsed as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  const start = typeof window?.start === 'string' ? new Date(window.start) : undefined;
  const end = typeof window?.end === 'string' ? new Date(window.end) : undefined;
  if (start === undefined || end === undefined || Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) {
    throw new BerthError('E_ACME_ORDER', 'The CA sent renewal information without a valid suggestedWindow (start and end times, start first); Berth falls back to renewing when a third of the lifetime is left');
  }
  const explanation = (parsed as { explanationURL?: unknown }).explanationURL;
  return {
    start,
    end,
    explanationUrl: typeof explanation === 'string' ? explanation : undefined,
    fetchAfter: new Date(now.getTime() + refetchDelay(retryAfter, now)),
  };
}

/** RFC 9110 5.6.7 IMF-fixdate, the only date form a server may send: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Retry-After as delay-seconds or an HTTP date; anything else gets the default (Date.parse would read "abc 12" as a year). */
function refetchDelay(retryAfter: string | undefined, now: Date): number {
  const value = retryAfter?.trim() ?? '';
  let ms = DEFAULT_REFETCH_MS;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else if (HTTP_DATE.test(value)) ms = Date.parse(value) - now.getTime();
  return Math.min(Math.max(ms, MIN_REFETCH_MS), MAX_REFETCH_MS);
}
