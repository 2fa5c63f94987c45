import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BerthError, isBerthError } from '../errors.ts';
import { activateRelease } from './activate.ts';
import { compressBoth } from './compress.ts';
import { contentTypeFor, isCompressible } from './content-type.ts';
import { isFingerprinted } from './fingerprint.ts';
import { checkHeaderTables, parseHeaders } from './headers-file.ts';
import { MANIFEST_NAME, MANIFEST_VERSION, type Encoding, type HeaderRule, type Manifest, type ManifestFile, type RedirectRule } from './manifest.ts';
import { readManifest } from './read-manifest.ts';
import { parseRedirects } from './redirects-file.ts';
import { createReleaseId, releaseIdTime } from './release-id.ts';
import { activeReleaseId, releaseIds, SUMMARY_NAME, type ReleaseSummary } from './release-list.ts';
import { pruneReleases } from './retain.ts';
import { withSiteLock } from './site-lock.ts';
import { sitePaths, TEMP_PREFIX, type SitePaths } from './site-paths.ts';
import { walkSource, type SourceFile } from './walk-source.ts';

export interface PublishOptions {
  dataDir: string;
  site: string;
  /** The directory to publish (a build's output). */
  sourceDir: string;
  /** Releases to keep after this one is active. */
  retain: number;
  /** Make the new release live (default true). */
  activate?: boolean;
  now?: Date;
  /** Called as files are processed, for progress output. */
  onProgress?: (done: number, total: number) => void;
}

export interface PublishResult {
  id: string;
  releaseDir: string;
  files: number;
  bytes: number;
  /** Files hard-linked from the previous release instead of copied. */
  linked: number;
  /** Files given at least one precompressed sidecar. */
  compressed: number;
  pruned: string[];
  durationMs: number;
}

/** Files up to this size are read into memory once (hash, copy and compress from one read). */
const READ_WHOLE_MAX = 32 * 1024 * 1024;
/**
 * Files processed at once. Each file is a handful of small filesystem calls
 * (open, read, link) that wait on libuv's thread pool; keeping more in flight
 * keeps that pool busy. Compression runs there too.
 */
const CONCURRENCY = 16;
const SIDECAR_SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };

interface PreviousFile {
  path: string;
  file: ManifestFile;
}

/**
 * Publishes `sourceDir` as a new immutable release of a site. The release is
 * assembled in a temporary directory and appears under its id only once
 * complete (one rename), so a failure at any point (a bad `_redirects`, a full
 * disk, a vanished file) leaves no partial release and never touches the live one.
 */
export async function publishRelease(options: PublishOptions): Promise<PublishResult> {
  const started = performance.now();
  try {
    return await publishLocked(options, started);
  } catch (error) {
    throw asPublishError(error);
  }
}

