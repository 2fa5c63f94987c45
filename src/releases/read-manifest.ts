import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { MANIFEST_NAME, MANIFEST_VERSION, type Manifest, type ManifestFile, type StreamedManifest } from './manifest.ts';
import { isFileRowsInfo, readFileRows } from './read-file-rows.ts';

/** Version 1 releases are read too (until they are converted, see migrate-releases.ts); their files are in the release directory. */
const READABLE_VERSIONS: ReadonlySet<unknown> = new Set([1, MANIFEST_VERSION]);
/** Rows handed over between yields to the event loop when they come from memory (a version 1 manifest). */
const ROWS_PER_TURN = 10_000;

/**
 * Reads the release in `releaseDir` for serving: its manifest, and its
 * files as rows read from the rows file as they are asked for (version 2),
 * or from the manifest itself (version 1, where they are inside it). The
 * files are never all held at once unless the caller keeps them.
 */
export async function openManifest(releaseDir: string): Promise<StreamedManifest> {
  const file = join(releaseDir, MANIFEST_NAME);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new BerthError('E_MANIFEST_INVALID', `Cannot read the release manifest ${file}; publish the site again`, { cause: error });
  }
  const manifest = parsed as (Partial<Manifest> & { fileRows?: unknown }) | null;
  if (
    manifest === null ||
    typeof manifest !== 'object' ||
    !READABLE_VERSIONS.has(manifest.version) ||
    typeof manifest.id !== 'string' ||
    typeof manifest.site !== 'string' ||
    !Array.isArray(manifest.redirects) ||
    !Array.isArray(manifest.headers)
  ) {
    throw new BerthError('E_MANIFEST_INVALID', `The release manifest ${file} is not one this version of berth wrote; publish the site again`);
  }
  const { files, fileRows, ...header } = manifest as Manifest & { fileRows?: unknown };
  const id = header.id;
  if (header.version === MANIFEST_VERSION && isFileRowsInfo(fileRows)) {
    return { ...header, rows: { count: fileRows.count, sha256: fileRows.sha256, forEach: (onRow) => readFileRows(releaseDir, id, fileRows, onRow) } };
  }
  // Version 1 (and version 2 as written before the files moved out of the manifest): the files are inside it.
  if (typeof files !== 'object' || files === null || Array.isArray(files)) {
    throw new BerthError('E_MANIFEST_INVALID', `The release manifest ${file} names no file list that this version of berth can read; publish the site again`);
  }
  return { ...header, rows: recordRows(files) };
}

/** Reads the release in `releaseDir` whole, its files as one record: for the control plane, which needs to look files up by path. */
export async function readManifest(releaseDir: string): Promise<Manifest> {
  const { rows, ...header } = await openManifest(releaseDir);
  const files: Record<string, ManifestFile> = {};
  await rows.forEach((urlPath, file) => {
    files[urlPath] = file;
  });
  return { ...header, files };
}

/** The files of a manifest held in memory, as rows. */
export function recordRows(files: Readonly<Record<string, ManifestFile>>): StreamedManifest['rows'] {
  const paths = Object.keys(files);
  return {
    count: paths.length,
    async forEach(onRow) {
      for (let row = 0; row < paths.length; row++) {
        if (row > 0 && row % ROWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
        const urlPath = paths[row] as string;
        onRow(urlPath, files[urlPath] as ManifestFile);
      }
    },
  };
}
