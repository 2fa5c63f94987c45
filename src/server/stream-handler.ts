import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { Reply } from '../static/reply.ts';
import { createAccessLog, type HandlerOptions } from './request-handler.ts';
import { routeRequest } from './route-request.ts';
import { handleWebhook, HOOKS_PREFIX } from './webhook-route.ts';
import type { SiteTable } from './site-table.ts';

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/**
 * HTTP/2 header objects for replies, made once per reply: prepared replies
 * live as long as their release, so after the first request this is a lookup.
 */
const h2HeaderCache = new WeakMap<Reply, OutgoingHttpHeaders>();

function h2Headers(reply: Reply): OutgoingHttpHeaders {
  let headers = h2HeaderCache.get(reply);
  if (headers === undefined) {
    headers = { ':status': reply.status };
    for (let i = 0; i < reply.headers.length; i += 2) {
      const name = reply.headers[i] as string;
      const value = reply.headers[i + 1] as string;
      const existing = headers[name];
      headers[name] = existing === undefined ? value : ([] as string[]).concat(existing as string | string[], value);
    }
    h2HeaderCache.set(reply, headers);
  }
  return headers;
}

/**
 * Answers HTTP/2 streams directly, without the request/response
 * compatibility objects, which cost more than the answer itself for small files.
 */
export function createStreamHandler(table: SiteTable, logger: Logger, options: HandlerOptions): StreamHandler {
  const log = createAccessLog(logger, options);
  return (stream, headers) => {
    const method = headers[':method'] as string | undefined;
    const url = headers[':path'] as string | undefined;
    if (url?.startsWith(HOOKS_PREFIX) === true) {
      const request = Object.assign(stream as unknown as AsyncIterable<Buffer>, { headers });
      void handleWebhook(url, method, request, table, options.pushSink, logger).then((answer) => {
        if (stream.destroyed) return;
        // HTTP/2 has no Connection header; the stream simply ends.
        const headers = Object.fromEntries(Object.entries(answer.headers).filter(([name]) => name !== 'connection'));
        stream.respond({ ':status': answer.status, ...headers });
        stream.end(answer.body);
      });
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
    write(routed.reply, method === 'HEAD', stream, routed.site?.config.hsts);
    log?.(method, url, routed, started);
  };
}

function write(reply: Reply, head: boolean, stream: ServerHttp2Stream, hsts: string | undefined): void {
  if (stream.destroyed) return;
  const headers = hsts === undefined ? h2Headers(reply) : { ...h2Headers(reply), 'strict-transport-security': hsts };
  if (head || (reply.body === undefined && reply.file === undefined)) {
    stream.respond(headers, { endStream: true });
    return;
  }
  if (reply.body !== undefined) {
    stream.respond(headers);
    stream.end(reply.body);
    return;
  }
  stream.respondWithFile(reply.file as string, headers, {
    offset: reply.start,
    length: reply.end === -1 ? undefined : reply.end - reply.start + 1,
    onError: (error) => stream.destroy(error),
  });
}
