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
  | 'E_INIT_EXISTS'
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
  | 'E_RELEASE_FILE'
  | 'E_TLS_FILES'
  | 'E_LISTEN'
  | 'E_CONFIG_WIRE'
  | 'E_DEPLOY_NO_REPO'
  | 'E_SMOKE_FAILED'
  | 'E_RELEASE_NOT_SERVED'
  | 'E_DEPLOY_NOT_FOUND'
  | 'E_HOOK_REPO'
  | 'E_HOOK_EXISTS'
  | 'E_STATUS_CONFIG'
  | 'E_BUILD_CONFIG'
  | 'E_BUILD_FAILED'
  | 'E_BUILD_TIMEOUT'
  | 'E_BUILD_CANCELLED'
  | 'E_BUILD_OUTPUT_LIMIT'
  | 'E_BUILD_OUTPUT_SIZE'
  | 'E_BUILD_PROCESS_LIMIT'
  | 'E_BUILD_UNISOLATED'
  | 'E_DATA_DIR_LOCKED'
  | 'E_NOT_SERVING'
  | 'E_RELOAD_UNANSWERED'
  | 'E_RELOAD_REFUSED'
  | 'E_RELOAD_FAILED'
  | 'E_LOCK_FILE'
  | 'E_STATE_DB'
  | 'E_GIT_FETCH'
  | 'E_GIT_COMMIT_NOT_FOUND'
  | 'E_GIT_CHECKOUT'
  | 'E_PUSH_NOT_ON_BRANCH'
  | 'E_DEPLOY_INTERRUPTED'
  | 'E_WEBHOOK_SIGNATURE'
  | 'E_WEBHOOK_MALFORMED'
  | 'E_WEBHOOK_TOO_LARGE'
  | 'E_WEBHOOK_CONTENT_TYPE'
  | 'E_WEBHOOK_METHOD'
  | 'E_WEBHOOK_BUSY'
  | 'E_DEPLOYS_OFF'
  | 'E_HANDOFF_INVALID'
  | 'E_HANDOFF_FAILED'
  | 'E_DEPLOY_FAILED'
  | 'E_ACME_UNREACHABLE'
  | 'E_ACME_ORDER'
  | 'E_ACME_CHALLENGE'
  | 'E_ACME_CA_FILE'
  | 'E_ACME_OFF'
  | 'E_CERT_LOCKED'
  | 'E_CERT_UNKNOWN_NAME'
  | 'E_NOTIFY_FAILED'
  | 'E_NOTIFY_PRIVATE_ADDRESS'
  | 'E_ADMIN_EXISTS'
  | 'E_ADMIN_UNKNOWN'
  | 'E_ADMIN_PASSWORD'
  | 'E_ADMIN_SIGN_IN'
  | 'E_ADMIN_LOCKED'
  | 'E_ADMIN_LINK_INVALID'
  | 'E_ADMIN_LINK_USED'
  | 'E_ADMIN_LINK_EXPIRED'
  | 'E_ADMIN_SESSION'
  | 'E_ADMIN_SESSION_UNKNOWN'
  | 'E_ADMIN_CSRF'
  | 'E_ADMIN_TOKEN_EXISTS'
  | 'E_ADMIN_TOKEN_UNKNOWN'
  | 'E_ADMIN_TOKEN_INVALID'
  | 'E_ADMIN_TOKEN_SCOPE'
  | 'E_ADMIN_PASSKEY'
  | 'E_ADMIN_PASSKEY_UNKNOWN';

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
