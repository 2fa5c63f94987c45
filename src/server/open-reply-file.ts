import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Reply } from '../static/reply.ts';

/** A reply's file, opened and checked, with the inclusive byte range to send. */
export interface OpenedReplyFile {
  readonly handle: FileHandle;
  readonly start: number;
  readonly end: number;
  /** Bytes to send; 0 for an empty file (nothing to stream). */
  readonly length: number;
}

/**
 * Opens the file a reply streams, before any header goes out, and checks
 * that it is still what was published: a regular file holding at least the
 * bytes the reply's Content-Length promises. A file deleted, truncated, or
 * replaced by a directory or a FIFO after the release was loaded is then a
 * 500 with an error id (the caller's), never an answer cut halfway.
 *
 * O_NONBLOCK: opening a FIFO for reading otherwise waits (in one of libuv's
 * four pool threads) until something writes to it; four such requests would
 * stall every file read of the process. On a regular file the flag changes
 * nothing. The range read is bounded by the declared length, so a file that
 * grew sends exactly what the headers said.
 */
export async function openReplyFile(reply: Reply): Promise<OpenedReplyFile> {
  const path = reply.file as string;
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let length: number;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new Error(`${path} is no longer a regular file`);
    // Without a declared length (no reply Berth builds), the range or the file says how much.
    length = declaredLength(reply) ?? (reply.end === -1 ? info.size - reply.start : reply.end - reply.start + 1);
    if (info.size < reply.start + length) {
      throw new Error(`${path} has ${info.size} bytes, fewer than the ${reply.start + length} its release promised`);
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return { handle, start: reply.start, end: reply.start + length - 1, length };
}

/** The reply's Content-Length, which every reply with a file that Berth builds declares (served-release.ts, respond.ts). */
function declaredLength(reply: Reply): number | undefined {
  for (let i = 0; i < reply.headers.length; i += 2) {
    if (reply.headers[i] === 'content-length') return Number(reply.headers[i + 1]);
  }
  return undefined;
}
