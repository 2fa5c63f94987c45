import type { IncomingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log/logger.ts';
import type { Reply } from '../static/reply.ts';
import { HEALTH_PATH, routeRequest, type Routed } from './route-request.ts';
import { handleWebhook, HOOKS_PREFIX, type PushSink } from './webhook-route.ts';
import { CHALLENGE_PREFIX, type ChallengeResponder } from './challenge-responder.ts';
import { internalErrorReply } from './internal-error.ts';
import { createRangeStream } from './range-stream.ts';
import { bodySource, part, span, type ServingCaches } from './reply-body.ts';
import { fromAbsoluteForm } from './request-target.ts';
import type { SiteTable } from './site-table.ts';
import type { ServingMetrics } from './serving-metrics.ts';
import type { AdminAnswer, AdminProxy } from './admin-proxy.ts';

/** The HTTP/1.1 request surface (`http` and the TLS fallback of the `http2` server). */
export interface HttpRequest extends AsyncIterable<Buffer> {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: readonly string[];
  socket: { servername?: string | false | null; remoteAddress?: string | undefined } | null;
}

export interface HttpResponse {
  readonly headersSent: boolean;
  readonly statusCode: number;
  readonly writableEnded: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: readonly string[]): unknown;
  end(body?: Buffer): unknown;
  destroy(error?: Error): unknown;
  on(event: 'close', listener: () => void): unknown;
}

export type RequestHandler = (req: HttpRequest, res: HttpResponse) => void;

export interface HandlerOptions {
  accessLog: boolean;
  /** Where verified webhook pushes go; undefined when this server runs no deploys. */
  pushSink: PushSink | undefined;
  /** Plain HTTP with ACME on: where HTTP-01 answers are looked up. */
  challenges?: ChallengeResponder | undefined;
  /** Plain HTTP: the HTTPS port to redirect site requests to (known once it is bound); undefined: no redirect. */
  httpsRedirectPort?: (() => number | undefined) | undefined;
  /** The connections are TLS, so a site's HSTS header is sent. */
  secure?: boolean;
  /** Where file bytes are found and kept: the worker's one set, shared by every listener. */
  caches: ServingCaches;
  /** The worker's request counts; undefined when metrics are off (nothing is counted then). */
  metrics?: ServingMetrics | undefined;
  /** Where the admin host's requests go; undefined when no `[admin] domain` is configured. */
  admin?: AdminProxy | undefined;
}

/**
 * What a request is counted under once its answer ends: set while it is
 * answered, read by the close listener (see `countRequest`).
 */
export interface Counted {
  site: number;
  bytes: number;
}

/**
 * Counts a request from now until its answer closes: in flight meanwhile,
 * then by site, status and method with its duration and body bytes, if an
 * answer was sent (a client that leaves before one is only taken out of the
 * in-flight count).
 */
export function countRequest(metrics: ServingMetrics, method: string | undefined, res: HttpResponse): Counted {
  const counted: Counted = { site: metrics.otherSite, bytes: 0 };
  const started = performance.now();
  metrics.inFlight++;
  res.on('close', () => {
    metrics.inFlight--;
    if (res.headersSent) metrics.record(counted.site, res.statusCode, method, counted.bytes, started);
  });
  return counted;
}

/** The body bytes of an answer: none for HEAD (and for answers without a body), the range's for a 206. */
export function bodyBytes(reply: Reply, head: boolean): number {
  if (head) return 0;
  const file = reply.file;
  if (file === undefined) return reply.body?.length ?? 0;
  const { start, end } = span(reply, file.content.size);
  return end < start ? 0 : end - start + 1;
}

/** An access log line writer, or undefined when access logging is off. `status`: the answer's, when it differs from the routed reply's (the admin app's). */
export type AccessLog = ((method: string | undefined, url: string | undefined, routed: Routed, started: number, status?: number) => void) | undefined;

export function createAccessLog(logger: Logger, options: HandlerOptions): AccessLog {
  if (!options.accessLog) return undefined;
  const log = logger.child({ kind: 'access' });
  return (method, url, routed, started, status) => {
    const line = {
      method,
      host: routed.host,
      url,
      status: status ?? routed.reply.status,
      release: routed.site?.release?.id,
      ms: Math.round((performance.now() - started) * 100) / 100,
    };
    // Health probes (Docker's HEALTHCHECK every 30 s, a load balancer's) are not site traffic: kept out of the info log.
    if (url === HEALTH_PATH) log.debug(line);
    else log.info(line);
  };
}

