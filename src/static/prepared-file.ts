import type { Encoding } from '../releases/manifest.ts';
import { SECURITY_HEADERS, withoutBody, type Reply } from './reply.ts';

/**
 * The bytes one representation of a file is made of, named by content: the
 * SHA-256 of the identity bytes and the encoding. Caches of bodies and of
 * open files are keyed by `key`, never by a path, so two sites or two
 * releases with the same content share one entry, and a path that changes
 * content can never be answered with its old bytes.
 */
export interface Content {
  /** `<hash>` for the identity bytes, `<hash>.br` / `<hash>.gzip` for Berth's variants. */
  readonly key: string;
  readonly hash: string;
  readonly encoding: Encoding | undefined;
  /** Bytes the manifest promises, which the answer's Content-Length says. */
  readonly size: number;
}

/** The prepared answers for one representation (identity, br or gzip) of a file. */
export interface Variant {
  readonly get: Reply;
  readonly head: Reply;
  readonly notModified: Reply;
  readonly content: Content;
}

/** Everything about a file's answers that does not depend on the release it is in. */
export interface PreparedFile {
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
}

/** What a file's answers are made of: its manifest facts and the headers `_headers` gives the path it is served under. */
export interface FileFacts {
  hash: string;
  size: number;
  type: string;
  cache: 'immutable' | 'revalidate';
  mtimeMs: number;
  br: number | undefined;
  gzip: number | undefined;
  /** `_headers` rules of the served path, merged (header-matcher.ts). */
  custom: ReadonlyArray<[string, string]>;
  /** A password guards it (the site's or a `_headers` one): never cached by a shared cache. */
  guarded: boolean;
}

export interface PreparedStats {
  /** Entries held now. */
  entries: number;
  /** Entries built since the cache was made: what a release switch costs. */
  builds: number;
  hits: number;
}

/**
 * Prepared answers, built on first request and kept for the most recently
 * used `limit` files. Keyed by everything an answer is made of (content
 * hash, manifest facts, headers, whether a password guards it), so a file
 * whose content and headers did not change in the next release finds its
 * entry again, and switching releases builds only what changed.
 */
export interface PreparedCache {
  get(facts: FileFacts): PreparedFile;
  stats(): PreparedStats;
}

/** Prepared answers are a few kilobytes each (header arrays, three variants): 4096 of them stay under ~16 MiB. */
export const DEFAULT_PREPARED_ENTRIES = 4096;

export function createPreparedCache(limit = DEFAULT_PREPARED_ENTRIES): PreparedCache {
  // A Map keeps insertion order: re-inserting on a hit makes its first key the least recently used.
  const entries = new Map<string, PreparedFile>();
  let builds = 0;
  let hits = 0;
  return {
    get(facts) {
      const key = keyOf(facts);
      const found = entries.get(key);
      if (found !== undefined) {
        hits++;
        entries.delete(key);
        entries.set(key, found);
        return found;
      }
      const built = buildPrepared(facts);
      builds++;
      entries.set(key, built);
      if (entries.size > limit) entries.delete(entries.keys().next().value as string);
      return built;
    },
    stats: () => ({ entries: entries.size, builds, hits }),
  };
}

function keyOf(facts: FileFacts): string {
  const custom = facts.custom.length === 0 ? '' : JSON.stringify(facts.custom);
  return `${facts.hash}|${facts.size}|${facts.br ?? ''}|${facts.gzip ?? ''}|${facts.type}|${facts.cache}|${facts.mtimeMs}|${facts.guarded ? 1 : 0}|${custom}`;
}

const ETAG_SUFFIX: Readonly<Record<Encoding, string>> = { br: '-br', gzip: '-gz' };
const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
const CACHE_REVALIDATE = 'public, max-age=0, must-revalidate';
/**
 * A protected file must never be kept by a shared cache (a CDN would hand it
 * to the next visitor without asking for a password), whatever `_headers` says.
 */
const CACHE_PROTECTED = 'private, no-cache';

export function buildPrepared(facts: FileFacts): PreparedFile {
  const tag = facts.hash.slice(0, 16);
  const hasEncodings = facts.br !== undefined || facts.gzip !== undefined;
  const lastModified = new Date(facts.mtimeMs).toUTCString();
  const common = commonHeaders(facts, lastModified, hasEncodings);

  const variant = (encoding: Encoding | undefined): Variant => {
    const etag = `"${tag}${encoding === undefined ? '' : ETAG_SUFFIX[encoding]}"`;
    const size = encoding === undefined ? facts.size : (facts[encoding] as number);
    const headers = ['content-length', String(size), 'etag', etag, ...(encoding === undefined ? [] : ['content-encoding', encoding]), ...common];
    const get: Reply = { status: 200, headers, body: undefined, file: undefined, start: 0, end: -1 };
    const notModifiedHeaders = ['etag', etag, 'last-modified', lastModified, 'cache-control', cacheControl(facts)];
    if (hasEncodings) notModifiedHeaders.push('vary', 'Accept-Encoding');
    return {
      get,
      head: withoutBody(get),
      notModified: { status: 304, headers: notModifiedHeaders, body: undefined, file: undefined, start: 0, end: -1 },
      content: { key: encoding === undefined ? facts.hash : `${facts.hash}.${encoding}`, hash: facts.hash, encoding, size },
    };
  };

  return {
    hash: facts.hash,
    tag,
    mtimeSec: Math.floor(facts.mtimeMs / 1000),
    size: facts.size,
    identity: variant(undefined),
    br: facts.br === undefined ? undefined : variant('br'),
    gzip: facts.gzip === undefined ? undefined : variant('gzip'),
    rangeHeaders: ['etag', `"${tag}"`, ...common],
  };
}

function cacheControl(facts: FileFacts): string {
  if (facts.guarded) return CACHE_PROTECTED;
  const override = facts.custom.find(([name]) => name === 'cache-control');
  if (override !== undefined) return override[1];
  return facts.cache === 'immutable' ? CACHE_IMMUTABLE : CACHE_REVALIDATE;
}

function commonHeaders(facts: FileFacts, lastModified: string, vary: boolean): string[] {
  const { custom, guarded } = facts;
  const defaults: Array<[string, string]> = [
    ['content-type', facts.type],
    ['last-modified', lastModified],
    ['cache-control', guarded ? CACHE_PROTECTED : facts.cache === 'immutable' ? CACHE_IMMUTABLE : CACHE_REVALIDATE],
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
