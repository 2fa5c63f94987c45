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
  return JSON.stringify([urlPath, file.size, file.hash, file.type, file.cache, file.encodings.br ?? null, file.encodings.gzip ?? null, file.mtimeMs]);
}

/**
 * Writes `files` to a new file at `path` (which must not exist), one row a
 * line, sorted by path: a reader then refuses a path given twice, or rows
 * out of order, by comparing each path with the one before, in constant
 * memory. Returns what the manifest records to check the file against.
 */
export async function writeFileRows(path: string, files: Readonly<Record<string, ManifestFile>>): Promise<FileRowsInfo> {
  const paths = Object.keys(files).sort();
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
    for (const urlPath of paths) {
      const line = `${fileRow(urlPath, files[urlPath] as ManifestFile)}\n`;
      pending.push(line);
      pendingLength += line.length;
      if (pendingLength >= WRITE_CHUNK) await flush();
    }
    await flush();
  } finally {
    await out.close();
  }
  return { count: paths.length, bytes, sha256: hash.digest('hex') };
}
