import { acceptedEncodings } from './accept-encoding.ts';
import type { AuthGate } from './basic-auth.ts';
import { parseRange } from './range.ts';
import { BAD_REQUEST, emptyReply, METHOD_NOT_ALLOWED, NOT_FOUND, SECURITY_HEADERS, textReply, type Reply } from './reply.ts';
import { cleanRequestPath, isPrivatePath } from './request-path.ts';
import type { Variant } from './prepared-file.ts';
import { routeFor, type FileRoute, type ServedRelease } from './served-release.ts';

/** The parts of a request the responder looks at; both HTTP/1.1 and HTTP/2 requests provide them. */
export interface StaticRequest {
  method: string | undefined;
  /** Request target: path and query, as sent. */
  url: string | undefined;
  headers: {
    'accept-encoding'?: string | undefined;
    'if-none-match'?: string | undefined;
    'if-modified-since'?: string | undefined;
    'if-range'?: string | undefined;
    range?: string | undefined;
    authorization?: string | undefined;
  };
}

/** How `respond` answers; the server passes none. */
export interface RespondOptions {
  /**
   * Answer as a visitor who passed every Basic-Auth gate (the site's and
   * `_headers` ones) would be answered, without checking any credentials.
   * Only for the deploy's check of a release before it goes live, so that a
   * site whose every page needs a password is judged by what its visitors
   * get once logged in. Never set it for a request: it is a parameter of its
   * own, not a field of `StaticRequest`, so nothing a client sends reaches it.
   */
  skipAuth?: boolean;
}

/**
 * Answers one request from one release. No I/O: the bytes of a file are
 * named (`Reply.file`), and the server finds them. The only state it
 * touches is the release's bounded caches of prepared answers; a request
 * that started on a release finishes on it even if another release is
 * activated meanwhile.
 */
export function respond(release: ServedRelease, request: StaticRequest, options?: RespondOptions): Reply {
  const auth = options?.skipAuth !== true;
  const method = request.method;
  const head = method === 'HEAD';
  if (method !== 'GET' && !head) return METHOD_NOT_ALLOWED;

  const url = request.url ?? '';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  const clean = cleanRequestPath(rawPath);
  if (clean.kind === 'bad') return BAD_REQUEST;
  if (clean.kind === 'redirect') return redirect(308, clean.location + query);
  const path = clean.path;
  // The site-wide gate first: nothing of the site, not even whether a path
  // exists, is answered without it.
  if (auth && release.siteGate !== undefined) {
    const denied = refusal([release.siteGate], request);
    if (denied !== undefined) return denied;
  }
  if (isPrivatePath(path)) return notFound(release, path, request, head, auth);

  const route = routeFor(release, path);
  // A file route carries the gates of its path; any other answer (a redirect,
  // a rewrite, a 404) is checked against the request path's gate here.
  if (auth && release.authFor !== undefined && route?.kind !== 'file') {
    const gate = release.authFor(path);
    const denied = gate === undefined ? undefined : refusal([gate], request);
    if (denied !== undefined) return denied;
  }

  if (release.forcedRedirects !== undefined) {
    const match = release.forcedRedirects(path, query);
    if (match !== null) {
      if (auth && route?.kind === 'file' && route.gates.length > 0) {
        const denied = refusal(route.gates, request);
        if (denied !== undefined) return denied;
      }
      return applyRule(release, match.rule.status, match.location, path, request, head, auth);
    }
  }

  if (route !== undefined) {
    if (route.kind === 'file') return serveFile(release, route, request, head, 200, auth);
    const location = route.add ? `${rawPath}/` : rawPath.slice(0, -1);
    return redirect(308, location + query);
  }

  if (release.fallbackRedirects !== undefined) {
    const match = release.fallbackRedirects(path, query);
    if (match !== null) return applyRule(release, match.rule.status, match.location, path, request, head, auth);
  }
  return notFound(release, path, request, head, auth);
}

/** `auth` false: the gates are not checked (see `RespondOptions.skipAuth`). */
function serveFile(release: ServedRelease, route: FileRoute, request: StaticRequest, head: boolean, status: number, auth: boolean): Reply {
  if (auth && route.gates.length > 0) {
    const denied = refusal(route.gates, request);
    if (denied !== undefined) return denied;
  }
  const headers = request.headers;
  const prepared = route.prepared;
  const accepts = acceptedEncodings(headers['accept-encoding']);
  const variant: Variant =
    accepts.br && prepared.br !== undefined ? prepared.br : accepts.gzip && prepared.gzip !== undefined ? prepared.gzip : prepared.identity;

  if (status === 200) {
    const inm = headers['if-none-match'];
    if (inm !== undefined) {
      if (inm.includes(prepared.tag) || inm.trim() === '*') return variant.notModified;
    } else {
      const ims = headers['if-modified-since'];
      if (ims !== undefined) {
        const since = Date.parse(ims);
        if (!Number.isNaN(since) && prepared.mtimeSec * 1000 <= since) return variant.notModified;
      }
    }

    const range = headers.range;
    if (range !== undefined && ifRangeHolds(route, headers['if-range'])) {
      const ranged = rangeReply(release, route, range, head);
      if (ranged !== undefined) return ranged;
    }
    return head ? variant.head : withFile(variant.get, 200, release, route, variant);
  }
  return head ? { ...variant.head, status } : withFile(variant.get, status, release, route, variant);
}

