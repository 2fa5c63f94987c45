import { readFile } from 'node:fs/promises';
import { fileLocator, type FileLocator } from '../releases/file-locator.ts';
import type { Encoding, Manifest, ManifestFile, RedirectRule } from '../releases/manifest.ts';
import { createAuthGate, type AuthGate, type AuthUser } from './basic-auth.ts';
import { createAuthMatcher, createHeaderMatcher, type AuthMatcher, type HeaderMatcher } from './header-matcher.ts';
import { createRedirectMatchers, type RedirectMatch } from './redirect-matcher.ts';
import { SECURITY_HEADERS, withoutBody, type Reply } from './reply.ts';

/** The prepared answers for one representation (identity, br or gzip) of a file. */
export interface Variant {
  readonly get: Reply;
  readonly head: Reply;
  readonly notModified: Reply;
}

export interface FileRoute {
  readonly kind: 'file';
  /** Full SHA-256 of the identity bytes, as in the manifest. */
  readonly hash: string;
  /** The content hash prefix inside every ETag of this file. */
  readonly tag: string;
  readonly mtimeSec: number;
  readonly size: number;
  readonly identity: Variant;
  readonly br: Variant | undefined;
  readonly gzip: Variant | undefined;
  /** Headers of the identity variant without content-length, for 206 answers. */
  readonly rangeHeaders: readonly string[];
  readonly body: Buffer | undefined;
  readonly file: string;
  /**
   * `_headers` Basic-Auth gates a request must pass before any byte of this
   * file (or a 304, or a range of it) is sent: the one guarding the file's
   * own path and the one guarding the path it is served under, when they
   * differ. Empty for a file no rule protects.
   */
  readonly gates: readonly AuthGate[];
}

/** `/blog` → `/blog/` (a directory) or `/about/` → `/about` (a page): one policy, by redirect. */
export interface SlashRoute {
  readonly kind: 'slash';
  readonly add: boolean;
}

export type Route = FileRoute | SlashRoute;

type Matcher = (path: string, query: string) => RedirectMatch | null;

/** A release ready to answer requests: everything a request needs, precomputed. */
export interface ServedRelease {
  readonly id: string;
  readonly site: string;
  readonly routes: ReadonlyMap<string, Route>;
  /** The nearest `404.html` per directory that has one, keyed by directory path with trailing slash. */
  readonly notFoundPages: ReadonlyMap<string, FileRoute>;
  readonly forcedRedirects: Matcher | undefined;
  readonly fallbackRedirects: Matcher | undefined;
  /** The site-wide Basic-Auth gate from berth.toml, guarding every path. */
  readonly siteGate: AuthGate | undefined;
  /** The `_headers` Basic-Auth gate for a request path; undefined when no rule has Basic-Auth. */
  readonly authFor: AuthMatcher | undefined;
}

export interface LoadOptions {
  /** Where each file's bytes are (file-locator.ts); by the manifest's version when absent. */
  locate?: FileLocator;
  /** Files up to this size are kept in memory, larger ones streamed from disk. */
  memoryFileMaxBytes: number;
  /**
   * The release served until now: files with the same content reuse its
   * in-memory bytes instead of being read again, so switching to a release
   * where a few files changed reads only those.
   */
  previous?: ServedRelease;
  /** Users of the site's `basic_auth` in berth.toml, passwords already stored hashed. */
  siteUsers?: readonly AuthUser[] | undefined;
  /**
   * The site's berth.toml sets `hsts`: the server then sends that value on
   * HTTPS and a `Strict-Transport-Security` from `_headers` is dropped here,
   * once per release, so both protocols send exactly the configured one and
   * no request does any work for it.
   */
  configuredHsts?: boolean;
}

const ETAG_SUFFIX: Readonly<Record<Encoding, string>> = { br: '-br', gzip: '-gz' };
const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
const CACHE_REVALIDATE = 'public, max-age=0, must-revalidate';
/**
 * A protected file must never be kept by a shared cache (a CDN would hand it
 * to the next visitor without asking for a password), whatever `_headers` says.
 */
const CACHE_PROTECTED = 'private, no-cache';

