import type { Content } from './prepared-file.ts';
import type { ServedRelease } from './served-release.ts';

/**
 * What the responder decides; the server only writes it. The headers of a
 * file's replies are prepared on its first request and shared by every
 * later one (prepared-file.ts); the bytes are found by the server, from
 * memory or from disk, by the content they are (`file`).
 */
export interface Reply {
  readonly status: number;
  /** Flat `[name, value, name, value, …]`, as `writeHead` takes it. */
  readonly headers: readonly string[];
  /** A body Berth wrote itself (an error page); undefined for files, HEAD and 304. */
  readonly body: Buffer | undefined;
  /** The file whose bytes are the body; undefined for HEAD, 304 and answers without one. */
  readonly file: FileBody | undefined;
  /** Byte range of `file` (or `body`) to send, inclusive; `end` is -1 for all of it. */
  readonly start: number;
  readonly end: number;
}

/** The bytes of one file of one release: what they are, and the release that says where they are. */
export interface FileBody {
  readonly content: Content;
  readonly release: ServedRelease;
  /** The file's row in the release's table. */
  readonly index: number;
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
