import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import { FILE_ROWS_NAME, type FileRowsInfo, type ManifestFile } from './manifest.ts';

/** Bytes read at a time: the garbage of parsing them dies young, so the heap does not keep the size of the whole list. */
const READ_CHUNK = 256 * 1024;
/** The longest row accepted; a longer line (or a file without newlines) is refused before it is held whole. */
export const MAX_ROW_BYTES = 64 * 1024;
/** Every row holds at least a 64-digit hash: a count above `bytes / 64` cannot be true, and is refused before anything is sized by it. */
const MIN_ROW_BYTES = 64;
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
    isHexHash(sha256)
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
    const types = new TypeNames();
    const take = (bytes: Buffer): void => {
      line++;
      if (bytes.length > MAX_ROW_BYTES) throw fail(`has a line over ${MAX_ROW_BYTES} bytes at line ${line}`);
      if (line > info.count) throw fail(`has more rows than the ${info.count} its manifest says`);
      const [urlPath, file] = parseRow(bytes, types, (what) => fail(`line ${line} ${what}`));
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

/**
 * One row, checked field by field. A row as `fileRow` writes it (no
 * escape in its strings, whole numbers of up to 15 digits) is read
 * straight from its bytes (`canonicalRow`); any other row goes through
 * `JSON.parse` and the same checks, so what is accepted, and every
 * refusal's message, does not depend on which way a row was read.
 */
function parseRow(bytes: Buffer, types: TypeNames, fail: (what: string) => BerthError): [string, ManifestFile] {
  const fast = canonicalRow(bytes, types);
  if (fast !== undefined) return fast;
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
  if (typeof hash !== 'string' || !isHexHash(hash)) throw fail('has a hash that is not 64 hex digits');
  if (typeof type !== 'string') throw fail('has a content type that is not a string');
  if (cache !== 'immutable' && cache !== 'revalidate') throw fail('has a cache policy other than immutable or revalidate');
  if ((br !== null && !isByteCount(br)) || (gzip !== null && !isByteCount(gzip))) throw fail('has a compressed size that is not null or a whole number of bytes');
  if (typeof mtimeMs !== 'number' || !Number.isFinite(mtimeMs)) throw fail('has a modification time that is not a number');
  const encodings: ManifestFile['encodings'] = {};
  if (br !== null) encodings.br = br;
  if (gzip !== null) encodings.gzip = gzip;
  return [urlPath, { size, hash, type, cache, encodings, mtimeMs }];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** Digits of a whole number read without `JSON.parse`: up to 15 is always a safe integer. */
const MAX_DIGITS = 15;

/**
 * Reads a row of exactly the form `fileRow` writes for a path and a type
 * without escapes: `["/p",12,"<64 hex>","text/html","revalidate",null,8,1700000000000]`.
 * Whatever differs from that form in any byte (whitespace, an escape, a
 * fraction, an exponent, a leading zero, a field more or less) gives
 * undefined and the row is read by `JSON.parse` instead; every value this
 * accepts is the one `JSON.parse` would give and the checks would pass.
 */
function canonicalRow(bytes: Buffer, types: TypeNames): [string, ManifestFile] | undefined {
  const end = bytes.length;
  if (end < 2 || bytes[0] !== 0x5b || bytes[end - 1] !== 0x5d) return undefined;
  const cursor = new RowCursor(bytes);
  const urlPath = cursor.string();
  if (urlPath === undefined || urlPath.charCodeAt(0) !== 0x2f || !cursor.comma()) return undefined;
  const size = cursor.whole(false);
  if (size < 0 || !cursor.comma()) return undefined;
  const hash = cursor.hash();
  if (hash === undefined || !cursor.comma()) return undefined;
  const type = cursor.string(types);
  if (type === undefined || !cursor.comma()) return undefined;
  const cache = cursor.literal('"immutable"') ? 'immutable' : cursor.literal('"revalidate"') ? 'revalidate' : undefined;
  if (cache === undefined || !cursor.comma()) return undefined;
  const br = cursor.literal('null') ? null : cursor.whole(false);
  if ((br !== null && br < 0) || !cursor.comma()) return undefined;
  const gzip = cursor.literal('null') ? null : cursor.whole(false);
  if ((gzip !== null && gzip < 0) || !cursor.comma()) return undefined;
  const mtimeMs = cursor.whole(true);
  if (Number.isNaN(mtimeMs) || cursor.at !== end - 1) return undefined;
  const encodings: ManifestFile['encodings'] = {};
  if (br !== null) encodings.br = br;
  if (gzip !== null) encodings.gzip = gzip;
  return [urlPath, { size, hash, type, cache, encodings, mtimeMs }];
}

/** A position in one row's bytes and the reads `canonicalRow` makes there; each read moves past what it read. */
class RowCursor {
  readonly bytes: Buffer;
  at = 1;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  comma(): boolean {
    return this.bytes[this.at++] === COMMA;
  }

  /** The ASCII `text`, read when it is next. */
  literal(text: string): boolean {
    const { bytes, at } = this;
    if (at + text.length > bytes.length) return false;
    for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
    this.at += text.length;
    return true;
  }

  /**
   * A string with no escape and no control character: its bytes are its
   * UTF-8 (a quote byte is never inside a multi-byte character). With
   * `names`, one of the few it has seen is given again instead of a copy.
   */
  string(names?: TypeNames): string | undefined {
    const { bytes } = this;
    if (bytes[this.at] !== QUOTE) return undefined;
    const start = this.at + 1;
    let ascii = true;
    for (let i = start; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      if (byte === QUOTE) {
        this.at = i + 1;
        return names?.find(bytes, start, i) ?? bytes.toString(ascii ? 'latin1' : 'utf8', start, i);
      }
      if (byte === BACKSLASH || byte < 0x20) return undefined;
      if (byte >= 0x80) ascii = false;
    }
    return undefined;
  }

  /** A quoted SHA-256 in lower-case hex. */
  hash(): string | undefined {
    const { bytes, at } = this;
    if (bytes[at] !== QUOTE || bytes[at + 65] !== QUOTE || !isHexBytes(bytes, at + 1)) return undefined;
    this.at += 66;
    return bytes.toString('latin1', at + 1, at + 65);
  }

  /**
   * A whole number with no leading zero and at most `MAX_DIGITS` digits,
   * and a `-` before it only when `signed`; -1 (NaN when `signed`) when
   * there is none.
   */
  whole(signed: boolean): number {
    const { bytes } = this;
    const fail = signed ? Number.NaN : -1;
    const negative = signed && bytes[this.at] === MINUS;
    if (negative) this.at++;
    const start = this.at;
    let value = 0;
    for (let byte = bytes[this.at] as number; byte >= ZERO && byte <= NINE; byte = bytes[this.at] as number) {
      value = value * 10 + (byte - ZERO);
      this.at++;
    }
    const digits = this.at - start;
    if (digits === 0 || digits > MAX_DIGITS || (digits > 1 && bytes[start] === ZERO)) return fail;
    return negative ? -value : value;
  }
}

/** Distinct strings kept once while a list is read. */
const TYPE_NAMES = 16;

/**
 * The content types seen so far in one list, so that 100,000 rows hold a
 * handful of type strings, not one each (the rows a publish keeps of the
 * live release stay in memory while it runs). Only the first `TYPE_NAMES`
 * distinct ones are kept; rarer ones are read as new strings.
 */
class TypeNames {
  readonly #bytes: Buffer[] = [];
  readonly #names: string[] = [];

  /** The name whose bytes are `bytes[start..end)`; remembered when new and there is room. */
  find(bytes: Buffer, start: number, end: number): string | undefined {
    const length = end - start;
    for (let n = 0; n < this.#bytes.length; n++) {
      const known = this.#bytes[n] as Buffer;
      if (known.length !== length) continue;
      let same = true;
      for (let i = 0; i < length && same; i++) same = known[i] === bytes[start + i];
      if (same) return this.#names[n];
    }
    if (this.#bytes.length >= TYPE_NAMES) return undefined;
    const name = bytes.toString('utf8', start, end);
    this.#bytes.push(Buffer.from(bytes.subarray(start, end)));
    this.#names.push(name);
    return name;
  }
}

/** Whether the 64 bytes from `start` are lower-case hex digits. */
function isHexBytes(bytes: Buffer, start: number): boolean {
  if (start + 64 > bytes.length) return false;
  for (let i = start; i < start + 64; i++) {
    const byte = bytes[i] as number;
    if (!((byte >= ZERO && byte <= NINE) || (byte >= 0x61 && byte <= 0x66))) return false;
  }
  return true;
}

/** Whether `value` is 64 lower-case hex digits (a SHA-256 as the manifest writes it), without a regular expression: it runs once a file. */
export function isHexHash(value: string): boolean {
  if (value.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const code = value.charCodeAt(i);
    if (!((code >= ZERO && code <= NINE) || (code >= 0x61 && code <= 0x66))) return false;
  }
  return true;
}

function isByteCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
