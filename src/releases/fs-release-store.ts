import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Encoding } from './manifest.ts';
import { isObjectHash, objectPath, VARIANT_SUFFIX } from './object-path.ts';
import { openManifest, readManifest } from './read-manifest.ts';
import { releaseIds, SUMMARY_NAME, type ReleaseSummary } from './release-list.ts';
import type { ObjectWriter, ReleaseStore, StoredVariants } from './release-store.ts';
import { withSiteLock } from './site-lock.ts';
import { TEMP_PREFIX, type SitePaths } from './site-paths.ts';
import { writeManifestFiles } from './write-manifest.ts';

const ENCODINGS: readonly Encoding[] = ['br', 'gzip'];

/**
 * The release store on the local file system, under the site's directory:
 *
 * ```
 * objects/ab/ab12…        a file's bytes, named by their SHA-256
 * objects/ab/ab12….br     Berth's brotli of those bytes, where smaller
 * objects/ab/ab12….gz     Berth's gzip of them, where smaller
 * releases/<id>/          the manifest, its file list and the summary, nothing else
 * ```
 *
 * Every object and release appears under its name by one rename of a
 * complete temporary file or directory, so a process killed at any point
 * leaves only `.tmp-` debris (removed by the next sweep), never a half
 * object under a hash. Variants are written before the object they belong
 * to: an object that exists has all the variants it will ever get.
 */