/** Loads the release in `releaseDir` (with its already-read manifest) into memory. */
export async function loadServedRelease(manifest: Manifest, releaseDir: string, options: LoadOptions): Promise<ServedRelease> {
  const locate = options.locate ?? fileLocator(manifest, releaseDir);
  const headerMatcher = manifest.headers.length > 0 ? withoutHsts(createHeaderMatcher(manifest.headers), options.configuredHsts === true) : undefined;
  const authFor = createAuthMatcher(manifest.headers, manifest.site);
  const siteGate = options.siteUsers === undefined ? undefined : createAuthGate(options.siteUsers, manifest.site);
  const routes = new Map<string, Route>();
  const paths = Object.keys(manifest.files);
  const built = new Map<string, FileRoute>();
  const known = knownBodies(options.previous);

  // Read files a few at a time: a big site should not open thousands at once.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const urlPath = paths[next++] as string;
      const file = manifest.files[urlPath] as ManifestFile;
      const custom = headerMatcher?.(urlPath) ?? [];
      const gates = gatesOf([authFor?.(urlPath)]);
      built.set(urlPath, await buildFileRoute(urlPath, file, locate, custom, gates, options, known.get(file.hash)));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));

  // Exact paths first, so a real file always wins over an alias.
  for (const [urlPath, route] of built) routes.set(urlPath, route);
  for (const [urlPath, route] of built) {
    if (urlPath.endsWith('/index.html')) {
      const dir = urlPath.slice(0, -'index.html'.length);
      setIfFree(routes, dir, await withOwnHeaders(route, dir, urlPath, manifest, { headerMatcher, authFor }, locate, options));
      if (dir !== '/') setIfFree(routes, dir.slice(0, -1), { kind: 'slash', add: true });
    } else if (urlPath.endsWith('.html')) {
      const page = urlPath.slice(0, -'.html'.length);
      setIfFree(routes, page, await withOwnHeaders(route, page, urlPath, manifest, { headerMatcher, authFor }, locate, options));
      setIfFree(routes, `${page}/`, { kind: 'slash', add: false });
    }
  }

  const notFoundPages = new Map<string, FileRoute>();
  for (const [urlPath, route] of built) {
    if (urlPath.endsWith('/404.html')) notFoundPages.set(urlPath.slice(0, -'404.html'.length), route);
  }

  const matchers = manifest.redirects.length > 0 ? createRedirectMatchers(manifest.redirects) : undefined;
  const hasForced = manifest.redirects.some((rule: RedirectRule) => rule.force);
  return {
    id: manifest.id,
    site: manifest.site,
    routes,
    notFoundPages,
    forcedRedirects: hasForced ? matchers?.forced : undefined,
    fallbackRedirects: matchers?.fallback,
    siteGate,
    authFor,
  };
}

/** berth.toml's `hsts` wins over `_headers`: the file's Strict-Transport-Security is never sent. */
function withoutHsts(matcher: HeaderMatcher, configured: boolean): HeaderMatcher {
  if (!configured) return matcher;
  return (path) => matcher(path).filter(([name]) => name !== 'strict-transport-security');
}

/** The distinct `_headers` gates that apply; the site's own gate is checked before any route. */
function gatesOf(own: ReadonlyArray<AuthGate | undefined>): AuthGate[] {
  const gates: AuthGate[] = [];
  for (const gate of own) if (gate !== undefined && !gates.includes(gate)) gates.push(gate);
  return gates;
}

interface Matchers {
  headerMatcher: HeaderMatcher | undefined;
  authFor: AuthMatcher | undefined;
}

function setIfFree(routes: Map<string, Route>, key: string, route: Route): void {
  if (!routes.has(key)) routes.set(key, route);
}

/**
 * An alias (`/blog/` for `/blog/index.html`) gets the `_headers` rules that
 * match the alias itself, since that is the URL a visitor requests. When they
 * are the same as the file's, the file's prepared answers are shared.
 */
async function withOwnHeaders(
  route: FileRoute,
  alias: string,
  urlPath: string,
  manifest: Manifest,
  { headerMatcher, authFor }: Matchers,
  locate: FileLocator,
  options: LoadOptions,
): Promise<FileRoute> {
  if (headerMatcher === undefined && authFor === undefined) return route;
  const own = headerMatcher?.(alias) ?? [];
  const fileHeaders = headerMatcher?.(urlPath) ?? [];
  const gates = gatesOf([authFor?.(urlPath), authFor?.(alias)]);
  const sameGates = gates.length === route.gates.length && gates.every((gate, i) => route.gates[i] === gate);
  if (sameGates && JSON.stringify(own) === JSON.stringify(fileHeaders)) return route;
  return buildFileRoute(urlPath, manifest.files[urlPath] as ManifestFile, locate, own, gates, options, bodiesOf(route));
}

/** The in-memory bytes of one file's representations. */
interface Bodies {
  identity: Buffer | undefined;
  br: Buffer | undefined;
  gzip: Buffer | undefined;
}

function bodiesOf(route: FileRoute): Bodies {
  return { identity: route.body, br: route.br?.get.body, gzip: route.gzip?.get.body };
}

