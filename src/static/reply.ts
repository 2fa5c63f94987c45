/**
 * What the responder decides; the server only writes it. Replies for files
 * are built once when a release is loaded and reused for every request, so
 * serving a small file allocates nothing here.
 */
export interface Reply {
  readonly status: number;
  /** Flat `[name, value, name, value, …]`, as `writeHead` takes it. */
  readonly headers: readonly string[];
  /** The body when it is held in memory; undefined for HEAD, 304 and streamed files. */
  readonly body: Buffer | undefined;
  /** A file to stream when the body is not in memory. */
  readonly file: string | undefined;
  /** Byte range of `file` (or `body`) to send, inclusive; `end` is -1 for all of it. */
  readonly start: number;
  readonly end: number;
}

export const SECURITY_HEADERS = ['x-content-type-options', 'nosniff', 'referrer-policy', 'strict-origin-when-cross-origin'] as const;

export function textReply(status: number, text: string, extra: readonly string[] = []): Reply {
  const body = Buffer.from(`${text}\n`);
  return {
    status,
    headers: ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length), 'cache-control', 'no-store', ...SECURITY_HEADERS, ...extra],
    body,
    file: undefined,
    start: 0,
    end: -1,
  };
}

export function emptyReply(status: number, headers: readonly string[]): Reply {
  return { status, headers: ['content-length', '0', ...headers], body: undefined, file: undefined, start: 0, end: -1 };
}

/** Same headers and body, no body bytes: HEAD answers. */
export function withoutBody(reply: Reply): Reply {
  return { ...reply, body: undefined, file: undefined };
}

export const BAD_REQUEST = textReply(400, 'Bad request: the path is malformed or names something outside the site');
export const NOT_FOUND = textReply(404, 'Not found');
export const METHOD_NOT_ALLOWED = textReply(405, 'Method not allowed: this site answers GET and HEAD', ['allow', 'GET, HEAD']);
