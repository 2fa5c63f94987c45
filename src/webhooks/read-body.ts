import type { IncomingHttpHeaders } from 'node:http';

/**
 * Largest webhook body accepted, in bytes: GitHub caps its payloads at
 * 25 MiB, and the other forges send less.
 */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

export type ReadBodyResult =
  | { ok: true; body: Buffer }
  | { ok: false; status: 413 | 400; message: string };

/** What `readBody` needs of a request: its headers and its body as chunks (Node's `IncomingMessage`, an HTTP/2 stream). */
export type BodySource = AsyncIterable<Buffer> & { headers: IncomingHttpHeaders };

/**
 * Reads a request body of at most `limit` bytes into memory.
 *
 * A `Content-Length` above the limit is refused before a byte is read. A body
 * without one (chunked) is read until it goes past the limit, and no further:
 * at most `limit` bytes plus the chunk that crossed it are ever held. A body
 * that ends before its `Content-Length` (the client went away) is a 400.
 *
 * On a 413 the rest of the body is left unread; the caller should answer with
 * `Connection: close` so the connection is not reused with bytes still in it.
 */
export async function readBody(req: BodySource, limit: number = WEBHOOK_BODY_LIMIT): Promise<ReadBodyResult> {
  const declared = declaredLength(req.headers['content-length']);
  if (declared === 'invalid') {
    return { ok: false, status: 400, message: 'the Content-Length header is not a whole number of bytes' };
  }
  if (declared !== undefined && declared > limit) {
    return { ok: false, status: 413, message: tooLarge(`is ${declared} bytes (Content-Length), over`, limit) };
  }

  const chunks: Buffer[] = [];
  let total = 0;
  // The iterator is driven by hand, not with `for await`: leaving a
  // `for await` early calls `return()`, which destroys the request stream,
  // and the caller still has a 413 to send on it (on HTTP/2 the request and
  // the response are one stream).
  const iterator = req[Symbol.asyncIterator]();
  try {
    for (;;) {
      const step = await iterator.next();
      if (step.done === true) break;
      const chunk = step.value;
      total += chunk.length;
      if (total > limit) return { ok: false, status: 413, message: tooLarge('goes past', limit) };
      chunks.push(chunk);
    }
  } catch {
    // Node reports a client that disconnected mid-body as an `aborted` error;
    // whatever the cause, the body is incomplete.
    const expected = declared === undefined ? '' : ` of the ${declared} declared`;
    return { ok: false, status: 400, message: `the request body ended early, after ${total} bytes${expected}; the client may have disconnected` };
  }
  if (declared !== undefined && total !== declared) {
    return { ok: false, status: 400, message: `the request body has ${total} bytes but Content-Length declares ${declared}` };
  }
  return { ok: true, body: Buffer.concat(chunks, total) };
}

function tooLarge(what: string, limit: number): string {
  return `the request body ${what} the limit of ${limit} bytes for a webhook`;
}

function declaredLength(value: string | undefined): number | 'invalid' | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(value.trim())) return 'invalid';
  return Number(value.trim());
}
