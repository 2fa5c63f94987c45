/** A small HTTP(S) client for checks: whole body, headers, status. */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface GetOptions {
  agent?: http.Agent;
  /** PEM to trust for https (the run's self-signed certificate). */
  ca?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export function get(url: string, o: GetOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(
      u,
      {
        agent: o.agent,
        headers: o.headers,
        ...(u.protocol === 'https:' ? { ca: o.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The opaque part of an ETag: strips `W/` and the quotes. */
export function etagValue(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim());
  return m ? m[1] : undefined;
}

/**
 * Berth's ETag is (a prefix of) the hex SHA-256 of the identity body. True
 * when `etag` is such a prefix of at least 16 hex digits of `body`'s hash.
 */
export function etagMatchesBody(etag: string | undefined, body: Buffer): boolean {
  const v = etagValue(etag);
  if (!v || !/^[0-9a-f]{16,64}$/.test(v)) return false;
  return sha256(body).startsWith(v);
}