/** Bytes already in memory, by content hash. Buffers are immutable here, so sharing them is safe. */
function knownBodies(previous: ServedRelease | undefined): Map<string, Bodies> {
  const known = new Map<string, Bodies>();
  if (previous === undefined) return known;
  for (const route of previous.routes.values()) {
    if (route.kind === 'file' && route.body !== undefined) known.set(route.hash, bodiesOf(route));
  }
  return known;
}

async function buildFileRoute(
  urlPath: string,
  file: ManifestFile,
  locate: FileLocator,
  custom: ReadonlyArray<[string, string]>,
  gates: readonly AuthGate[],
  options: LoadOptions,
  known?: Bodies,
): Promise<FileRoute> {
  const tag = file.hash.slice(0, 16);
  const diskPath = locate(urlPath, file);
  const inMemory = file.size <= options.memoryFileMaxBytes;
  const body = inMemory ? (known?.identity ?? (await readFile(diskPath))) : undefined;
  const hasEncodings = file.encodings.br !== undefined || file.encodings.gzip !== undefined;
  const lastModified = new Date(file.mtimeMs).toUTCString();
  const guarded = gates.length > 0 || options.siteUsers !== undefined;
  const common = commonHeaders(file, lastModified, hasEncodings, custom, guarded);

  const variant = async (encoding: Encoding | undefined): Promise<Variant> => {
    const etag = `"${tag}${encoding === undefined ? '' : ETAG_SUFFIX[encoding]}"`;
    const size = encoding === undefined ? file.size : (file.encodings[encoding] as number);
    const path = encoding === undefined ? diskPath : locate(urlPath, file, encoding);
    const reusable = encoding === undefined ? undefined : known?.[encoding];
    const variantBody =
      encoding === undefined ? body : inMemory ? (reusable?.length === size ? reusable : await readFile(path)) : undefined;
    const headers = ['content-length', String(size), 'etag', etag, ...(encoding === undefined ? [] : ['content-encoding', encoding]), ...common];
    const get: Reply = { status: 200, headers, body: variantBody, file: variantBody === undefined ? path : undefined, start: 0, end: -1 };
    const notModifiedHeaders = ['etag', etag, 'last-modified', lastModified, 'cache-control', cacheControl(file, custom, guarded)];
    if (hasEncodings) notModifiedHeaders.push('vary', 'Accept-Encoding');
    return {
      get,
      head: withoutBody(get),
      notModified: { status: 304, headers: notModifiedHeaders, body: undefined, file: undefined, start: 0, end: -1 },
    };
  };

  return {
    kind: 'file',
    hash: file.hash,
    tag,
    mtimeSec: Math.floor(file.mtimeMs / 1000),
    size: file.size,
    identity: await variant(undefined),
    br: file.encodings.br === undefined ? undefined : await variant('br'),
    gzip: file.encodings.gzip === undefined ? undefined : await variant('gzip'),
    rangeHeaders: ['etag', `"${tag}"`, ...common],
    body,
    file: diskPath,
    gates,
  };
}

function cacheControl(file: ManifestFile, custom: ReadonlyArray<[string, string]>, guarded: boolean): string {
  if (guarded) return CACHE_PROTECTED;
  const override = custom.find(([name]) => name === 'cache-control');
  if (override !== undefined) return override[1];
  return file.cache === 'immutable' ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
}

function commonHeaders(
  file: ManifestFile,
  lastModified: string,
  vary: boolean,
  custom: ReadonlyArray<[string, string]>,
  guarded: boolean,
): string[] {
  const defaults: Array<[string, string]> = [
    ['content-type', file.type],
    ['last-modified', lastModified],
    ['cache-control', guarded ? CACHE_PROTECTED : file.cache === 'immutable' ? CACHE_IMMUTABLE : CACHE_REVALIDATE],
    ['accept-ranges', 'bytes'],
    [SECURITY_HEADERS[0], SECURITY_HEADERS[1]],
    [SECURITY_HEADERS[2], SECURITY_HEADERS[3]],
  ];
  if (vary) defaults.push(['vary', 'Accept-Encoding']);
  // A `_headers` value replaces our default of the same name; `vary` adds to it,
  // since dropping Accept-Encoding would let caches mix up encodings.
  // The custom table has each name once (mergeHeaders), so with this every
  // name but set-cookie appears once in the response.
  const replaced = new Set(custom.map(([name]) => name).filter((name) => name !== 'vary' && !(guarded && name === 'cache-control')));
  const flat: string[] = [];
  for (const [name, value] of defaults) if (!replaced.has(name)) flat.push(name, value);
  for (const [name, value] of custom) if (!(guarded && name === 'cache-control')) flat.push(name, value);
  return flat;
}
