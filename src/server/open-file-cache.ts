/**
 * Open file descriptors of the files a worker serves from disk, at most
 * `limit` of them kept open between requests, keyed by content (hash and
 * encoding) like the body cache. A file is opened and checked once per
 * entry: a regular file of exactly the size its release promised and, for
 * the identity bytes, the SHA-256 its release names (read once). Later
 * requests only `fstat` the open descriptor: a file changed in place,
 * truncated or removed since it was checked (its size, mtime or ctime moved,
 * or it has no name left) is dropped and opened and checked again, so a
 * damaged file is a 500, never someone else's bytes.
 *
 * Each use holds a lease; a descriptor evicted while a stream still reads
 * from it is closed when the last lease is given back, never under it.
 * Evicted-but-leased descriptors are the only ones beyond `limit`, and
 * there are at most as many as streams in flight.
 */
import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Content } from '../static/prepared-file.ts';

export interface FileLease {
  /** The descriptor; valid until `release()`. Read it only with positioned reads (it is shared). */
  readonly fd: number;
  /** Give the descriptor back; call exactly once. */
  release(): void;
}

export interface OpenFileStats {
  /** Entries kept (open and checked, or being checked); never more than `limit`. */
  cached: number;
  /** Descriptors open now: kept ones plus evicted ones still leased. */
  open: number;
  limit: number;
  /** Files opened and checked since the cache was made. */
  opens: number;
}

export interface OpenFileCache {
  /** A checked descriptor for `content`, opening `path()` if none is kept; rejects when the file is not those bytes. */
  acquire(content: Content, path: () => string): Promise<FileLease>;
  stats(): OpenFileStats;
  /** Closes every descriptor no lease holds (at shutdown). */
  close(): Promise<void>;
}

export const DEFAULT_OPEN_FILES = 256;

interface Entry {
  readonly key: string;
  handle: FileHandle | undefined;
  /** Resolves once opened and checked; rejects when the file is not the content. */
  readonly ready: Promise<void>;
  refs: number;
  /** No longer in the map: closed when `refs` reaches 0. */
  dropped: boolean;
  checked: Stats | undefined;
}

export function createOpenFileCache(limit = DEFAULT_OPEN_FILES): OpenFileCache {
  const entries = new Map<string, Entry>();
  let openNow = 0;
  let opens = 0;

  const closeEntry = (entry: Entry): void => {
    const handle = entry.handle;
    entry.handle = undefined;
    if (handle === undefined) return;
    openNow--;
    // A failed close leaves nothing to do: the descriptor is gone either way.
    void handle.close().catch(() => undefined);
  };

  const drop = (entry: Entry): void => {
    if (entries.get(entry.key) === entry) entries.delete(entry.key);
    if (entry.dropped) return;
    entry.dropped = true;
    if (entry.refs === 0) closeEntry(entry);
  };

  /** Takes a reference at once, so an eviction while the file is opened or checked never closes it under the caller. */
  const lease = (entry: Entry): FileLease => {
    entry.refs++;
    let given = false;
    return {
      get fd() {
        return (entry.handle as FileHandle).fd;
      },
      release() {
        if (given) return;
        given = true;
        entry.refs--;
        if (entry.refs === 0 && entry.dropped) closeEntry(entry);
      },
    };
  };

  const start = (content: Content, path: string): Entry => {
    let ready: Promise<void> = Promise.resolve();
    const entry: Entry = { key: content.key, handle: undefined, get ready() { return ready; }, refs: 0, dropped: false, checked: undefined };
    ready = (async () => {
      // O_NONBLOCK: opening a FIFO put where a file was would otherwise wait, in
      // one of libuv's four pool threads, for a writer that never comes.
      const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      entry.handle = handle;
      openNow++;
      opens++;
      entry.checked = await checkContent(handle, content, path);
    })();
    // A file that is not its content is forgotten (and closed once its waiters let go).
    ready.catch(() => drop(entry));
    entries.set(content.key, entry);
    // Least recently used first out (a Map iterates in insertion order; a use re-inserts).
    while (entries.size > limit) drop(entries.values().next().value as Entry);
    return entry;
  };

  const acquire = async (content: Content, path: () => string, attempt = 0): Promise<FileLease> => {
    let entry = entries.get(content.key);
    const fresh = entry === undefined;
    if (entry === undefined) entry = start(content, path());
    else {
      entries.delete(content.key);
      entries.set(content.key, entry);
    }
    const held = lease(entry);
    try {
      await entry.ready;
      if (fresh) return held;
      const now = await (entry.handle as FileHandle).stat();
      if (sameFile(entry.checked as Stats, now)) return held;
    } catch (error) {
      held.release();
      throw error;
    }
    held.release();
    drop(entry);
    // Changed since it was checked: opened and checked again; a file that keeps changing is an error.
    if (attempt >= 2) throw new Error(`${path()} keeps changing while it is served`);
    return acquire(content, path, attempt + 1);
  };

  return {
    acquire: (content, path) => acquire(content, path),
    stats: () => ({ cached: entries.size, open: openNow, limit, opens }),
    async close() {
      const all = [...entries.values()];
      for (const entry of all) drop(entry);
      await Promise.allSettled(all.map((entry) => entry.ready));
    },
  };
}

/** Nothing about the file moved since it was checked, and it still has a name. */
function sameFile(checked: Stats, now: Stats): boolean {
  return now.nlink > 0 && now.size === checked.size && now.mtimeMs === checked.mtimeMs && now.ctimeMs === checked.ctimeMs;
}

/** Read size for hashing a file once. */
const CHUNK = 256 * 1024;

/**
 * Checks an open file against its content: a regular file of exactly the
 * size the release says, and for the identity bytes their SHA-256 (the
 * manifest names no hash of Berth's compressed variants, so those are
 * checked by size). Returns its stat for later comparison.
 */
export async function checkContent(handle: FileHandle, content: Content, path: string): Promise<Stats> {
  const info = await handle.stat();
  if (!info.isFile()) throw new Error(`${path} is no longer a regular file`);
  if (info.size !== content.size) throw new Error(`${path} has ${info.size} bytes, not the ${content.size} its release promised`);
  if (content.encoding === undefined) {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, content.size)));
    for (let position = 0; position < content.size; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, content.size - position), position);
      if (bytesRead === 0) throw new Error(`${path} ended after ${position} bytes, not the ${content.size} its release promised`);
      hash.update(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    if (hash.digest('hex') !== content.hash) throw new Error(`${path} does not hold the bytes its release published (its SHA-256 differs)`);
  }
  return info;
}
