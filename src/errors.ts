/**
 * Every failure a user can meet has a stable code, documented in
 * docs/errors.md. Codes are an API: never reuse or rename one.
 */
export type ErrorCode =
  | 'E_CONFIG_NOT_FOUND'
  | 'E_CONFIG_PARSE'
  | 'E_CONFIG_INVALID'
  | 'E_CONFIG_SECRET'
  | 'E_USAGE'
  | 'E_SITE_UNKNOWN'
  | 'E_PUBLISH_SOURCE'
  | 'E_PUBLISH_SYMLINK'
  | 'E_PUBLISH_NO_SPACE'
  | 'E_PUBLISH_IO'
  | 'E_REDIRECTS_INVALID'
  | 'E_HEADERS_INVALID'
  | 'E_SITE_LOCKED'
  | 'E_RELEASE_NOT_FOUND'
  | 'E_RELEASE_NONE'
  | 'E_MANIFEST_INVALID'
  | 'E_TLS_FILES'
  | 'E_LISTEN';

export class BerthError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BerthError';
    this.code = code;
  }
}

export function isBerthError(error: unknown): error is BerthError {
  return error instanceof BerthError;
}
