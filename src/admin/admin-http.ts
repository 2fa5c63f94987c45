import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { BerthError, isBerthError, type ErrorCode } from '../errors.ts';
import { FORWARDED_FOR, FORWARDED_PROTO } from './admin-socket.ts';

/** Forms and JSON bodies of the dashboard and the API are small; anything bigger is refused before it is read whole. */
export const BODY_LIMIT = 64 * 1024;

/** Headers on every answer of the admin app: nothing is cached, framed, sniffed or sent elsewhere. */
export const ADMIN_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});

/** The page's whole policy: its own scripts, styles and API, nothing from another origin, no inline code. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The HTTP status of each error code the admin app answers with; any other code is a 500. */
const STATUS: Readonly<Record<string, number>> = {
  E_USAGE: 400,
  E_API_BAD_REQUEST: 400,
  E_API_BODY_TOO_LARGE: 413,
  E_API_UNSUPPORTED_TYPE: 415,
  E_API_NOT_FOUND: 404,
  E_API_METHOD: 405,
  E_API_LOG_POSITION: 416,
  E_ADMIN_NONE: 404,
  E_ADMIN_SIGN_IN: 401,
  E_ADMIN_SESSION: 401,
  E_ADMIN_TOKEN_INVALID: 401,
  E_ADMIN_LINK_USED: 401,
  E_ADMIN_LINK_EXPIRED: 401,
  E_ADMIN_LINK_INVALID: 401,
  E_ADMIN_PASSKEY: 400,
  E_ADMIN_LOCKED: 429,
  E_ADMIN_CSRF: 403,
  E_ADMIN_TOKEN_SCOPE: 403,
  E_SITE_UNKNOWN: 404,
  E_DEPLOY_NOT_FOUND: 404,
  E_RELEASE_NOT_FOUND: 404,
  E_DEPLOY_NOT_CANCELLABLE: 409,
  E_DEPLOYS_LOCKED: 409,
  E_DEPLOY_RUNNING: 409,
};

export function statusOf(error: unknown): number {
  return isBerthError(error) ? (STATUS[error.code] ?? 500) : 500;
}

/** What the worker says about the client: its address, and whether it came over TLS. */
export function clientOf(req: IncomingMessage): { address: string; secure: boolean } {
  const address = req.headers[FORWARDED_FOR];
  const proto = req.headers[FORWARDED_PROTO];
  return { address: typeof address === 'string' && address !== '' ? address : 'unknown', secure: proto === 'https' };
}

/** The value of one cookie, or undefined. Only the first of a repeated name counts. */
export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at !== -1 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/**
 * The body, at most BODY_LIMIT bytes: a longer one (by Content-Length, or
 * as it arrives) is E_API_BODY_TOO_LARGE without reading the rest.
 */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > BODY_LIMIT) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(): BerthError {
  return new BerthError('E_API_BODY_TOO_LARGE', `The request body is over ${BODY_LIMIT / 1024} KiB; dashboard forms and API calls are smaller`);
}

/**
 * A form or JSON body as flat string fields. Repeated form fields and
 * JSON values that are not strings, numbers or booleans are refused: no
 * field is ever two things at once.
 */
export async function readFields(req: IncomingMessage): Promise<Map<string, string>> {
  const body = await readBody(req);
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const fields = new Map<string, string>();
  if (body.length === 0) return fields;
  if (type === 'application/x-www-form-urlencoded') {
    for (const [name, value] of new URLSearchParams(body.toString('utf8'))) {
      if (fields.has(name)) throw new BerthError('E_API_BAD_REQUEST', `The field ${JSON.stringify(name.slice(0, 40))} is given twice`);
      fields.set(name, value);
    }
    return fields;
  }
  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new BerthError('E_API_BAD_REQUEST', 'The body is not valid JSON');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BerthError('E_API_BAD_REQUEST', 'The body must be a JSON object');
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value === 'string') fields.set(name, value);
      else if (typeof value === 'number' || typeof value === 'boolean') fields.set(name, String(value));
      else if (value !== null) throw new BerthError('E_API_BAD_REQUEST', `The field ${JSON.stringify(name.slice(0, 40))} must be a string`);
    }
    return fields;
  }
  throw new BerthError('E_API_UNSUPPORTED_TYPE', 'Send application/json or a form (application/x-www-form-urlencoded)');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(`${JSON.stringify(body)}\n`);
  res.writeHead(status, { ...ADMIN_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

/** Pages smaller than this go as they are: gzip would save less than a packet. */
const GZIP_FROM = 1024;

/**
 * A page, gzipped (level 6) when the browser takes it. Compressing a page
 * that holds a secret (the CSRF token) beside text another party chose (a
 * commit message) is what BREACH measures; it needs the victim's browser to
 * make many signed-in requests for the attacker, which the SameSite=Strict
 * session cookie never joins from another site.
 */
export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(html);
  const gzip = bytes.length >= GZIP_FROM && /\bgzip\b/.test(String(res.req?.headers['accept-encoding'] ?? ''));
  const body = gzip ? gzipSync(bytes, { level: 6 }) : bytes;
  res.writeHead(status, {
    ...ADMIN_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': String(body.length),
    'content-security-policy': CONTENT_SECURITY_POLICY,
    vary: 'accept-encoding',
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    ...headers,
  });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(`${text}\n`);
  res.writeHead(status, { ...ADMIN_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(bytes.length), ...headers });
  res.end(bytes);
}

/** 303: after a form's POST, the browser GETs the page it names. Only paths of this host. */
export function redirect(res: ServerResponse, path: string, headers: Record<string, string> = {}): void {
  const target = path.startsWith('/') && !path.startsWith('//') ? path : '/';
  res.writeHead(303, { ...ADMIN_HEADERS, location: target, 'content-length': '0', ...headers });
  res.end();
}

/** `{ error: { code, message } }` with the code's status. */
export function sendError(res: ServerResponse, error: unknown, headers: Record<string, string> = {}): void {
  const code = isBerthError(error) ? error.code : 'E_API_INTERNAL' satisfies ErrorCode;
  const message = isBerthError(error) ? error.message : 'Something went wrong on the server; the log has the details';
  sendJson(res, statusOf(error), { error: { code, message } }, headers);
}
