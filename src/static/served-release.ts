/**
 * A release as the responder reads it: one compact table of the manifest's
 * files (tens of bytes a file, all in typed arrays and Buffers: the paths
 * and their index (path-index.ts), sizes and times, hashes, a small table
 * of content types),
 * the `_redirects` and `_headers` matchers, and nothing per file beyond
 * that. What a request needs of a file (its header arrays, its three
 * variants) is prepared on the first request into a bounded cache shared
 * by releases (prepared-file.ts), and the bytes stay where `locate` says
 * until the server asks for them. So loading a release costs reading its
 * manifest's rows, a small chunk at a time (none is kept once it is in the
 * table, so the parse leaves no heap the size of the file list behind),
 * and holding it costs its table, whatever its files weigh.
 *
 * Aliases are found by lookup at request time, never materialised:
 * `/about` is `/about.html`, `/blog/` is `/blog/index.html`, and `/about/`
 * and `/blog` redirect to them.
 */
import { BerthError } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import type { Encoding, FileRowSource, Manifest, ManifestFile, RedirectRule, StreamedManifest } from '../releases/manifest.ts';
import { isHexHash } from '../releases/read-file-rows.ts';
import { recordRows } from '../releases/read-manifest.ts';
import { createAuthGate, type AuthGate, type AuthUser } from './basic-auth.ts';
import { createAuthMatcher, createHeaderMatcher, type AuthMatcher, type HeaderMatcher } from './header-matcher.ts';
import { PathIndex, type PathLookup } from './path-index.ts';
import { createPreparedCache, type PreparedCache, type PreparedFile } from './prepared-file.ts';
import { createRedirectMatchers, type RedirectMatch } from './redirect-matcher.ts';

/**
 * Where the bytes of a file are on disk: its identity bytes, or Berth's
 * compressed variant `encoding` of them (releases/file-locator.ts gives
 * it for a release). The responder and the server's caches never know the
 * layout: they are keyed by content hash and ask this for a path only to
 * open a file.
 */
export type Locate = (urlPath: string, file: ManifestFile, encoding?: Encoding) => string;

