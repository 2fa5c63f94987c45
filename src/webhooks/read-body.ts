import type { IncomingHttpHeaders } from 'node:http';
import type { BodyBudget } from './body-budget.ts';

/**
 * Largest webhook body accepted, in bytes: GitHub caps its payloads at
 * 25 MiB, and the other forges send less.
 */
export const WEBHOOK_BODY_LIMIT = 25 * 1024 * 1024;

/**
 * Most bytes of webhook bodies one process holds at once: four bodies of the
 * largest size. Real push events are kilobytes; beyond this, requests are
 * answered 503 with `Retry-After` before more of them is read.
 */
export const WEBHOOK_BODIES_IN_FLIGHT_LIMIT = 4 * WEBHOOK_BODY_LIMIT;

export type ReadBodyResult =
  /** `release` gives the body's bytes back to the budget; call it once the body is no longer needed. */
  | { ok: true; body: Buffer; release(): void }
  | { ok: false; status: 413 | 400 | 503; message: string };

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
 * With a `budget`, every chunk is taken from it as it arrives: a body whose
 * declared length does not fit in what is left is refused with 503 before a
 * byte is read, and one that outgrows it while arriving is refused then. The
 * bytes of a refused body are given back at once, those of an accepted one
 * by `release`.
 *
 * On a 413 or 503 the rest of the body is left unread; the caller should
 * answer with `Connection: close` so the connection is not reused with bytes
 * still in it.
 */
export async function readBody(req: BodySource, limit: number = WEBHOOK_BODY_LIMIT, budget?: BodyBudget): Promise<ReadBodyResult> {
  const declared = declaredLength(req.headers['content-length']);
  if (declared === 'invalid') {
    return { ok: false, status: 400, message: 'the Content-Length header is not a whole number of bytes' };
  }
  if (declared !== undefined && declared > limit) {
    return { ok: false, status: 413, message: tooLarge(`is ${declared} bytes (Content-Length), over`, limit) };
  }
  if (budget !== undefined && declared !== undefined && declared > budget.free) return busy(budget);

  const chunks: Buffer[] = [];
  let total = 0;
  const refuse = (result: ReadBodyResult): ReadBodyResult => {
    budget?.give(total);
    return result;
  };
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
      if (total + chunk.length > limit) return refuse({ ok: false, status: 413, message: tooLarge('goes past', limit) });
      if (budget !== undefined && !budget.take(chunk.length)) return refuse(busy(budget));
      total += chunk.length;
      chunks.push(chunk);
    }
  } catch {
    // Node reports a client that disconnected mid-body as an `aborted` error;
    // whatever the cause, the body is incomplete.
    const expected = declared === undefined ? '' : ` of the ${declared} declared`;
    return refuse({ ok: false, status: 400, message: `the request body ended early, after ${total} bytes${expected}; the client may have disconnected` });
  }
  if (declared !== undefined && total !== declared) {
    return refuse({ ok: false, status: 400, message: `the request body has ${total} bytes but Content-Length declares ${declared}` });
  }
  let released = false;
  const release = (): void => {
    if (!released) budget?.give(total);
    released = true;
  };
  return { ok: true, body: Buffer.concat(chunks, total), release };
}

function busy(budget: BodyBudget): ReadBodyResult {
  return {
    ok: false,
    status: 503,
    message: `webhook requests being read already hold ${budget.held} bytes, near the limit of ${budget.limit} for all of them together; try again shortly`,
  };
}

function tooLarge(what: string, limit: number): string {
  return `the request body ${what} the limit of ${limit} bytes for a webhook`;
}

function declaredLength(value: string | undefined): number | 'invalid' | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,16}$/.test(value.trim())) return 'invalid';
  return Number(value.trim());
}
