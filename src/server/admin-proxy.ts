import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { FORWARDED_FOR, FORWARDED_PROTO } from '../admin/admin-socket.ts';
import type { Logger } from '../log/logger.ts';
import { textReply, type Reply } from '../static/reply.ts';
import { DASHBOARD_STARTING } from './route-request.ts';

export interface AdminProxyOptions {
  /** The admin app's Unix socket (admin/admin-socket.ts `adminSocketPath`). */
  socketPath: string;
  /**
   * How long the admin app has to send an answer's headers. Its body has no
   * limit: an event stream stays open for as long as the page does.
   * @default 30_000
   */
  headersTimeoutMs?: number;
  /** @default 1 MiB */
  maxBodyBytes?: number;
}

/** One request for the admin host, from either protocol. */
export interface AdminRequest {
  method: string;
  /** Path and query. */
  path: string;
  /** The client's headers as flat `[name, value, …]` pairs, HTTP/2 pseudo-headers left out. */
  headers: readonly string[];
  /** What the request was routed by (`Host`, `:authority`, or an absolute-form target's): sent on as `Host`. */
  authority: string;
  /** The peer address of the client's connection. */
  clientAddress: string | undefined;
  /** The client's connection is TLS. */
  secure: boolean;
  /** The client's request body. */
  body: Readable;
}

/** Where the admin app's answer goes: the HTTP/1.1 response or the HTTP/2 stream. */
export interface AdminAnswer {
  /** The client has gone, or the answer has ended. */
  readonly closed: boolean;
  /** The headers are out. */
  readonly started: boolean;
  /** Sends the admin app's status and headers (hop-by-hop ones already left out); returns where the body goes. */
  head(status: number, headers: readonly string[]): Writable;
  /**
   * A whole answer of Berth's own; `stopReading`: the rest of the request
   * body will not be read, so the connection (HTTP/1.1) or the stream
   * (HTTP/2) must end with it.
   */
  reply(reply: Reply, stopReading: boolean): void;
  /** Part of the answer is out and the rest cannot come: the only honest ending is a cut. */
  cut(): void;
  onClose(listener: () => void): void;
  /** An unexpected error (a header table the protocol refuses): answered 500 with an error id. */
  fail(error: unknown): void;
}

export type AdminProxy = (request: AdminRequest, answer: AdminAnswer, counted?: { bytes: number }) => void;

/**
 * Headers that belong to one connection (RFC 9110 7.6.1), plus `expect`,
 * which this server has already answered: never passed on in either direction.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings']);
const TOO_LARGE = textReply(413, 'Request body too large for the dashboard');
const BAD_GATEWAY = textReply(502, 'The dashboard failed to answer');
const GATEWAY_TIMEOUT = textReply(504, 'The dashboard did not answer in time');

/**
 * Forwards the admin host's requests to the admin app on its Unix socket,
 * streaming both ways: the request body up to `maxBodyBytes` (beyond it a
 * 413, and the rest is not read), the answer as it is written, so an event
 * stream's events reach the browser one by one. What the client sent under
 * the `x-berth-client-*` names is dropped and set here: the admin app
 * believes those headers because only this proxy can reach its socket.
 *
 * Every failure ends in an answer or a cut connection, never a throw: the
 * admin app not running yet is a 503 with Retry-After, failing otherwise a
 * 502, too slow to start its answer a 504. A client that leaves ends the
 * upstream request.
 */