/** A file served under a path (its own, or an alias's): its prepared answers and the `_headers` gates of that path. */
export interface FileRoute {
  readonly kind: 'file';
  /** The file's row in the release's table. */
  readonly index: number;
  readonly prepared: PreparedFile;
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

/** The manifest's files, one row each; see the top of this file. */
export interface FileTable {
  readonly count: number;
  /** URL path → row, and row → URL path (path-index.ts: no JavaScript object per path). */
  readonly rows: PathLookup;
  /** 32 bytes of SHA-256 per row. */
  readonly hashes: Buffer;
  readonly sizes: Float64Array;
  readonly mtimes: Float64Array;
  /** Sizes of Berth's variants; -1 where there is none. */
  readonly brSizes: Float64Array;
  readonly gzipSizes: Float64Array;
  /** Index into `types`. */
  readonly typeIds: Uint32Array;
  readonly types: readonly string[];
  /** 1 for `immutable`, 0 for `revalidate`. */
  readonly immutable: Uint8Array;
}

/** A release ready to answer requests. */
export interface ServedRelease {
  readonly id: string;
  readonly site: string;
  readonly files: FileTable;
  readonly locate: Locate;
  readonly forcedRedirects: Matcher | undefined;
  readonly fallbackRedirects: Matcher | undefined;
  /** The site-wide Basic-Auth gate from berth.toml, guarding every path. */
  readonly siteGate: AuthGate | undefined;
  /** The `_headers` Basic-Auth gate for a request path; undefined when no rule has Basic-Auth. */
  readonly authFor: AuthMatcher | undefined;
  /** `_headers` for a path, without a Strict-Transport-Security berth.toml overrides; undefined when there are no rules. */
  readonly headerMatcher: HeaderMatcher | undefined;
  readonly prepared: PreparedCache;
  /**
   * Routes already resolved, by served path, so a repeated request is one
   * lookup. Bounded by `MEMO_LIMIT` (oldest resolved first out), so a
   * crawler walking every path cannot make it grow with the site.
   */
  readonly memo: Map<string, FileRoute>;
}

export interface LoadOptions {
  /**
   * Where prepared answers are kept and found again: pass the one the
   * release served until now used, so a switch builds only what changed.
   * A fresh one when absent.
   */
  prepared?: PreparedCache;
  /** Users of the site's `basic_auth` in berth.toml, passwords already stored hashed. */
  siteUsers?: readonly AuthUser[] | undefined;
  /**
   * The site's berth.toml sets `hsts`: the server then sends that value on
   * HTTPS and a `Strict-Transport-Security` from `_headers` is dropped here,
   * so both protocols send exactly the configured one.
   */
  configuredHsts?: boolean;
}

/** Resolved routes one release remembers. */
export const MEMO_LIMIT = 4096;

/**
 * Reads the release `manifest` describes into its table; the bytes are
 * found through `locate` when asked for. A manifest read for serving
 * (`openManifest`) gives its files as rows, each dropped once it is in the
 * table; one held in memory (a publish's smoke check, tests) gives them
 * whole.
 */
export async function loadServedRelease(manifest: Manifest | StreamedManifest, locate: Locate, options: LoadOptions = {}): Promise<ServedRelease> {
  const headerMatcher = manifest.headers.length > 0 ? withoutHsts(createHeaderMatcher(manifest.headers), options.configuredHsts === true) : undefined;
  const authFor = createAuthMatcher(manifest.headers, manifest.site);
  const siteGate = options.siteUsers === undefined ? undefined : createAuthGate(options.siteUsers, manifest.site);
  const files = await buildTable(manifest.id, 'rows' in manifest ? manifest.rows : recordRows(manifest.files));
  const matchers = manifest.redirects.length > 0 ? createRedirectMatchers(manifest.redirects) : undefined;
  const hasForced = manifest.redirects.some((rule: RedirectRule) => rule.force);
  return {
    id: manifest.id,
    site: manifest.site,
    files,
    locate,
    forcedRedirects: hasForced ? matchers?.forced : undefined,
    fallbackRedirects: matchers?.fallback,
    siteGate,
    authFor,
    headerMatcher,
    prepared: options.prepared ?? createPreparedCache(),
    memo: new Map(),
  };
}

async function buildTable(id: string, source: FileRowSource): Promise<FileTable> {
  const count = source.count;
  const rows = new PathIndex(count);
  const hashes = Buffer.alloc(count * 32);
  const sizes = new Float64Array(count);
  const mtimes = new Float64Array(count);
  const brSizes = new Float64Array(count);
  const gzipSizes = new Float64Array(count);
  const typeIds = new Uint32Array(count);
  const immutable = new Uint8Array(count);
  const types: string[] = [];
  const typeIndex = new Map<string, number>();
  const malformed = (what: string): BerthError => new BerthError('E_MANIFEST_INVALID', `The release manifest of ${id} ${what}; publish the site again`);
  await source.forEach((path, file) => {
    if (rows.count >= count) throw malformed(`has more files than the ${count} it says`);
    if (typeof path !== 'string' || !path.startsWith('/') || !isFileFacts(file as ManifestFile | null)) throw malformed(`has a malformed entry for ${excerpt(String(path), 100)}`);
    if (!path.isWellFormed()) throw malformed(`has a path that is not well-formed Unicode: ${excerpt(path, 100)}`);
    const row = rows.add(path);
    if (row === undefined) throw malformed(`names ${excerpt(path, 100)} twice`);
    hashes.write(file.hash, row * 32, 'hex');
    sizes[row] = file.size;
    mtimes[row] = file.mtimeMs;
    brSizes[row] = file.encodings.br ?? -1;
    gzipSizes[row] = file.encodings.gzip ?? -1;
    let type = typeIndex.get(file.type);
    if (type === undefined) {
      type = types.length;
      types.push(file.type);
      typeIndex.set(file.type, type);
    }
    typeIds[row] = type;
    immutable[row] = file.cache === 'immutable' ? 1 : 0;
  });
  if (rows.count !== count) throw malformed(`has ${rows.count} files where it says ${count}`);
  rows.trim();
  return { count, rows, hashes, sizes, mtimes, brSizes, gzipSizes, typeIds, types, immutable };
}

function isFileFacts(file: ManifestFile | null | undefined): file is ManifestFile {
  if (typeof file !== 'object' || file === null) return false;
  const { size, hash, type, cache, encodings, mtimeMs } = file;
  if (!Number.isSafeInteger(size) || size < 0 || typeof hash !== 'string' || !isHexHash(hash) || typeof type !== 'string') return false;
  if ((cache !== 'immutable' && cache !== 'revalidate') || typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) return false;
  if (typeof encodings !== 'object' || encodings === null) return false;
  return [encodings.br, encodings.gzip].every((bytes) => bytes === undefined || (Number.isSafeInteger(bytes) && bytes >= 0));
}

/** The manifest entry of a row, as `locate` takes it. */
export function fileAt(release: ServedRelease, row: number): ManifestFile {
  const files = release.files;
  const encodings: Partial<Record<Encoding, number>> = {};
  if ((files.brSizes[row] as number) >= 0) encodings.br = files.brSizes[row] as number;
  if ((files.gzipSizes[row] as number) >= 0) encodings.gzip = files.gzipSizes[row] as number;
  return {
    size: files.sizes[row] as number,
    hash: files.hashes.toString('hex', row * 32, row * 32 + 32),
    type: files.types[files.typeIds[row] as number] as string,
    cache: files.immutable[row] === 1 ? 'immutable' : 'revalidate',
    encodings,
    mtimeMs: files.mtimes[row] as number,
  };
}

/** Where the bytes of a row (or of its variant) are on disk. */
export function locateRow(release: ServedRelease, row: number, encoding: Encoding | undefined): string {
  return release.locate(release.files.rows.pathAt(row), fileAt(release, row), encoding);
}

const ADD_SLASH: SlashRoute = Object.freeze({ kind: 'slash', add: true });
const REMOVE_SLASH: SlashRoute = Object.freeze({ kind: 'slash', add: false });

/**
 * The route for a decoded request path: the file at that path; else, for
 * `/dir/`, `dir/index.html`, and for `/page`, `page.html` (served with the
 * `_headers` rules of the path asked for); else a redirect adding the slash
 * (`/dir` where `dir/index.html` exists) or removing it (`/page/` where
 * `page.html` exists). `/x/index` and `/x/index/` are no aliases.
 */
export function routeFor(release: ServedRelease, path: string): Route | undefined {
  const known = release.memo.get(path);
  if (known !== undefined) return known;
  const rows = release.files.rows;
  const exact = rows.get(path);
  if (exact !== undefined) return remember(release, path, exact, false);
  if (path.endsWith('/')) {
    const index = rows.get(`${path}index.html`);
    if (index !== undefined) return remember(release, path, index, true);
    if (path !== '/' && !path.endsWith('/index/') && rows.has(`${path.slice(0, -1)}.html`)) return REMOVE_SLASH;
    return undefined;
  }
  if (!path.endsWith('/index')) {
    const page = rows.get(`${path}.html`);
    if (page !== undefined) return remember(release, path, page, true);
  }
  if (rows.has(`${path}/index.html`)) return ADD_SLASH;
  return undefined;
}

/** The file route of row `row` served under `path` (an alias when `alias`), prepared and remembered. */
function remember(release: ServedRelease, path: string, row: number, alias: boolean): FileRoute {
  const files = release.files;
  const urlPath = files.rows.pathAt(row);
  const { headerMatcher, authFor } = release;
  const custom = headerMatcher?.(alias ? path : urlPath) ?? [];
  const gates = authFor === undefined ? [] : gatesOf(alias ? [authFor(urlPath), authFor(path)] : [authFor(urlPath)]);
  const br = files.brSizes[row] as number;
  const gzip = files.gzipSizes[row] as number;
  const prepared = release.prepared.get({
    hash: files.hashes.toString('hex', row * 32, row * 32 + 32),
    size: files.sizes[row] as number,
    type: files.types[files.typeIds[row] as number] as string,
    cache: files.immutable[row] === 1 ? 'immutable' : 'revalidate',
    mtimeMs: files.mtimes[row] as number,
    br: br < 0 ? undefined : br,
    gzip: gzip < 0 ? undefined : gzip,
    custom,
    guarded: gates.length > 0 || release.siteGate !== undefined,
  });
  const route: FileRoute = { kind: 'file', index: row, prepared, gates };
  if (release.memo.size >= MEMO_LIMIT) release.memo.delete(release.memo.keys().next().value as string);
  release.memo.set(path, route);
  return route;
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
