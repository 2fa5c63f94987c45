import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { Reply } from '../static/reply.ts';
import { bodyBytes, createAccessLog, type Counted, type HandlerOptions } from './request-handler.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import { internalErrorReply } from './internal-error.ts';
import { bodySource, part, span, type ServingCaches } from './reply-body.ts';
import { createRangeStream } from './range-stream.ts';
import { routeRequest, type Routed } from './route-request.ts';
import { toHttp2Headers, type AdminAnswer, type AdminProxy } from './admin-proxy.ts';
import { handleWebhook, HOOKS_PREFIX } from './webhook-route.ts';
import type { SiteTable } from './site-table.ts';

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/**
 * HTTP/2 header objects, made once per prepared header array and status:
 * prepared arrays are shared by every answer of a file (a file answer is a
 * fresh Reply each time, its header array is not), so after the first
 * request this is a lookup.
 */
const h2HeaderCache = new WeakMap<readonly string[], Map<number, OutgoingHttpHeaders>>();

function h2Headers(reply: Reply): OutgoingHttpHeaders {
  let byStatus = h2HeaderCache.get(reply.headers);
  if (byStatus === undefined) h2HeaderCache.set(reply.headers, (byStatus = new Map()));
  let headers = byStatus.get(reply.status);
  if (headers === undefined) {
    headers = { ':status': reply.status };
    for (let i = 0; i < reply.headers.length; i += 2) {
      const name = reply.headers[i] as string;
      const value = reply.headers[i + 1] as string;
      const existing = headers[name];
      headers[name] = existing === undefined ? value : ([] as string[]).concat(existing as string | string[], value);
    }
    byStatus.set(reply.status, headers);
  }
  return headers;
}

/**
 * Answers HTTP/2 streams directly, without the request/response
 * compatibility objects, which cost more than the answer itself for small files.
 */
export function createStreamHandler(table: SiteTable, logger: Logger, options: HandlerOptions): StreamHandler {
  const log = createAccessLog(logger, options);
  const debug = logger.child({ kind: 'client' });
  const metrics = options.metrics;
  const countWebhook = metrics === undefined ? undefined : metrics.webhook.bind(metrics);
  const answer = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, counted: Counted | undefined): void => {
    const method = headers[':method'] as string | undefined;
    const url = headers[':path'] as string | undefined;
    if (url?.startsWith(HOOKS_PREFIX) === true) {
      const request = Object.assign(stream as unknown as AsyncIterable<Buffer>, { headers });
      void handleWebhook(url, method, request, table, options.pushSink, logger, countWebhook)
        .then((answer) => {
          if (!open(stream)) return;
          if (counted !== undefined) counted.bytes = Buffer.byteLength(answer.body);
          // HTTP/2 has no Connection header; the stream simply ends.
          const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => name !== 'connection'));
          stream.respond({ ':status': answer.status, ...headers });
          stream.end(answer.body);
        })
        .catch((error: unknown) => fail(stream, headers, error));
      return;
    }
    const started = log === undefined ? 0 : performance.now();
    const servername = (stream.session?.socket as TLSSocket | undefined)?.servername;
    const routed = routeRequest(table, {
      method,
      url,
      authority: (headers[':authority'] as string | undefined) ?? headers.host,
      headers,
      servername: typeof servername === 'string' ? servername : undefined,
      duplicateHost: false,
    });
    if (routed.admin) {
      if (counted !== undefined) counted.site = metrics?.adminSite ?? counted.site;
      if (routed.forward && options.admin !== undefined) {
        forwardToAdmin(options.admin, stream, headers, routed, counted, (status) => log?.(method, url, routed, started, status), fail);
        return;
      }
    }
    if (counted !== undefined) {
      if (routed.site !== undefined) counted.site = routed.site.index;
      counted.bytes = bodyBytes(routed.reply, method === 'HEAD');
    }
    write(routed.reply, method === 'HEAD', stream, routed.site?.config.hsts, options.caches, (error) => fail(stream, headers, error));
    log?.(method, url, routed, started);
  };
  // Whatever throws while answering (a bug, a header table Node refuses) is
  // answered 500 with an error id; the session and the process carry on.
  const fail = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, error: unknown): void => {
    const reply = internalErrorReply(logger, error, { method: headers[':method'] as string | undefined, url: headers[':path'] as string | undefined, protocol: 'h2' });
    if (!open(stream)) return;
    if (stream.headersSent) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    try {
      stream.respond(h2Headers(reply));
      stream.end(reply.body);
    } catch {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  };
  return (stream, headers) => {
    // A stream the client resets (PROTOCOL_ERROR, INTERNAL_ERROR, …) or a
    // session that dies under it emits 'error'; without a listener that ends
    // the process. These are the client's doing: logged at debug level only,
    // so a client cannot fill the log.
    stream.on('error', (error: NodeJS.ErrnoException) => debug.debug({ code: error.code }, 'HTTP/2 stream error'));
    try {
      answer(stream, headers, metrics === undefined ? undefined : countStream(metrics, headers[':method'] as string | undefined, stream));
    } catch (error) {
      fail(stream, headers, error);
    }
  };
}

