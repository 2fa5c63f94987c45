/**
 * The manifest is written once at publish time and read by the server. It
 * holds everything the responder needs so that no request has to look at the
 * disk to decide what to answer. It is the whole release: the bytes of each
 * file live in the site's object store under the file's hash
 * (object-path.ts), shared by every release that has them.
 *
 * Version 1 releases kept a copy of every file (and Berth's `.br`/`.gz`
 * sidecars, by path) in the release directory; they are converted to
 * version 2 once (migrate-releases.ts), when Berth starts or publishes.
 */

export const MANIFEST_NAME = '.berth-manifest.json';
/**
 * Version 2 keeps the files out of the manifest, in this file beside it:
 * one JSON array per line (see write-file-rows.ts), sorted by path, so a serving
 * worker reads them a row at a time from small chunks instead of parsing
 * one document that holds them all.
 */
export const FILE_ROWS_NAME = '.berth-files.jsonl';
export const MANIFEST_VERSION = 2;

export type Encoding = 'br' | 'gzip';

export interface ManifestFile {
  /** Size in bytes of the identity (uncompressed) file. */
  size: number;
  /** Hex SHA-256 of the identity bytes; the ETag is derived from it. */
  hash: string;
  /** Content-Type header value, charset included for text. */
  type: string;
  /** `immutable` for fingerprinted assets, `revalidate` for the rest. */
  cache: 'immutable' | 'revalidate';
  /** Byte sizes of Berth's compressed variants of the object `hash`, where smaller. */
  encodings: Partial<Record<Encoding, number>>;
  /** Last modification time of the source file, ms since the epoch. */
  mtimeMs: number;
}

export type RedirectStatus = 200 | 301 | 302 | 307 | 308 | 404 | 410;

/** One line of a Netlify-style `_redirects` file. */
export interface RedirectRule {
  /** Path pattern: literal segments, `:name` placeholders, a trailing `*` splat. */
  from: string;
  /** Target path or absolute URL; may use `:name` and `:splat`. */
  to: string;
  status: RedirectStatus;
  /** `!`: apply even when a file exists at `from`. */
  force: boolean;
  /** Line in `_redirects`, for messages. */
  line: number;
}

/** One path block of a Netlify-style `_headers` file. */
export interface HeaderRule {
  /** Path pattern: literal segments, `:name` placeholders, `*` splats. */
  path: string;
  /**
   * Header name/value pairs in file order; names lower-cased. Releases
   * published before `auth` existed may hold a `basic-auth` pair here: the
   * server reads it as `auth` and never sends it.
   */
  headers: Array<[name: string, value: string]>;
  /**
   * `Basic-Auth` users; absent when the block has none. Passwords are stored
   * hashed (see src/static/basic-auth.ts), never as written.
   */
  auth?: Array<{ name: string; hash: string }>;
  line: number;
}

export interface Manifest {
  /** 1: files in the release directory (read until converted); 2: files in the object store. */
  version: 1 | typeof MANIFEST_VERSION;
  id: string;
  site: string;
  createdAt: string;
  /** The commit the release was built from, when it came from a deploy. */
  commit?: string;
  /** Keyed by URL path of the file, e.g. `/blog/index.html`. */
  files: Record<string, ManifestFile>;
  redirects: RedirectRule[];
  headers: HeaderRule[];
}

/** What the manifest says of its rows file, so a truncated, grown or altered one is refused. */
export interface FileRowsInfo {
  count: number;
  bytes: number;
  /** Hex SHA-256 of the whole rows file. */
  sha256: string;
}

/** A manifest as version 2 writes it: everything but the files, which are in `FILE_ROWS_NAME`. */
export type ManifestHeader = Omit<Manifest, 'files'> & { fileRows: FileRowsInfo };

/**
 * A release's files one at a time, with how many there are (known before
 * the first): what a serving worker builds its table from without ever
 * holding every file's record at once.
 */
export interface FileRowSource {
  readonly count: number;
  /** The SHA-256 its manifest records for the list on disk (version 2); undefined for files held in memory. The list read is refused unless it matches. */
  readonly sha256?: string;
  /** Calls `onRow` for each file in order; rejects with `E_MANIFEST_INVALID` on a bad row, after which no more rows come. */
  forEach(onRow: (urlPath: string, file: ManifestFile) => void): Promise<void>;
}

/** A release read for serving: its manifest without the files, and the files as rows. */
export type StreamedManifest = Omit<Manifest, 'files'> & { rows: FileRowSource };
