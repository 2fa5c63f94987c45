import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileRowsInfo, ManifestFile } from './manifest.ts';

/** Rows gathered before each write, so the file is written in pieces whatever the release's size. */
const WRITE_CHUNK = 64 * 1024;

/**
 * One file as a row: `[urlPath, size, hash, type, cache, brSize|null,
 * gzipSize|null, mtimeMs]`. JSON keeps any path safe (a tab, a newline, a
 * quote), and a row never holds a raw newline, so rows are split on it.
 */
export function fileRow(urlPath: string, file: ManifestFile): string {
  const { size, hash, type, cache, encodings, mtimeMs } = file;
  // What JSON.stringify would give, built without the array it needs: a string JSON leaves as it is
  // (and a finite number, written as String writes it) is only quoted.
  const finite = Number.isFinite(size) && Number.isFinite(mtimeMs) && Number.isFinite(encodings.br ?? 0) && Number.isFinite(encodings.gzip ?? 0);
  if (!finite || needsEscape(urlPath) || needsEscape(type) || needsEscape(hash)) {
    return JSON.stringify([urlPath, size, hash, type, cache, encodings.br ?? null, encodings.gzip ?? null, mtimeMs]);
  }
  return `["${urlPath}",${size},"${hash}","${type}","${cache}",${encodings.br ?? 'null'},${encodings.gzip ?? 'null'},${String(mtimeMs)}]`;
}

/** Whether JSON.stringify would escape a character of `text`: a quote, a backslash, a control character or a surrogate (a pair is left to it too). */
export function needsEscape(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff)) return true;
  }
  return false;
}

/** Files as `writeFileRows` takes them: a record, or entries already sorted by path. */
export type FileList = Readonly<Record<string, ManifestFile>> | ReadonlyArray<readonly [string, ManifestFile]>;

/**
 * Writes `files` to a new file at `path` (which must not exist), one row a
 * line, sorted by path: a reader then refuses a path given twice, or rows
 * out of order, by comparing each path with the one before, in constant
 * memory. Returns what the manifest records to check the file against.
 */
export async function writeFileRows(path: string, files: FileList): Promise<FileRowsInfo> {
  const sorted = sortedEntries(files);
  const hash = createHash('sha256');
  let bytes = 0;
  const out = await open(path, 'wx');
  try {
    let pending: string[] = [];
    let pendingLength = 0;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const chunk = Buffer.from(pending.join(''), 'utf8');
      pending = [];
      pendingLength = 0;
      hash.update(chunk);
      bytes += chunk.length;
      await out.write(chunk);
    };
    for (const [urlPath, file] of sorted) {
      const line = `${fileRow(urlPath, file)}\n`;
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= WRITE_CHUNK) await flush();
    }
    await flush();
  } finally {
    await out.close();
  }
  return { count: sorted.length, bytes, sha256: hash.digest('hex') };
}

/**
 * The files in path order. Entries a publish gives come sorted (its sources
 * list them so), and are checked in one pass instead of sorted again; a
 * path given twice would make a list no reader accepts, and is refused here.
 */
function sortedEntries(files: FileList): ReadonlyArray<readonly [string, ManifestFile]> {
  let entries: ReadonlyArray<readonly [string, ManifestFile]>;
  if (Array.isArray(files)) {
    entries = files as ReadonlyArray<readonly [string, ManifestFile]>;
  } else {
    const record = files as Readonly<Record<string, ManifestFile>>;
    entries = Object.keys(record).map((urlPath) => [urlPath, record[urlPath] as ManifestFile] as const);
  }
  if (!isSorted(entries)) entries = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (let i = 1; i < entries.length; i++) {
    const path = (entries[i] as readonly [string, ManifestFile])[0];
    if (path === (entries[i - 1] as readonly [string, ManifestFile])[0]) throw new Error(`writeFileRows was given ${JSON.stringify(path)} twice`);
  }
  return entries;
}

function isSorted(entries: ReadonlyArray<readonly [string, ManifestFile]>): boolean {
  for (let i = 1; i < entries.length; i++) {
    if ((entries[i] as readonly [string, ManifestFile])[0] < (entries[i - 1] as readonly [string, ManifestFile])[0]) return false;
  }
  return true;
}
