import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompress, gunzip } from 'node:zlib';
import { readAtMost } from '../read-at-most.ts';
import { MANIFEST_NAME, MANIFEST_VERSION, type Encoding, type Manifest, type ManifestFile } from './manifest.ts';
import { objectPath, VARIANT_SUFFIX } from './object-path.ts';
import { readManifest } from './read-manifest.ts';
import { releaseIds } from './release-list.ts';
import { TEMP_PREFIX, type SitePaths } from './site-paths.ts';
import { writeManifestFiles } from './write-manifest.ts';

const unbrotli = promisify(brotliDecompress);
const ungzip = promisify(gunzip);
const DECOMPRESS: Readonly<Record<Encoding, (body: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>>> = { br: unbrotli, gzip: ungzip };

export interface MigrationResult {
  /** Releases converted from version 1. */
  releases: number;
  files: number;
  /**
   * `path in release`: files whose bytes on disk were not what their
   * manifest said (version 1 wrote Berth's `app.js.gz` over a site's own),
   * now described by the bytes they hold: what was served for them before.
   */
  corrected: string[];
  /** Variants dropped because they did not decompress to their file's bytes. */
  droppedVariants: number;
}

/**
 * Converts a site's version 1 releases (a copy of every file in the release
 * directory, Berth's compressed sidecars beside them by path) to the object
 * store, once. Each file is hashed as it is; each sidecar is kept only when
 * it decompresses to exactly its file's bytes. Files become objects by hard
 * link (no copy, no extra space); the manifest is then replaced by the
 * version 2 pair (write-manifest.ts: the file list, then the manifest,
 * each in one rename). The old files stay in the release directory (they are the same
 * inodes as the objects, so they cost no space) until the release is
 * pruned: a serving worker that loaded the release before it was converted
 * still finds them.
 *
 * Safe to kill at any point: an object is linked under its hash only after
 * its bytes were hashed, and a release is version 1 or version 2, never in
 * between; the next run carries on. The caller holds the site's lock.
 */
/** Whether any of the site's releases was written by an older Berth (read without the site's lock: only the manifests' first bytes). */
export async function hasReleasesToMigrate(paths: SitePaths): Promise<boolean> {
  for (const id of await releaseIds(paths)) {
    if ((await writtenVersion(join(paths.releasesDir, id))) !== MANIFEST_VERSION) return true;
  }
  return false;
}

export async function migrateSiteReleases(paths: SitePaths): Promise<MigrationResult> {
  const result: MigrationResult = { releases: 0, files: 0, corrected: [], droppedVariants: 0 };
  for (const id of await releaseIds(paths)) {
    const releaseDir = join(paths.releasesDir, id);
    // Every publish calls this: a converted release is told by the manifest's first bytes, not by parsing all of it.
    if ((await writtenVersion(releaseDir)) === MANIFEST_VERSION) continue;
    let manifest: Manifest;
    try {
      manifest = await readManifest(releaseDir);
    } catch {
      continue; // Unreadable: left as it is; serving and rollback report it as they did.
    }
    if (manifest.version === MANIFEST_VERSION) continue;
    const files: Record<string, ManifestFile> = {};
    for (const [urlPath, file] of Object.entries(manifest.files)) {
      const converted = await convertFile(paths, releaseDir, urlPath, file, result);
      if (converted !== undefined) files[urlPath] = converted;
      result.files++;
    }
    const upgraded: Manifest = { ...manifest, version: MANIFEST_VERSION, files };
    await writeManifestFiles(releaseDir, upgraded);
    result.releases++;
  }
  return result;
}

async function convertFile(paths: SitePaths, releaseDir: string, urlPath: string, file: ManifestFile, result: MigrationResult): Promise<ManifestFile | undefined> {
  const diskPath = join(releaseDir, urlPath);
  const bytes = await readRegular(diskPath);
  if (bytes === undefined) {
    // Gone from the release: it could not be served before either.
    result.corrected.push(`${releaseDir}${urlPath} (missing, left out)`);
    return undefined;
  }
  const hash = sha256(bytes);
  if (hash !== file.hash || bytes.length !== file.size) result.corrected.push(`${releaseDir}${urlPath}`);
  await storeByLink(paths.objectsDir, diskPath, objectPath(paths.objectsDir, hash), bytes);
  const encodings: ManifestFile['encodings'] = {};
  for (const encoding of Object.keys(file.encodings) as Encoding[]) {
    const sidecarPath = diskPath + VARIANT_SUFFIX[encoding];
    const sidecar = await readRegular(sidecarPath);
    const matches =
      sidecar !== undefined &&
      (await DECOMPRESS[encoding](sidecar, { maxOutputLength: bytes.length + 1 }).then(
        (plain) => plain.equals(bytes),
        () => false,
      ));
    if (!matches) {
      result.droppedVariants++;
      continue;
    }
    await storeByLink(paths.objectsDir, sidecarPath, objectPath(paths.objectsDir, hash, encoding), sidecar);
    encodings[encoding] = sidecar.length;
  }
  return { ...file, size: bytes.length, hash, encodings };
}

/**
 * The version a manifest written by Berth starts with (`{"version":2,`), read
 * from its first bytes; undefined when it does not start so, and the whole
 * file decides.
 */
async function writtenVersion(releaseDir: string): Promise<number | undefined> {
  const head = await readRegular(join(releaseDir, MANIFEST_NAME), 32).catch(() => undefined);
  const match = head === undefined ? null : /^\{"version":(\d+)[,}]/.exec(head.toString('latin1'));
  return match === null ? undefined : Number(match[1]);
}

/**
 * The bytes of a regular file (never read through a link), all of them or
 * the first `atMost`; undefined when it is missing or not a regular file.
 */
async function readRegular(path: string, atMost?: number): Promise<Buffer | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return atMost === undefined ? await handle.readFile() : await readAtMost(handle, atMost);
  } finally {
    await handle.close();
  }
}

/** Makes `target` (an object) the same file as `source` by a hard link, or a copy of `bytes` where links are refused. */
async function storeByLink(objectsDir: string, source: string, target: string, bytes: Buffer): Promise<void> {
  if ((await lstat(target).catch(() => undefined))?.isFile() === true) return;
  await mkdir(join(target, '..'), { recursive: true });
  // At the top of objects/, with the store's own temporary files: one readdir finds what a killed run left.
  const temp = join(objectsDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  try {
    await link(source, temp);
  } catch {
    await writeFile(temp, bytes, { flag: 'wx' });
  }
  try {
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