/** Answers HTTP/1.1 requests: route, then write what the responder decided. */
export function createRequestHandler(table: SiteTable, logger: Logger, options: HandlerOptions): RequestHandler {
  const log = createAccessLog(logger, options);
  const { challenges, httpsRedirectPort, secure = false, metrics, admin } = options;
  const handle = (req: HttpRequest, res: HttpResponse, target: Target, counted: Counted | undefined): void => {
    const started = log === undefined ? 0 : performance.now();
    const servername = req.socket?.servername;
    const routed = routeRequest(table, {
      method: req.method,
      url: target.url,
      authority: target.authority,
      headers: req.headers,
      servername: typeof servername === 'string' ? servername : undefined,
      duplicateHost: hasSecondHost(req.rawHeaders),
    }, httpsRedirectPort?.());
    if (routed.admin) {
      if (counted !== undefined) counted.site = metrics?.adminSite ?? counted.site;
      if (routed.forward && admin !== undefined) {
        forwardToAdmin(admin, req, res, target, routed, counted, secure, (status) => log?.(req.method, req.url, routed, started, status), fail);
        return;
      }
    }
    const hsts = secure ? routed.site?.config.hsts : undefined;
    if (counted !== undefined) {
      if (routed.site !== undefined) counted.site = routed.site.index;
      counted.bytes = bodyBytes(routed.reply, req.method === 'HEAD');
    }
    write(routed.reply, req.method === 'HEAD', res, hsts, options.caches, (error) => fail(req, res, error));
    log?.(req.method, req.url, routed, started);
  };
  const countWebhook = metrics === undefined ? undefined : metrics.webhook.bind(metrics);
  const route = (req: HttpRequest, res: HttpResponse, counted: Counted | undefined): void => {
    const target = targetOf(req);
    const url = target.url;
    if (url?.startsWith(HOOKS_PREFIX) === true) {
      void handleWebhook(url, req.method, req, table, options.pushSink, logger, countWebhook)
        .then((answer) => {
          if (res.destroyed || res.writableEnded) return;
          if (counted !== undefined) counted.bytes = Buffer.byteLength(answer.body);
          res.writeHead(answer.status, Object.entries(answer.headers).flat());
          res.end(Buffer.from(answer.body));
        })
        .catch((error: unknown) => fail(req, res, error));
      return;
    }
    if (challenges !== undefined && url?.startsWith(CHALLENGE_PREFIX) === true) {
      const token = url.slice(CHALLENGE_PREFIX.length);
      void challenges
        .lookup(token)
        .then(
          (answer) => {
            // Not one of ours: the request is handled like any other (redirected, or the site's own file).
            if (answer === undefined) handle(req, res, target, counted);
            else {
              const body = Buffer.from(answer);
              if (counted !== undefined && req.method !== 'HEAD') counted.bytes = body.length;
              res.writeHead(200, ['content-type', 'text/plain', 'content-length', String(body.length), 'cache-control', 'no-store']);
              res.end(req.method === 'HEAD' ? undefined : body);
              logger.info({ kind: 'acme', token: token.slice(0, 12) }, 'answered an ACME HTTP-01 challenge');
            }
          },
          (error: unknown) => {
            logger.error({ err: error }, 'cannot read an ACME challenge answer');
            handle(req, res, target, counted);
          },
        )
        .catch((error: unknown) => fail(req, res, error));
      return;
    }
    handle(req, res, target, counted);
  };
  // Nothing a request does may end the process: whatever throws on the way
  // (synchronously or in a promise above) is answered 500 with an error id.
  const fail = (req: HttpRequest, res: HttpResponse, error: unknown): void => {
    const reply = internalErrorReply(logger, error, { method: req.method, url: req.url, protocol: 'http/1.1' });
    if (res.headersSent || res.writableEnded || res.destroyed) {
      // Part of an answer is out: the only honest ending is a cut connection.
      res.destroy();
      return;
    }
    try {
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
    } catch {
      res.destroy();
    }
  };
  return (req, res) => {
    try {
      route(req, res, metrics === undefined ? undefined : countRequest(metrics, req.method, res));
    } catch (error) {
      fail(req, res, error);
    }
  };
}

