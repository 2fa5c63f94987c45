import { randomBytes } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { textReply, type Reply } from '../static/reply.ts';
import { ReleaseFileError } from './reply-body.ts';

/** How much of a request target an error line quotes: enough to find the page, not a client-sized blob. */
const URL_IN_LOG = 200;

/**
 * An unexpected failure while answering a request (a bug, or a header table
 * Node refuses to send): logged at error level with a fresh id, and answered
 * with a bare 500 that carries only that id, never the internal message. The
 * id ties what a visitor reports to the log line.
 */
export function internalErrorReply(logger: Logger, error: unknown, request: { method: string | undefined; url: string | undefined; protocol: 'http/1.1' | 'h2' }): Reply {
  const errorId = randomBytes(8).toString('hex');
  // A damaged release file: the line names the site, release and path, so the operator knows what to republish.
  const file = error instanceof ReleaseFileError ? { site: error.site, release: error.release, path: error.path.slice(0, URL_IN_LOG) } : undefined;
  logger.error(
    { err: error, errorId, ...file, method: request.method?.slice(0, 16), url: request.url?.slice(0, URL_IN_LOG), protocol: request.protocol },
    'unexpected error while answering a request; answered 500',
  );
  return textReply(500, `Internal server error (error id ${errorId})`, ['x-berth-error-id', errorId]);
}