/** A prepared reply with the file its body is: the one allocation a file answer makes. */
function withFile(reply: Reply, status: number, release: ServedRelease, route: FileRoute, variant: Variant): Reply {
  return { status, headers: reply.headers, body: undefined, file: { content: variant.content, release, index: route.index }, start: 0, end: -1 };
}

/** `If-Range` with a strong ETag of this file lets the range through; anything else gets the whole file. */
function ifRangeHolds(route: FileRoute, ifRange: string | undefined): boolean {
  if (ifRange === undefined) return true;
  return ifRange === `"${route.prepared.tag}"`;
}

function rangeReply(release: ServedRelease, route: FileRoute, header: string, head: boolean): Reply | undefined {
  const prepared = route.prepared;
  const range = parseRange(header, prepared.size);
  if (range.kind === 'none') return undefined;
  if (range.kind === 'unsatisfiable') {
    return emptyReply(416, ['content-range', `bytes */${prepared.size}`, ...SECURITY_HEADERS]);
  }
  const length = range.end - range.start + 1;
  const headers = [
    'content-length',
    String(length),
    'content-range',
    `bytes ${range.start}-${range.end}/${prepared.size}`,
    ...prepared.rangeHeaders,
  ];
  if (head) return { status: 206, headers, body: undefined, file: undefined, start: 0, end: -1 };
  const file = { content: prepared.identity.content, release, index: route.index };
  return { status: 206, headers, body: undefined, file, start: range.start, end: range.end };
}

/** A `_redirects` rule that matched: a redirect, or a rewrite served with the rule's status. */
function applyRule(release: ServedRelease, status: number, location: string, path: string, request: StaticRequest, head: boolean, auth: boolean): Reply {
  if (status >= 300 && status < 400) return redirect(status, location);
  const target = routeFor(release, rewriteTarget(location));
  if (target?.kind === 'file') return serveFile(release, target, request, head, status, auth);
  if (status === 200 || status === 404) return notFound(release, path, request, head, auth);
  return emptyReply(status, [...SECURITY_HEADERS]);
}

/** The decoded path part of a rewrite's (encoded) target, for the route lookup. */
function rewriteTarget(location: string): string {
  const end = location.search(/[?#]/);
  const path = end === -1 ? location : location.slice(0, end);
  try {
    return decodeURIComponent(path);
  } catch {
    // The matcher only produces valid escapes; a broken one names no file.
    return '';
  }
}

/** The site's own `404.html`, the one nearest up the path, else a plain one. */
function notFound(release: ServedRelease, path: string, request: StaticRequest, head: boolean, auth: boolean): Reply {
  let dir = path.slice(0, path.lastIndexOf('/') + 1);
  for (;;) {
    const page = release.files.rows.has(`${dir}404.html`) ? routeFor(release, `${dir}404.html`) : undefined;
    if (page?.kind === 'file') return serveFile(release, page, request, head, 404, auth);
    if (dir === '/' || dir === '') break;
    dir = dir.slice(0, dir.lastIndexOf('/', dir.length - 2) + 1);
  }
  return NOT_FOUND;
}

function redirect(status: number, location: string): Reply {
  return emptyReply(status, ['location', encodeLocation(location), ...SECURITY_HEADERS]);
}

/**
 * Percent-encodes what may not appear raw in a Location header (spaces,
 * non-ASCII from a decoded path) while keeping existing escapes as they are.
 */
function encodeLocation(location: string): string {
  return location.replace(/[^\x21-\x7e]|%(?![0-9a-fA-F]{2})/gu, (char) => encodeURIComponent(char));
}

const TOO_MANY_LOGINS = textReply(503, 'Too many login attempts: try again in a moment', ['retry-after', '1']);

/**
 * The answer when the request's credentials do not pass every gate: 401
 * with a Basic challenge and `Cache-Control: no-store`, or 503 when too many
 * hashed-password checks ran this second. Undefined when they pass.
 */
function refusal(gates: readonly AuthGate[], request: StaticRequest): Reply | undefined {
  for (const gate of gates) {
    const result = gate.check(request.headers.authorization);
    if (result === 'busy') return TOO_MANY_LOGINS;
    if (result === 'denied') return gate.challenge;
  }
  return undefined;
}