/** The admin host's request, handed to the admin proxy with an HTTP/2 answer. */
function forwardToAdmin(
  proxy: AdminProxy,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  routed: Routed,
  counted: Counted | undefined,
  logged: (status: number) => void,
  fail: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, error: unknown) => void,
): void {
  const method = (headers[':method'] as string | undefined) ?? 'GET';
  const answer: AdminAnswer = {
    get closed() {
      return !open(stream);
    },
    get started() {
      return stream.headersSent;
    },
    head(status, flat) {
      // respond() checks the header table and throws at once: the proxy's fail(), a 500 with an id.
      // A HEAD answer's body is empty: the pipe from the admin app ends the stream.
      stream.respond(toHttp2Headers(status, flat));
      logged(status);
      return stream;
    },
    reply(reply, stopReading) {
      if (counted !== undefined && method !== 'HEAD') counted.bytes = reply.body?.length ?? 0;
      const head = method === 'HEAD' || reply.body === undefined;
      stream.respond(h2Headers(reply), head ? { endStream: true } : undefined);
      if (!head) stream.end(reply.body);
      logged(reply.status);
      // The answer is sent first; then RST_STREAM(NO_ERROR) tells the client to stop sending the body (RFC 9113 8.1).
      if (stopReading) stream.close(constants.NGHTTP2_NO_ERROR);
    },
    cut: () => stream.close(constants.NGHTTP2_INTERNAL_ERROR),
    onClose: (listener) => stream.on('close', listener),
    fail: (error) => fail(stream, headers, error),
  };
  const socket = stream.session?.socket;
  proxy(
    {
      method,
      path: (headers[':path'] as string | undefined) ?? '/',
      headers: flatHeaders(headers),
      authority: (headers[':authority'] as string | undefined) ?? headers.host ?? (routed.host as string),
      clientAddress: socket?.remoteAddress,
      secure: true,
      body: stream,
    },
    answer,
    counted,
  );
}

/** A request's headers as flat pairs, pseudo-headers left out, repeated ones (cookies) one pair each. */
function flatHeaders(headers: IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) flat.push(name, one);
    else flat.push(name, value);
  }
  return flat;
}

/** As `countRequest` (request-handler.ts), for an HTTP/2 stream: its status is the one in the headers it sent. */
function countStream(metrics: ServingMetrics, method: string | undefined, stream: ServerHttp2Stream): Counted {
  const counted: Counted = { site: metrics.otherSite, bytes: 0 };
  const started = performance.now();
  metrics.inFlight++;
  stream.once('close', () => {
    metrics.inFlight--;
    const status = stream.headersSent ? stream.sentHeaders[':status'] : undefined;
    if (typeof status === 'number') metrics.record(counted.site, status, method, counted.bytes, started);
  });
  return counted;
}

/** The stream can still take an answer: not reset, not closed with its session. */
function open(stream: ServerHttp2Stream): boolean {
  return !stream.destroyed && !stream.closed;
}

function write(reply: Reply, head: boolean, stream: ServerHttp2Stream, hsts: string | undefined, caches: ServingCaches, failed: (error: unknown) => void): void {
  if (!open(stream)) return;
  const headers = hsts === undefined ? h2Headers(reply) : { ...h2Headers(reply), 'strict-transport-security': hsts };
  const file = reply.file;
  if (head || file === undefined) {
    if (reply.body === undefined || head) {
      stream.respond(headers, { endStream: true });
      return;
    }
    stream.respond(headers);
    stream.end(reply.body);
    return;
  }
  const held = caches.bodies.get(file.content.key);
  if (held !== undefined) {
    stream.respond(headers);
    stream.end(part(held, reply));
    return;
  }
  // Found (read and checked, or opened and checked) before the headers go
  // out: a file missing or damaged on disk is a 500 with an id, not a cut answer.
  void bodySource(caches, file).then((source) => {
    const lease = source.kind === 'file' ? source.lease : undefined;
    if (!open(stream)) {
      lease?.release();
      return;
    }
    if (source.kind === 'memory') {
      // respond() checks the header table and throws at once: the caller's 500.
      stream.respond(headers);
      stream.end(part(source.body, reply));
      return;
    }
    const { start, end } = span(reply, file.content.size);
    try {
      // respond() checks the header table and throws at once: the caller's 500.
      stream.respond(headers, end < start ? { endStream: true } : undefined);
    } catch (error) {
      source.lease.release();
      failed(error);
      return;
    }
    if (end < start) {
      source.lease.release();
      return;
    }
    // Not respondWithFD nor respondWithFile: under a client resetting
    // hundreds of streams right after their HEADERS, both took the worker
    // process down (respondWithFile with SIGSEGV; respondWithFD from this
    // cache failed test/hostile/http2-clients the same way), which no
    // listener can catch. respondWithFD also checks the header table only
    // after returning and turns a bad one into a stream reset, not a 500
    // with an id. Positioned reads of the shared descriptor piped in
    // JavaScript cost more CPU for large files but keep every failure catchable.
    // The descriptor is given back once the read stream has closed, which
    // it does only with no read in flight.
    const body = createRangeStream(source.lease.fd, start, end);
    body.on('close', () => source.lease.release());
    // Headers are out: fail() logs it with an id and resets the stream.
    body.on('error', failed);
    stream.on('close', () => body.destroy());
    body.pipe(stream);
  }).catch(failed);
}
