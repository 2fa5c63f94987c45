import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { MANIFEST_NAME, MANIFEST_VERSION, type Manifest } from './manifest.ts';

/** Version 1 releases are read too (until they are converted, see migrate-releases.ts); their files are in the release directory. */
const READABLE_VERSIONS: ReadonlySet<unknown> = new Set([1, MANIFEST_VERSION]);

/** Reads and sanity-checks the manifest of the release in `releaseDir`. */
export async function readManifest(releaseDir: string): Promise<Manifest> {
  const file = join(releaseDir, MANIFEST_NAME);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new BerthError('E_MANIFEST_INVALID', `Cannot read the release manifest ${file}; publish the site again`, { cause: error });
  }
  const manifest = parsed as Partial<Manifest> | null;
  if (
    manifest === null ||
    typeof manifest !== 'object' ||
    !READABLE_VERSIONS.has(manifest.version) ||
    typeof manifest.id !== 'string' ||
    typeof manifest.files !== 'object' ||
    !Array.isArray(manifest.redirects) ||
    !Array.isArray(manifest.headers)
  ) {
    throw new BerthError('E_MANIFEST_INVALID', `The release manifest ${file} is not one this version of berth wrote; publish the site again`);
  }
  return manifest as Manifest;
}
