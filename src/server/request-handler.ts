import { createReadStream } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../log/logger.ts';
import { respond } from '../static/respond.ts';
import { textReply, type Reply } from '../static/reply.ts';
import { hostOf } from './host-name.ts';
import type { SiteTable } from './site-table.ts';

/** The request and response surface shared by `http` and the `http2` compatibility API. */
export interface HttpRequest {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: readonly string[];
  socket: { servername?: string | false | null; encrypted?: boolean } | null;
}

export interface HttpResponse {
  writeHead(status: number, headers: readonly string[]): unknown;
  end(body?: Buffer): unknown;
  destroy(error?: Error): unknown;
  on(event: 'close', listener: () => void): unknown;
  writableEnded: boolean;
}

export type RequestHandler = (req: HttpRequest, res: HttpResponse) => void;

const UNKNOWN_HOST = textReply(421, 'Misdirected request: no site here answers to this host name');
const TWO_HOSTS = textReply(400, 'Bad request: more than one Host header');
const NO_RELEASE = textReply(503, 'This site has no published release yet', ['retry-after', '10']);
const HEALTHY = textReply(200, 'ok');
const BERTH_NOT_FOUND = textReply(404, 'Not found');

export interface HandlerOptions {
  accessLog: boolean;
}

/**
 * Routes a request to its site by Host and writes what the responder decided.
 * Everything under `/_berth/` belongs to Berth on every host.
 */
export function createRequestHandler(table: SiteTable, logger: Logger, options: HandlerOptions): RequestHandler {
  const log = options.accessLog ? logger.child({ kind: 'access' }) : undefined;
  return (req, res) => {
    const started = log === undefined ? 0 : performance.now();
    const host = hostOf((req.headers[':authority'] as string | undefined) ?? req.headers.host);
    const site = host === undefined ? undefined : table.byHost.get(host);
    let reply: Reply;
    if (hasSecondHost(req.rawHeaders)) {
      // Node keeps the first Host and drops the rest; a proxy in front might
      // have used another one, so refuse rather than guess (RFC 9112 3.2).
      reply = TWO_HOSTS;
    } else if (site === undefined) {
      reply = UNKNOWN_HOST;
    } else if (misdirected(req, table, site)) {
      reply = UNKNOWN_HOST;
    } else if (req.url?.startsWith('/_berth/') === true) {
      reply = req.url === '/_berth/health' ? HEALTHY : BERTH_NOT_FOUND;
    } else if (site.release === undefined) {
      reply = NO_RELEASE;
    } else {
      reply = respond(site.release, req as Parameters<typeof respond>[1]);
    }
    write(reply, req.method === 'HEAD', res);
    if (log !== undefined) {
      log.info({
        method: req.method,
        host,
        url: req.url,
        status: reply.status,
        release: site?.release?.id,
        ms: Math.round((performance.now() - started) * 100) / 100,
      });
    }
  };
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

/**
 * On TLS, the certificate was chosen by SNI: a request whose Host names a
 * different configured site came over a connection meant for another one
 * (HTTP/2 connection reuse). 421 tells the browser to open a fresh connection.
 */
function misdirected(req: HttpRequest, table: SiteTable, site: unknown): boolean {
  const servername = req.socket?.servername;
  if (typeof servername !== 'string' || servername === '') return false;
  const sniSite = table.byHost.get(servername.toLowerCase());
  return sniSite !== undefined && sniSite !== site;
}

function write(reply: Reply, head: boolean, res: HttpResponse): void {
  res.writeHead(reply.status, reply.headers);
  if (head || (reply.body === undefined && reply.file === undefined)) {
    res.end();
    return;
  }
  if (reply.body !== undefined) {
    res.end(reply.body);
    return;
  }
  const stream = createReadStream(reply.file as string, reply.end === -1 ? undefined : { start: reply.start, end: reply.end });
  stream.on('error', (error) => res.destroy(error));
  res.on('close', () => stream.destroy());
  stream.pipe(res as unknown as NodeJS.WritableStream);
}
