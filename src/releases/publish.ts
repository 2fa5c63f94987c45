import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BerthError, isBerthError, type ErrorCode } from '../errors.ts';
import { activateRelease } from './activate.ts';
import { compressBoth } from './compress.ts';
import { contentTypeFor, isCompressible } from './content-type.ts';
import { isFingerprinted } from './fingerprint.ts';
import { checkHeaderTables, parseHeaders } from './headers-file.ts';
import { MANIFEST_NAME, MANIFEST_VERSION, type Encoding, type HeaderRule, type Manifest, type ManifestFile, type RedirectRule } from './manifest.ts';
import { readManifest } from './read-manifest.ts';
import { parseRedirects, RULE_FILE_LIMITS } from './redirects-file.ts';
import { createReleaseId, releaseIdTime } from './release-id.ts';
import { activeReleaseId, releaseIds, SUMMARY_NAME, type ReleaseSummary } from './release-list.ts';
import { pruneReleases } from './retain.ts';
import { withSiteLock } from './site-lock.ts';
import { sitePaths, TEMP_PREFIX, type SitePaths } from './site-paths.ts';
import { openUntrusted, readUntrustedFile, type UntrustedFile } from './untrusted-file.ts';
import { walkSource, type SourceFile } from './walk-source.ts';

export interface PublishOptions {
  dataDir: string;
  site: string;
  /** The directory to publish (a build's output). */
  sourceDir: string;
  /**
   * For a build's output: the work directory, which `sourceDir` must stay
   * inside once links are resolved (checked when the walk starts).
   */
  within?: string;
  /**
   * For a build's output: the uid the build ran as. A file of the output
   * with more than one hard link is published only when this uid owns it
   * (see openUntrusted). Undefined: a directory the operator named, whose
   * hard links are not checked.
   */
  buildUid?: number;
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
  const source = await walkSource(options.sourceDir, { within: options.within });
  const files = source.files;
  const reader: SourceReader = { root: source.root, linksOwnedBy: options.buildUid ?? 'any' };
  const rules = await readRules(reader);
  await mkdir(paths.releasesDir, { recursive: true });
  return withSiteLock(paths.lockFile, async () => {
    const previous = await previousFiles(paths);
    const tempDir = join(paths.releasesDir, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(tempDir, { recursive: true });
      const built = await buildFiles(reader, files, tempDir, previous, options.onProgress);
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

/** Where the files to publish are read from, and whose hard links are accepted there. */
interface SourceReader {
  root: string;
  linksOwnedBy: number | 'any';
}

/**
 * The rules files are read like every file of the output (no link followed,
 * regular files only) and capped at the parsers' limit before a byte is read:
 * a FIFO or a link to `/dev/zero` fails here instead of hanging or filling
 * memory.
 */
async function readRules(reader: SourceReader): Promise<{ redirects: RedirectRule[]; headers: HeaderRule[] }> {
  const redirectsText = await readRulesFile(reader, '_redirects', 'E_REDIRECTS_INVALID');
  const headersText = await readRulesFile(reader, '_headers', 'E_HEADERS_INVALID');
  return {
    redirects: redirectsText === undefined ? [] : parseRedirects(redirectsText),
    headers: headersText === undefined ? [] : parseHeaders(headersText),
  };
}

async function readRulesFile(reader: SourceReader, name: string, code: ErrorCode): Promise<string | undefined> {
  const buffer = await readUntrustedFile(reader.root, name, {
    maxBytes: RULE_FILE_LIMITS.maxBytes,
    label: `${name} in the published folder`,
    code,
    linkCode: 'E_PUBLISH_SYMLINK',
    linksOwnedBy: reader.linksOwnedBy,
  });
  return buffer?.toString('utf8');
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
  reader: SourceReader,
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
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < files.length && !failed) {
      const index = next++;
      const source = files[index] as SourceFile;
      const target = join(tempDir, source.relPath);
      const dir = dirname(target);
      if (!made.has(dir)) {
        await mkdir(dir, { recursive: true });
        made.add(dir);
      }
      let result: Awaited<ReturnType<typeof placeFile>>;
      try {
        result = await placeFile(reader, source, target, previous);
      } catch (error) {
        failed = true;
        throw error;
      }
      entries[index] = [`/${source.relPath}`, result.file];
      bytes += result.file.size;
      if (result.linked) linked++;
      if (Object.keys(result.file.encodings).length > 0) compressed++;
      done++;
      onProgress?.(done, files.length);
    }
  };
  // Every worker is done before a failure is reported: the caller removes the
  // temporary directory, which must not race with files still being written.
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return { entries, bytes, linked, compressed };
}

async function placeFile(
  reader: SourceReader,
  source: SourceFile,
  target: string,
  previous: ReadonlyMap<string, PreviousFile>,
): Promise<{ file: ManifestFile; linked: boolean }> {
  const opened = await openUntrusted(reader.root, source.readPath, {
    maxBytes: Number.MAX_SAFE_INTEGER,
    label: source.readPath === source.relPath ? source.relPath : `${source.relPath} (a link to ${source.readPath})`,
    code: 'E_PUBLISH_SOURCE',
    linkCode: 'E_PUBLISH_SYMLINK',
    expected: { dev: source.dev, ino: source.ino },
    linksOwnedBy: reader.linksOwnedBy,
  });
  if (opened === undefined) {
    throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${source.relPath}: it disappeared while the folder was published; publish again once nothing writes to it`);
  }
  try {
    return await placeOpened(opened, source, target, previous);
  } finally {
    await opened.handle.close();
  }
}

/** Hashes and copies from the handle that was checked, never from the path again. */
async function placeOpened(
  opened: UntrustedFile,
  source: SourceFile,
  target: string,
  previous: ReadonlyMap<string, PreviousFile>,
): Promise<{ file: ManifestFile; linked: boolean }> {
  const whole = opened.size <= READ_WHOLE_MAX ? await opened.handle.readFile() : undefined;
  const streamed = whole === undefined ? await copyStream(opened, target) : undefined;
  const hash = whole !== undefined ? sha256(whole) : (streamed as { hash: string }).hash;
  const type = contentTypeFor(source.relPath);
  const urlPath = `/${source.relPath}`;
  const base = {
    size: whole?.length ?? (streamed as { size: number }).size,
    hash,
    type,
    cache: isFingerprinted(urlPath) ? 'immutable' : 'revalidate',
    mtimeMs: Math.floor(opened.mtimeMs),
  } as const;

  const prior = previous.get(hash);
  if (whole === undefined) {
    // Too large to compress, so the previous release has no sidecars for it either.
    const linked = prior !== undefined && (await replaceWithLink(prior.path, target));
    return { file: { ...base, encodings: {} }, linked };
  }
  if (prior !== undefined && (await linkAll(prior, target))) {
    return { file: { ...base, encodings: prior.file.encodings }, linked: true };
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

/** Chunk size for files too large to read whole. */
const COPY_CHUNK = 1024 * 1024;

/** Copies a large file to `target` while hashing it, in one pass over the opened handle. */
async function copyStream(opened: UntrustedFile, target: string): Promise<{ hash: string; size: number }> {
  const hash = createHash('sha256');
  const out = await open(target, 'wx', 0o644);
  try {
    const chunk = Buffer.alloc(COPY_CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await opened.handle.read(chunk, 0, chunk.length, size);
      if (bytesRead === 0) break;
      const bytes = chunk.subarray(0, bytesRead);
      hash.update(bytes);
      await out.write(bytes);
      size += bytesRead;
    }
    return { hash: hash.digest('hex'), size };
  } finally {
    await out.close();
  }
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

/** Swaps a fresh copy for a hard link to the previous release's identical file; false (the copy stays) when the filesystem refuses. */
async function replaceWithLink(priorPath: string, target: string): Promise<boolean> {
  const temp = `${target}.link-${randomBytes(4).toString('hex')}`;
  try {
    await link(priorPath, temp);
    await rename(temp, target);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') throw error;
    await rm(temp, { force: true });
    return false;
  }
}

function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
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
