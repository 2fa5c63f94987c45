import { join } from 'node:path';
import type { Encoding, Manifest, ManifestFile } from './manifest.ts';
import { objectPath, VARIANT_SUFFIX } from './object-path.ts';

/** The disk path of a file's bytes (`encoding` undefined) or of one of Berth's compressed variants of them. */
export type FileLocator = (urlPath: string, file: ManifestFile, encoding?: Encoding) => string;

/**
 * Where the files of the release in `releaseDir` (`sites/<site>/releases/<id>`)
 * are: in the site's object store for version 2, in the release directory
 * itself for a version 1 release not converted yet.
 */
export function fileLocator(manifest: Pick<Manifest, 'version'>, releaseDir: string): FileLocator {
  if (manifest.version === 1) {
    return (urlPath, _file, encoding) => join(releaseDir, urlPath) + (encoding === undefined ? '' : VARIANT_SUFFIX[encoding]);
  }
  const objectsDir = join(releaseDir, '..', '..', 'objects');
  return (_urlPath, file, encoding) => objectPath(objectsDir, file.hash, encoding);
}
