import { request as httpsRequest } from 'node:https';
import { createServer, type Server } from 'node:https';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSelfSignedCertificate } from '../../src/tls/self-signed.ts';

/**
 * Debian's Pebble (2.4) has no ACME Renewal Information endpoint. This
 * proxy sits in front of it and adds one, as RFC 9773 describes: the
 * directory gains `renewalInfo`, and `GET <renewalInfo>/<id>` answers the
 * window the test sets. Everything else goes to Pebble unchanged (the Host
 * header is kept, so the URLs Pebble writes point back here and the JWS
 * `url` fields match). It also records the payloads of new orders, to check
 * the `replaces` field, and can refuse new orders like a CA that is down.
 */
export interface AriProxy {
  readonly directoryUrl: string;
  /** Trust file for clients: the proxy's own certificate. */
  readonly caFile: string;
  /** The window answered for a certificate id; `index` counts the distinct ids asked for, from 0. */
  window: (id: string, index: number) => { start: Date; end: Date };
  /** New orders let through before the rest are answered 503 (Infinity: all). */
  allowOrders: number;
  /** Payloads of newOrder requests, in order (refused ones included). */
  readonly orders: Array<Record<string, unknown>>;
  /** Certificate ids asked for at the renewalInfo endpoint. */
  readonly asked: string[];
  close(): Promise<void>;
}

export async function startAriProxy(dir: string, pebble: { directoryUrl: string; caFile: string }): Promise<AriProxy> {
  const pair = await createSelfSignedCertificate(['127.0.0.1', 'localhost']);
  const caFile = join(dir, 'ari-proxy.pem');
  await writeFile(caFile, pair.cert);
  const pebbleCa = await readFile(pebble.caFile, 'utf8');
  const upstream = new URL(pebble.directoryUrl);
  let port = 0;
  let passed = 0;
  const state: Omit<AriProxy, 'close' | 'directoryUrl' | 'caFile'> = {
    window: () => ({ start: new Date(Date.now() + 86_400_000), end: new Date(Date.now() + 2 * 86_400_000) }),
    allowOrders: Number.POSITIVE_INFINITY,
    orders: [],
    asked: [],
  };

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse, edit?: (text: string) => string): void => {
    const out = httpsRequest(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, ca: pebbleCa },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          let data = Buffer.concat(chunks);
          if (edit !== undefined) data = Buffer.from(edit(data.toString()));
          const headers = { ...answer.headers, 'content-length': String(data.length) };
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(data);
        });
      },
    );
    out.on('error', () => {
      res.writeHead(502, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'upstream CA unreachable' }));
    });
    out.end(body);
  };

  const server: Server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      if (url === upstream.pathname) {
        forward(req, body, res, (text) => JSON.stringify({ ...(JSON.parse(text) as object), renewalInfo: `https://127.0.0.1:${port}/renewal-info` }));
        return;
      }
      if (req.method === 'GET' && url.startsWith('/renewal-info/')) {
        const id = url.slice('/renewal-info/'.length);
        state.asked.push(id);
        const window = state.window(id, [...new Set(state.asked)].indexOf(id));
        res.writeHead(200, { 'content-type': 'application/json', 'retry-after': '60' });
        res.end(JSON.stringify({ suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() }, explanationURL: 'https://ca.example/why' }));
        return;
      }
      if (req.method === 'POST' && url.includes('order-plz')) {
        const jws = JSON.parse(body.toString()) as { payload: string };
        state.orders.push(JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as Record<string, unknown>);
        if (passed >= state.allowOrders) {
          res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
          res.end(JSON.stringify({ type: 'urn:ietf:params:acme:error:serverInternal', detail: 'the CA is refusing new orders for now' }));
          return;
        }
        passed++;
      }
      forward(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
  return Object.assign(state, {
    directoryUrl: `https://127.0.0.1:${port}${upstream.pathname}`,
    caFile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