async function publishLocked(options: PublishOptions, started: number): Promise<PublishResult> {
  const paths = sitePaths(options.dataDir, options.site);
  const files = await walkSource(options.sourceDir);
  const rules = await readRules(options.sourceDir);
  await mkdir(paths.releasesDir, { recursive: true });
  return withSiteLock(paths.lockFile, async () => {
    const previous = await previousFiles(paths);
    const tempDir = join(paths.releasesDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(tempDir, { recursive: true });
      const built = await buildFiles(files, tempDir, previous, options.onProgress);
      checkHeaderTables(rules.headers, built.entries.map(([urlPath]) => urlPath));
      const contentHash = hashTree(built.entries, rules);
      const now = options.now ?? new Date();
      const id = await nextReleaseId(paths, now, contentHash);
      const manifest: Manifest = {
        version: MANIFEST_VERSION,
        id,
        site: options.site,
        createdAt: now.toISOString(),
        files: Object.fromEntries(built.entries),
        redirects: rules.redirects,
        headers: rules.headers,
      };
      const summary: ReleaseSummary = {
        id,
        site: options.site,
        createdAt: manifest.createdAt,
        files: built.entries.length,
        bytes: built.bytes,
        source: options.sourceDir,
      };
      await writeFile(join(tempDir, MANIFEST_NAME), JSON.stringify(manifest));
      await writeFile(join(tempDir, SUMMARY_NAME), JSON.stringify(summary));
      const releaseDir = join(paths.releasesDir, id);
      await rename(tempDir, releaseDir);
      if (options.activate !== false) await activateRelease(paths, id);
      const pruned = await pruneReleases(paths, options.retain);
      return {
        id,
        releaseDir,
        files: built.entries.length,
        bytes: built.bytes,
        linked: built.linked,
        compressed: built.compressed,
        pruned,
        durationMs: Math.round(performance.now() - started),
      };
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
  });
}

async function readRules(sourceDir: string): Promise<{ redirects: RedirectRule[]; headers: HeaderRule[] }> {
  const redirectsText = await readOptional(join(sourceDir, '_redirects'));
  const headersText = await readOptional(join(sourceDir, '_headers'));
  return {
    redirects: redirectsText === undefined ? [] : parseRedirects(redirectsText),
    headers: headersText === undefined ? [] : parseHeaders(headersText),
  };
}

/** Larger than any sane rules file; the parsers enforce their own, smaller cap. */
const RULES_READ_MAX = 8 * 1024 * 1024;

async function readOptional(file: string): Promise<string | undefined> {
  try {
    const buffer = await readFile(file);
    if (buffer.length > RULES_READ_MAX) {
      const name = file.endsWith('_headers') ? '_headers' : '_redirects';
      throw new BerthError(name === '_headers' ? 'E_HEADERS_INVALID' : 'E_REDIRECTS_INVALID', `${name} is ${buffer.length} bytes; the limit is 1 MiB`);
    }
    return buffer.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The previous active release's files by content hash, so unchanged bytes are linked, not copied or recompressed. */
async function previousFiles(paths: SitePaths): Promise<Map<string, PreviousFile>> {
  const byHash = new Map<string, PreviousFile>();
  const active = await activeReleaseId(paths);
  if (active === undefined) return byHash;
  const releaseDir = join(paths.releasesDir, active);
  let manifest: Manifest;
  try {
    manifest = await readManifest(releaseDir);
  } catch (error) {
    // A damaged previous release only costs us the linking; the new one is built from scratch.
    if (isBerthError(error) && error.code === 'E_MANIFEST_INVALID') return byHash;
    throw error;
  }
  for (const [urlPath, file] of Object.entries(manifest.files)) {
    byHash.set(file.hash, { path: join(releaseDir, urlPath), file });
  }
  return byHash;
}

interface BuiltFiles {
  entries: Array<[string, ManifestFile]>;
  bytes: number;
  linked: number;
  compressed: number;
}

async function buildFiles(
  files: readonly SourceFile[],
  tempDir: string,
  previous: ReadonlyMap<string, PreviousFile>,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<BuiltFiles> {
  const entries: Array<[string, ManifestFile]> = new Array(files.length);
  const made = new Set<string>();
  let next = 0;
  let done = 0;
  let bytes = 0;
  let linked = 0;
  let compressed = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      const source = files[index] as SourceFile;
      const target = join(tempDir, source.relPath);
      const dir = dirname(target);
      if (!made.has(dir)) {
        await mkdir(dir, { recursive: true });
        made.add(dir);
      }
      const result = await placeFile(source, target, previous);
      entries[index] = [`/${source.relPath}`, result.file];
      bytes += result.file.size;
      if (result.linked) linked++;
      if (Object.keys(result.file.encodings).length > 0) compressed++;
      done++;
      onProgress?.(done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  return { entries, bytes, linked, compressed };
}

async function placeFile(
  source: SourceFile,
  target: string,
  previous: ReadonlyMap<string, PreviousFile>,
): Promise<{ file: ManifestFile; linked: boolean }> {
  const whole = source.size <= READ_WHOLE_MAX ? await readFile(source.absPath) : undefined;
  const hash = whole !== undefined ? sha256(whole) : await sha256File(source.absPath);
  const type = contentTypeFor(source.relPath);
  const urlPath = `/${source.relPath}`;
  const base = {
    size: whole?.length ?? source.size,
    hash,
    type,
    cache: isFingerprinted(urlPath) ? 'immutable' : 'revalidate',
    mtimeMs: Math.floor(source.mtimeMs),
  } as const;

  const prior = previous.get(hash);
  if (prior !== undefined && (await linkAll(prior, target))) {
    return { file: { ...base, encodings: prior.file.encodings }, linked: true };
  }

  if (whole === undefined) {
    await copyFile(source.absPath, target);
    return { file: { ...base, encodings: {} }, linked: false };
  }
  await writeFile(target, whole);
  const encodings: ManifestFile['encodings'] = {};
  if (isCompressible(type)) {
    const sidecars = await compressBoth(whole);
    if (sidecars.br !== undefined) {
      await writeFile(target + SIDECAR_SUFFIX.br, sidecars.br);
      encodings.br = sidecars.br.length;
    }
    if (sidecars.gzip !== undefined) {
      await writeFile(target + SIDECAR_SUFFIX.gzip, sidecars.gzip);
      encodings.gzip = sidecars.gzip.length;
    }
  }
  return { file: { ...base, encodings }, linked: false };
}

/** Hard-links a previous release's file and its sidecars; false when the filesystem refuses (then we copy). */
async function linkAll(prior: PreviousFile, target: string): Promise<boolean> {
  const suffixes = ['', ...(Object.keys(prior.file.encodings) as Encoding[]).map((encoding) => SIDECAR_SUFFIX[encoding])];
  try {
    for (const suffix of suffixes) await link(prior.path + suffix, target + suffix);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw error;
    // EXDEV, EMLINK, EPERM or a previous release pruned meanwhile: fall back to copying.
    for (const suffix of suffixes) await rm(target + suffix, { force: true });
    return false;
  }
}

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One hash over every path and content hash: the release's identity, used in its id. */
function hashTree(entries: ReadonlyArray<[string, ManifestFile]>, rules: object): string {
  const hash = createHash('sha256');
  for (const [path, file] of entries) hash.update(`${path}\0${file.hash}\n`);
  hash.update(JSON.stringify(rules));
  return hash.digest('hex');
}

/**
 * Ids must sort in publish order (rollback and pruning rely on it), but have
 * one-second resolution: a publish in the same second as the newest release
 * takes the next free second instead.
 */
async function nextReleaseId(paths: SitePaths, now: Date, contentHash: string): Promise<string> {
  const newest = (await releaseIds(paths)).at(-1);
  const newestTime = newest === undefined ? undefined : releaseIdTime(newest);
  const stamp = newestTime !== undefined && newestTime >= Math.floor(now.getTime() / 1000) * 1000 ? new Date(newestTime + 1000) : now;
  return createReleaseId(stamp, contentHash);
}

function asPublishError(error: unknown): unknown {
  if (isBerthError(error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BerthError('E_PUBLISH_NO_SPACE', 'Publish failed: the disk holding the data directory is full; free space or lower `retain`, the live release is unchanged', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BerthError('E_PUBLISH_IO', `Publish failed: ${message}; the live release is unchanged`, { cause: error });
}
