import type { ErrorCode } from '../errors.ts';

/**
 * Where a publish reads the files of a new release from, behind one
 * interface: a directory (a build's output, or what `berth publish` names;
 * directory-source.ts), or a commit's tree read straight from git for a site
 * with no build step. Publish asks every source the same two things: which
 * files there are, and the bytes of the ones whose content may have changed.
 */

/** One file to publish. */
export interface SourceEntry {
  /** Path relative to the source's root, `/`-separated, no leading slash; only public paths (see isPublicSegment). */
  readonly relPath: string;
  /**
   * What proves the content unchanged since a previous publish of the site
   * without reading it: a git blob id (`git:<oid>`), which names the
   * content itself, or a stat signature (`stat:<dev>:<ino>:<size>:<mtimeNs>:<ctimeNs>`)
   * that publish trusts only for files not modified within a second of the
   * index that recorded it. Undefined: the file is always read and hashed.
   */
  readonly changeKey: string | undefined;
  /** Last modification time, ms since the epoch: the file's Last-Modified. */
  readonly mtimeMs: number;
}

/** The bytes of one file, read the safe way for its source. */
export interface SourceBody {
  /** The whole content, for files small enough to hold (and compress) in memory. */
  readonly whole: Buffer | undefined;
  /** Otherwise: calls `onChunk` with the content in order, once each byte; resolves when done. */
  readonly stream: ((onChunk: (chunk: Buffer) => Promise<void>) => Promise<void>) | undefined;
  readonly size: number;
  /** Frees what reading held (an open file); called once, after `whole` or `stream` was used. */
  close(): Promise<void>;
}

export interface PublishSource {
  /** What to name in messages: the directory, or the commit. */
  readonly label: string;
  /** Every file to publish, sorted by `relPath`; `_redirects` and `_headers` are not among them. */
  entries(): Promise<SourceEntry[]>;
  /**
   * Opens one entry for reading. Files larger than `wholeMaxBytes` come as a
   * stream. A file that vanished or changed into something that is not a
   * regular file since `entries()` is an error (`E_PUBLISH_SOURCE`).
   */
  open(entry: SourceEntry, wholeMaxBytes: number): Promise<SourceBody>;
  /**
   * The content of `_redirects` or `_headers` at the root, undefined when
   * there is none; more than `maxBytes` (or a link, or not a regular file)
   * is refused with `code` before the rest is read.
   */
  readRules(name: '_redirects' | '_headers', limits: { maxBytes: number; code: ErrorCode }): Promise<Buffer | undefined>;
}
