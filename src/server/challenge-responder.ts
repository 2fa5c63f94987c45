/** Where a CA fetches an HTTP-01 key authorization (RFC 8555 section 8.3). */
export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/**
 * What the plain HTTP listener asks to answer an ACME HTTP-01 challenge.
 * The server declares it and `acme/` implements it (the challenge store), so
 * the request path never loads the ACME client, its storage or its locks.
 */
export interface ChallengeResponder {
  /**
   * The key authorization for `token`, or undefined when it is not a token
   * of a pending order (the request is then answered like any other). The
   * token is whatever followed the prefix in the request: untrusted.
   */
  lookup(token: string): Promise<string | undefined>;
}
