import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import { FILE_ROWS_NAME, type FileRowsInfo, type ManifestFile } from './manifest.ts';

/** Bytes read at a time: the garbage of parsing them dies young, so the heap does not keep the size of the whole list. */
const READ_CHUNK = 64 * 1024;
/** The longest row accepted; a longer line (or a file without newlines) is refused before it is held whole. */
export const MAX_ROW_BYTES = 64 * 1024;
/** Every row holds at least a 64-digit hash: a count above `bytes / 64` cannot be true, and is refused before anything is sized by it. */
const MIN_ROW_BYTES = 64;
const HASH = /^[0-9a-f]{64}$/;
const NEWLINE = 0x0a;

/** Whether the manifest's record of its rows file is well formed (and its count possible for its size). */
export function isFileRowsInfo(value: unknown): value is FileRowsInfo {
  if (typeof value !== 'object' || value === null) return false;
  const { count, bytes, sha256 } = value as Partial<FileRowsInfo>;
  return (
    Number.isSafeInteger(count) &&
    Number.isSafeInteger(bytes) &&
    (count as number) >= 0 &&
    (bytes as number) >= 0 &&
    (count as number) * MIN_ROW_BYTES <= (bytes as number) &&
    typeof sha256 === 'string' &&
    HASH.test(sha256)
  );
}

/**
 * Reads the rows file of the release `id` in `releaseDir` in chunks and
 * calls `onRow` for each file, in order. The file must be a regular file
 * (opened without following a link and without blocking, so a FIFO or a
 * link put in its place is refused, not waited on), of the size, row count
 * and SHA-256 its manifest records; each row is checked (types, ranges, a
 * path after the one before: none twice). Anything else is
 * `E_MANIFEST_INVALID` naming the release and the line. Rows already passed
 * to `onRow` before a failure are the caller's to drop.
 */
export async function readFileRows(releaseDir: string, id: string, info: FileRowsInfo, onRow: (urlPath: string, file: ManifestFile) => void): Promise<void> {
  const path = join(releaseDir, FILE_ROWS_NAME);
  const fail = (what: string, cause?: unknown): BerthError =>
    new BerthError('E_MANIFEST_INVALID', `The file list of release ${id} (${path}) ${what}; publish the site again`, cause === undefined ? undefined : { cause });
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'is missing' : code === 'ELOOP' ? 'is a symbolic link, not a file' : 'cannot be opened', error);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw fail('is not a regular file');
    if (stats.size !== info.bytes) throw fail(`is ${stats.size} bytes where its manifest says ${info.bytes}`);
    const hash = createHash('sha256');
    const chunk = Buffer.alloc(READ_CHUNK);
    let carry: Buffer | undefined;
    let total = 0;
    let line = 0;
    let previous: string | undefined;
    const take = (bytes: Buffer): void => {
      line++;
      if (bytes.length > MAX_ROW_BYTES) throw fail(`has a line over ${MAX_ROW_BYTES} bytes at line ${line}`);
      if (line > info.count) throw fail(`has more rows than the ${info.count} its manifest says`);
      const [urlPath, file] = parseRow(bytes, (what) => fail(`line ${line} ${what}`));
      if (previous !== undefined && urlPath <= previous) throw fail(`line ${line} names ${excerpt(urlPath, 100)} after ${excerpt(previous, 100)}: a path twice, or out of order`);
      previous = urlPath;
      onRow(urlPath, file);
    };
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > info.bytes) throw fail(`grew past the ${info.bytes} bytes its manifest says`);
      const data = chunk.subarray(0, bytesRead);
      hash.update(data);
      let start = 0;
      for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE, start)) {
        if (carry === undefined) {
          take(data.subarray(start, end));
        } else {
          take(Buffer.concat([carry, data.subarray(start, end)]));
          carry = undefined;
        }
        start = end + 1;
      }
      if (start < data.length) {
        // The start of a row that continues in the next chunk: copied, since `chunk` is read into again.
        const rest = data.subarray(start);
        if ((carry?.length ?? 0) + rest.length > MAX_ROW_BYTES) throw fail(`has a line over ${MAX_ROW_BYTES} bytes at line ${line + 1}`);
        carry = carry === undefined ? Buffer.from(rest) : Buffer.concat([carry, rest]);
      }
    }
    if (carry !== undefined) throw fail(`ends in the middle of line ${line + 1} (truncated)`);
    if (total !== info.bytes) throw fail(`is ${total} bytes where its manifest says ${info.bytes}`);
    if (line !== info.count) throw fail(`has ${line} rows where its manifest says ${info.count}`);
    if (hash.digest('hex') !== info.sha256) throw fail('is not the one its manifest was written with (SHA-256 differs)');
  } finally {
    await handle.close();
  }
}

/** One row, checked field by field. */
function parseRow(bytes: Buffer, fail: (what: string) => BerthError): [string, ManifestFile] {
  let row: unknown;
  try {
    row = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw fail(`is not JSON: ${excerpt(bytes.toString('utf8'), 100)}`);
  }
  if (!Array.isArray(row) || row.length !== 8) throw fail('is not an array of 8 fields');
  const [urlPath, size, hash, type, cache, br, gzip, mtimeMs] = row as unknown[];
  if (typeof urlPath !== 'string' || !urlPath.startsWith('/')) throw fail('has a path that is not a string starting with /');
  if (!isByteCount(size)) throw fail(`has a size that is not a whole number of bytes: ${excerpt(String(size), 40)}`);
  if (typeof hash !== 'string' || !HASH.test(hash)) throw fail('has a hash that is not 64 hex digits');
  if (typeof type !== 'string') throw fail('has a content type that is not a string');
  if (cache !== 'immutable' && cache !== 'revalidate') throw fail('has a cache policy other than immutable or revalidate');
  if ((br !== null && !isByteCount(br)) || (gzip !== null && !isByteCount(gzip))) throw fail('has a compressed size that is not null or a whole number of bytes');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) throw fail('has a modification time that is not a number');
  const encodings: ManifestFile['encodings'] = {};
  if (br !== null) encodings.br = br;
  if (gzip !== null) encodings.gzip = gzip;
  return [urlPath, { size, hash, type, cache, encodings, mtimeMs }];
}

function isByteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
