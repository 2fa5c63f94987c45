import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_ROWS_NAME, MANIFEST_NAME, type Manifest, type ManifestHeader } from './manifest.ts';
import { TEMP_PREFIX } from './site-paths.ts';
import { writeFileRows, type FileList } from './write-file-rows.ts';

/** A manifest to write: its files as a record, or as entries already sorted by path (a publish has them so). */
export type ManifestToWrite = Omit<Manifest, 'files'> & { files: FileList };

/**
 * Writes `manifest` into `dir` as version 2 keeps it: the files in the rows
 * file, everything else (and the rows file's size, count and SHA-256) in
 * the manifest. The rows file is placed first and the manifest last, each
 * by one rename, so a reader that finds the manifest finds the rows it
 * names, and a process killed in between leaves the manifest that was
 * there before, still valid (a version 1 one ignores the rows file).
 */
export async function writeManifestFiles(dir: string, manifest: ManifestToWrite): Promise<void> {
  const suffix = randomBytes(6).toString('hex');
  const rowsTemp = join(dir, `${TEMP_PREFIX}rows-${suffix}`);
  const manifestTemp = join(dir, `${TEMP_PREFIX}manifest-${suffix}`);
  try {
    const fileRows = await writeFileRows(rowsTemp, manifest.files);
    const header: ManifestHeader = { version: manifest.version, id: manifest.id, site: manifest.site, createdAt: manifest.createdAt, redirects: manifest.redirects, headers: manifest.headers, fileRows };
    if (manifest.commit !== undefined) header.commit = manifest.commit;
    await writeFile(manifestTemp, JSON.stringify(header), { flag: 'wx' });
    await rename(rowsTemp, join(dir, FILE_ROWS_NAME));
    await rename(manifestTemp, join(dir, MANIFEST_NAME));
  } catch (error) {
    await rm(rowsTemp, { force: true });
    await rm(manifestTemp, { force: true });
    throw error;
  }
}
