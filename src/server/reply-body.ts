import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BerthError } from '../errors.ts';
import type { FileBody, Reply } from '../static/reply.ts';
import { locateRow } from '../static/served-release.ts';
import { createBodyCache, type BodyCache } from './body-cache.ts';
import { createOpenFileCache, type FileLease, type OpenFileCache } from './open-file-cache.ts';

/** A serving worker's caches of file bytes, shared by every site and release it serves. */
export interface ServingCaches {
  readonly bodies: BodyCache;
  readonly files: OpenFileCache;
  /** Reads into memory in flight, by content key, so a burst of requests for one cold file reads it once. */
  readonly reading: Map<string, Promise<Buffer>>;
}

export function createServingCaches(memoryCacheBytes: number, openFiles?: number): ServingCaches {
  return { bodies: createBodyCache(memoryCacheBytes), files: createOpenFileCache(openFiles), reading: new Map() };
}

/** The bytes of `body` a reply sends: all of it, or its range. */
export function part(body: Buffer, reply: Reply): Buffer {
  return reply.end === -1 && reply.start === 0 ? body : body.subarray(reply.start, reply.end + 1);
}

/** The inclusive byte range of a file of `size` bytes a reply sends. */
export function span(reply: Reply, size: number): { start: number; end: number } {
  return { start: reply.start, end: reply.end === -1 ? size - 1 : reply.end };
}

/** Where a file's bytes come from for one answer: memory, or a leased descriptor to read `[start, end]` of. */
export type BodySource = { kind: 'memory'; body: Buffer } | { kind: 'file'; lease: FileLease };

/**
 * The bytes of `file`: from memory when held; else read, checked against
 * the release and kept when they fit the memory cache; else a checked,
 * leased descriptor. Rejects with `E_RELEASE_FILE` (naming the site,
 * release and path) when the file is missing or not what its release
 * published: the caller answers 500, never a wrong body.
 */
export async function bodySource(caches: ServingCaches, file: FileBody): Promise<BodySource> {
  const { content, release, index } = file;
  const path = (): string => locateRow(release, index, content.encoding);
  try {
    if (caches.bodies.admits(content.size)) return { kind: 'memory', body: await readIntoMemory(caches, file, path) };
    return { kind: 'file', lease: await caches.files.acquire(content, path) };
  } catch (error) {
    throw new ReleaseFileError(release.site, release.id, release.files.rows.pathAt(index), error);
  }
}

async function readIntoMemory({ bodies, reading: inFlight }: ServingCaches, file: FileBody, path: () => string): Promise<Buffer> {
  const { content } = file;
  const pending = inFlight.get(content.key);
  if (pending !== undefined) return pending;
  const read = (async () => {
    const body = await readChecked(path(), content.size, content.encoding === undefined ? content.hash : undefined);
    bodies.set(content.key, body);
    return body;
  })();
  inFlight.set(content.key, read);
  try {
    return await read;
  } finally {
    inFlight.delete(content.key);
  }
}

/** Reads a whole (small) file, refusing anything but a regular file of `size` bytes with SHA-256 `hash` (when given). */
async function readChecked(path: string, size: number, hash: string | undefined): Promise<Buffer> {
  // O_NONBLOCK: a FIFO in place of the file must not hold a pool thread.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path} is no longer a regular file`);
    if (info.size !== size) throw new Error(`${path} has ${info.size} bytes, not the ${size} its release promised`);
    const body = Buffer.alloc(size);
    for (let position = 0; position < size; ) {
      const { bytesRead } = await handle.read(body, position, size - position, position);
      if (bytesRead === 0) throw new Error(`${path} ended after ${position} bytes, not the ${size} its release promised`);
      position += bytesRead;
    }
    if (hash !== undefined && createHash('sha256').update(body).digest('hex') !== hash) {
      throw new Error(`${path} does not hold the bytes its release published (its SHA-256 differs)`);
    }
    return body;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * A file of a release that is missing or does not hold what the release
 * published. Carries the site, release and URL path for the one log line
 * the server writes (internal-error.ts).
 */
export class ReleaseFileError extends BerthError {
  readonly site: string;
  readonly release: string;
  readonly path: string;

  constructor(site: string, release: string, path: string, cause: unknown) {
    super(
      'E_RELEASE_FILE',
      `Cannot serve ${path} of release ${release} of site ${site}: ${cause instanceof Error ? cause.message : String(cause)}; publish the site again or roll back`,
      { cause },
    );
    this.site = site;
    this.release = release;
    this.path = path;
  }
}
