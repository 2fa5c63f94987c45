import type { FileHandle } from 'node:fs/promises';

/**
 * Reads up to `limit` bytes from the handle's current position, whatever
 * size the file claims: a pipe, a device or `/dev/stdin` reports none, and a
 * file may grow while it is read. Never allocates more than `limit` bytes;
 * pass one more than the largest size you accept and refuse a longer result.
 */
export async function readAtMost(handle: FileHandle, limit: number): Promise<Buffer> {
  const buffer = Buffer.alloc(limit);
  let length = 0;
  while (length < limit) {
    const { bytesRead } = await handle.read(buffer, length, limit - length, null);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  return buffer.subarray(0, length);
}
