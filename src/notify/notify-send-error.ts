import { BerthError, type ErrorCode } from '../errors.ts';

export interface NotifySendErrorOptions extends ErrorOptions {
  /** Whether trying again later may work: a timeout, a refused connection, a 5xx, a 429. */
  retryable: boolean;
  httpStatus?: number;
  /** How long the receiver asked us to wait (Retry-After), in ms. */
  retryAfterMs?: number;
  code?: ErrorCode;
}

/**
 * A notification that could not be delivered. The message names the
 * receiving host and never the URL's path or query, nor any secret: chat
 * webhook URLs carry their token in the path, and the message is logged and
 * stored.
 */
export class NotifySendError extends BerthError {
  readonly retryable: boolean;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: NotifySendErrorOptions) {
    super(options.code ?? 'E_NOTIFY_FAILED', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NotifySendError';
    this.retryable = options.retryable;
    this.httpStatus = options.httpStatus;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isNotifySendError(error: unknown): error is NotifySendError {
  return error instanceof NotifySendError;
}