export function fsReleaseStore(paths: SitePaths): ReleaseStore {
  const made = new Set<string>();
  const ensureDir = async (dir: string): Promise<void> => {
    if (made.has(dir)) return;
    await mkdir(dir, { recursive: true });
    made.add(dir);
  };
  // Temporary files are all at the top of objects/, where a look for what a killed publish left is one readdir.
  const place = async (target: string, body: Buffer): Promise<void> => {
    await ensureDir(join(target, '..'));
    const temp = join(paths.objectsDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await writeFile(temp, body, { flag: 'wx' });
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };

  return {
    async objectVariants(hash) {
      if (!(await exists(objectPath(paths.objectsDir, hash)))) return undefined;
      const variants: StoredVariants = {};
      for (const encoding of ENCODINGS) {
        const size = await sizeOf(objectPath(paths.objectsDir, hash, encoding));
        if (size !== undefined) variants[encoding] = size;
      }
      return variants;
    },

    async putObject(hash, body, variants) {
      for (const encoding of ENCODINGS) {
        const variant = variants[encoding];
        if (variant !== undefined) await place(objectPath(paths.objectsDir, hash, encoding), variant);
      }
      await place(objectPath(paths.objectsDir, hash), body);
    },

    async objectWriter(): Promise<ObjectWriter> {
      await ensureDir(paths.objectsDir);
      const temp = join(paths.objectsDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
      const out = await open(temp, 'wx');
      const hash = createHash('sha256');
      let size = 0;
      let closed = false;
      const close = async (): Promise<void> => {
        if (closed) return;
        closed = true;
        await out.close();
      };
      return {
        async write(chunk) {
          hash.update(chunk);
          size += chunk.length;
          await out.write(chunk);
        },
        async finish() {
          await close();
          const digest = hash.digest('hex');
          const target = objectPath(paths.objectsDir, digest);
          if ((await sizeOf(target)) !== undefined) {
            await rm(temp, { force: true });
            return { hash: digest, size, stored: false };
          }
          await ensureDir(join(target, '..'));
          await rename(temp, target);
          return { hash: digest, size, stored: true };
        },
        async abort() {
          await close().catch(() => undefined);
          await rm(temp, { force: true });
        },
      };
    },

    async writeRelease(manifest, summary, extra) {
      await ensureDir(paths.releasesDir);
      const temp = join(paths.releasesDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
      const releaseDir = join(paths.releasesDir, manifest.id);
      try {
        await mkdir(temp);
        await writeManifestFiles(temp, manifest);
        await writeFile(join(temp, SUMMARY_NAME), JSON.stringify(summary satisfies ReleaseSummary));
        for (const [name, text] of Object.entries(extra)) await writeFile(join(temp, name), text);
        await rename(temp, releaseDir);
      } catch (error) {
        await rm(temp, { recursive: true, force: true });
        throw error;
      }
      return releaseDir;
    },

    async readReleaseRecord(id, name) {
      try {
        return await readFile(join(paths.releasesDir, id, name), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },

    readManifest: (id) => readManifest(join(paths.releasesDir, id)),

    openManifest: (id) => openManifest(join(paths.releasesDir, id)),

    async sweep(options) {
      const referenced = new Set<string>();
      const seen = new Set<string>();
      const addReleases = async (): Promise<void> => {
        for (const id of await releaseIds(paths)) {
          if (seen.has(id)) continue;
          seen.add(id);
          const { rows } = await openManifest(join(paths.releasesDir, id));
          await rows.forEach((_urlPath, file) => referenced.add(file.hash));
        }
      };
      if (options?.heldLock === true) {
        await addReleases();
        return removeUnreferenced(paths.objectsDir, referenced, undefined);
      }
      // The costly part (every kept manifest, every object's name) without the lock, so a
      // publish of the site does not wait for it; then, under the lock, the releases that
      // appeared meanwhile are added, and only what none names is deleted.
      await addReleases();
      const candidates = await unreferencedNames(paths.objectsDir, referenced);
      // Nothing to remove: the lock (a file created and removed in the site's directory) is not taken,
      // so a sweep with nothing to do changes nothing on disk, and a backup running beside it sees no change.
      if (candidates.size === 0 && !(await hasTemporaryFiles(paths.objectsDir))) return { objects: 0, bytes: 0 };
      return withSiteLock(paths.lockFile, async () => {
        await addReleases();
        return removeUnreferenced(paths.objectsDir, referenced, candidates);
      });
    },

    locate: (hash, encoding) => objectPath(paths.objectsDir, hash, encoding),
  };
}

/** `shard/name` of every object and variant under `objectsDir` that `referenced` does not name (temporary files are not listed). */
async function unreferencedNames(objectsDir: string, referenced: ReadonlySet<string>): Promise<Set<string>> {
  const names = new Set<string>();
  for (const shard of await readdir(objectsDir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of await readdir(join(objectsDir, shard)).catch(() => [] as string[])) {
      const hash = stripVariant(name);
      if (hash === undefined || !hash.startsWith(shard) || !referenced.has(hash)) names.add(`${shard}/${name}`);
    }
  }
  return names;
}

async function hasTemporaryFiles(objectsDir: string): Promise<boolean> {
  return (await readdir(objectsDir).catch(() => [] as string[])).some((name) => name.startsWith(TEMP_PREFIX));
}

/**
 * Removes, under `objectsDir`, the objects and variants `referenced` does
 * not name (only those among `candidates` when given: what a listing made
 * before the lock found) and every temporary file. The caller holds the
 * site's lock, so no publish is writing any of them.
 */
async function removeUnreferenced(objectsDir: string, referenced: ReadonlySet<string>, candidates: ReadonlySet<string> | undefined): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  const remove = async (path: string, counts: boolean): Promise<void> => {
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined) return;
    await rm(path, { recursive: true, force: true });
    bytes += info.isFile() ? info.size : 0;
    if (counts) objects++;
  };
  for (const name of await readdir(objectsDir).catch(() => [] as string[])) {
    if (name.startsWith(TEMP_PREFIX)) await remove(join(objectsDir, name), false);
  }
  for (const entry of candidates ?? (await unreferencedNames(objectsDir, referenced))) {
    const [shard, name] = entry.split('/') as [string, string];
    const hash = stripVariant(name);
    // Named by a release that appeared after the listing: kept.
    if (hash !== undefined && hash.startsWith(shard) && referenced.has(hash)) continue;
    await remove(join(objectsDir, entry), hash !== undefined && hash === name);
  }
  return { objects, bytes };
}

function stripVariant(name: string): string | undefined {
  for (const suffix of Object.values(VARIANT_SUFFIX)) {
    if (name.endsWith(suffix)) {
      const hash = name.slice(0, -suffix.length);
      return isObjectHash(hash) ? hash : undefined;
    }
  }
  return isObjectHash(name) ? name : undefined;
}

async function exists(path: string): Promise<boolean> {
  return (await sizeOf(path)) !== undefined;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