/** The admin host's request, handed to the admin proxy with this protocol's answer. */
function forwardToAdmin(
  proxy: AdminProxy,
  req: HttpRequest,
  res: HttpResponse,
  target: Target,
  routed: Routed,
  counted: Counted | undefined,
  secure: boolean,
  logged: (status: number) => void,
  fail: (req: HttpRequest, res: HttpResponse, error: unknown) => void,
): void {
  const answer: AdminAnswer = {
    get closed() {
      return res.destroyed || res.writableEnded;
    },
    get started() {
      return res.headersSent;
    },
    head(status, headers) {
      res.writeHead(status, headers);
      logged(status);
      return res as unknown as Writable;
    },
    reply(reply, stopReading) {
      if (counted !== undefined && req.method !== 'HEAD') counted.bytes = reply.body?.length ?? 0;
      // Node closes the connection after an answer that says so: the unread rest of the body is never read.
      res.writeHead(reply.status, stopReading ? [...reply.headers, 'connection', 'close'] : reply.headers);
      res.end(req.method === 'HEAD' ? undefined : reply.body);
      logged(reply.status);
    },
    cut: () => res.destroy(),
    onClose: (listener) => res.on('close', listener),
    fail: (error) => fail(req, res, error),
  };
  proxy(
    {
      method: req.method ?? 'GET',
      path: target.url ?? '/',
      headers: req.rawHeaders,
      authority: target.authority ?? (routed.host as string),
      clientAddress: req.socket?.remoteAddress,
      secure,
      body: req as unknown as Readable,
    },
    answer,
    counted,
  );
}

interface Target {
  /** Path and query. */
  url: string | undefined;
  /** Where the host comes from: `Host`, or the authority of an absolute-form target. */
  authority: string | undefined;
}

/** RFC 9112 3.2.2: an absolute-form target is accepted, and its authority takes the place of `Host`. */
function targetOf(req: HttpRequest): Target {
  const absolute = fromAbsoluteForm(req.url);
  return absolute === undefined ? { url: req.url, authority: req.headers.host } : { url: absolute.path, authority: absolute.authority };
}

function hasSecondHost(raw: readonly string[]): boolean {
  let seen = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (seen) return true;
      seen = true;
    }
  }
  return false;
}

function write(reply: Reply, head: boolean, res: HttpResponse, hsts: string | undefined, caches: ServingCaches, failed: (error: unknown) => void): void {
  const headers = hsts === undefined ? reply.headers : [...reply.headers, 'strict-transport-security', hsts];
  const file = reply.file;
  if (head || file === undefined) {
    res.writeHead(reply.status, headers);
    res.end(head ? undefined : reply.body);
    return;
  }
  const held = caches.bodies.get(file.content.key);
  if (held !== undefined) {
    res.writeHead(reply.status, headers);
    res.end(part(held, reply));
    return;
  }
  // Found (read and checked, or opened and checked) before the headers go
  // out: a file missing or damaged on disk is a 500 with an id, not a cut answer.
  void bodySource(caches, file).then((source) => {
    const lease = source.kind === 'file' ? source.lease : undefined;
    if (res.destroyed || res.writableEnded) {
      lease?.release();
      return;
    }
    try {
      res.writeHead(reply.status, headers);
    } catch (error) {
      lease?.release();
      failed(error);
      return;
    }
    if (source.kind === 'memory') {
      res.end(part(source.body, reply));
      return;
    }
    const { start, end } = span(reply, file.content.size);
    if (end < start) {
      source.lease.release();
      res.end();
      return;
    }
    // Positioned reads of the shared descriptor; it is given back only once
    // the stream is closed, so no read is ever in flight on a closed one.
    const stream = createRangeStream(source.lease.fd, start, end);
    stream.on('close', () => source.lease.release());
    // Headers are out: fail() logs it with an id and cuts the connection.
    stream.on('error', failed);
    res.on('close', () => stream.destroy());
    stream.pipe(res as unknown as NodeJS.WritableStream);
  }, failed);
}