export function createAdminProxy(options: AdminProxyOptions, logger: Logger): AdminProxy {
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const log = logger.child({ kind: 'admin-proxy' });
  return (request, answer, counted) => {
    const headers = upstreamHeaders(request);
    const declared = Number(headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      answer.reply(TOO_LARGE, true);
      return;
    }
    // `done`: Berth has decided the outcome; later events of the upstream request change nothing.
    let done = false;
    let sent = 0;
    let bodyEnded = false;
    const upstream = httpRequest({ socketPath: options.socketPath, method: request.method, path: request.path, headers, agent: false, setHost: false });
    const finish = (reply: Reply | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      upstream.destroy();
      if (answer.closed) return;
      if (answer.started || reply === undefined) answer.cut();
      else answer.reply(reply, !bodyEnded);
    };
    const timer = setTimeout(() => finish(GATEWAY_TIMEOUT), headersTimeoutMs);
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (done) return;
      // The socket not there or not accepting: the control plane is (re)starting.
      const starting = error.code === 'ENOENT' || error.code === 'ECONNREFUSED';
      if (!starting) log.warn({ code: error.code, err: error }, 'the admin app failed to answer a request');
      finish(starting ? DASHBOARD_STARTING : BAD_GATEWAY);
    });
    upstream.on('response', (response: IncomingMessage) => {
      clearTimeout(timer);
      if (done || answer.closed) {
        response.destroy();
        finish(undefined);
        return;
      }
      let body: Writable;
      try {
        body = answer.head(response.statusCode ?? 502, answerHeaders(response.rawHeaders));
      } catch (error) {
        done = true;
        upstream.destroy();
        answer.fail(error);
        return;
      }
      if (counted !== undefined) response.on('data', (chunk: Buffer) => (counted.bytes += chunk.length));
      // Cut short by the admin app (it stopped, or the socket broke): the client's answer is cut too.
      response.on('error', () => finish(undefined));
      response.on('close', () => {
        if (response.complete) done = true;
        else finish(undefined);
      });
      response.pipe(body);
    });
    answer.onClose(() => {
      if (!done) finish(undefined);
    });
    const source = request.body;
    source.on('error', () => finish(undefined));
    source.on('data', (chunk: Buffer) => {
      if (done) return;
      sent += chunk.length;
      if (sent > maxBodyBytes) {
        source.pause();
        finish(TOO_LARGE);
        return;
      }
      if (!upstream.write(chunk)) {
        source.pause();
        upstream.once('drain', () => source.resume());
      }
    });
    source.on('end', () => {
      bodyEnded = true;
      if (!done) upstream.end();
    });
  };
}

/**
 * The request's headers as the admin app gets them: the client's, minus
 * hop-by-hop ones (and those its `Connection` names) and any it sent under
 * the forwarded names; then `Host` and the forwarded ones, set here.
 */
function upstreamHeaders(request: AdminRequest): OutgoingHttpHeaders {
  const raw = request.headers;
  const dropped = connectionTokens(raw);
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    if (HOP_BY_HOP.has(name) || name.startsWith('proxy-') || dropped.has(name) || name === 'host' || name === FORWARDED_FOR || name === FORWARDED_PROTO) continue;
    const existing = headers[name];
    if (existing === undefined) headers[name] = value;
    // HTTP/2 may split cookies across fields; HTTP/1.1 has one Cookie header (RFC 9113 8.2.3).
    else if (name === 'cookie') headers[name] = `${existing as string}; ${value}`;
    else headers[name] = ([] as string[]).concat(existing, value);
  }
  headers.host = request.authority;
  // Each request has a connection of its own (no agent), which this side
  // closes once the answer has ended. Without this header Node would send
  // `Connection: close`, and the admin app, closing right after answering,
  // could close before Node's last (empty) write of the request: an EPIPE
  // that loses an answer already sent.
  headers.connection = 'keep-alive';
  headers[FORWARDED_FOR] = clientAddress(request.clientAddress);
  headers[FORWARDED_PROTO] = request.secure ? 'https' : 'http';
  return headers;
}

/** The admin app's answer headers to send on, flat: hop-by-hop ones (and those its `Connection` names) left out. */
export function answerHeaders(raw: readonly string[]): string[] {
  const dropped = connectionTokens(raw);
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (HOP_BY_HOP.has(name) || name.startsWith('proxy-') || dropped.has(name)) continue;
    headers.push(name, raw[i + 1] as string);
  }
  return headers;
}

/** Flat answer headers as HTTP/2 takes them, repeated names (`set-cookie`) as arrays. */
export function toHttp2Headers(status: number, flat: readonly string[]): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    const value = flat[i + 1] as string;
    const existing = headers[name];
    headers[name] = existing === undefined ? value : ([] as string[]).concat(existing as string | string[], value);
  }
  return headers;
}

/** Header names a `Connection` header lists: hop-by-hop for this one connection. */
function connectionTokens(raw: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const token of (raw[i + 1] as string).split(',')) tokens.add(token.trim().toLowerCase());
  }
  return tokens;
}

/** The peer address, an IPv4 client on a dual-stack socket written as plain IPv4. */
function clientAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
