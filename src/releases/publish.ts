import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { BerthError, isBerthError, type ErrorCode } from '../errors.ts';
import { activateRelease } from './activate.ts';
import { compressBoth, MIN_COMPRESS_BYTES } from './compress.ts';
import { contentTypeFor, isCompressible } from './content-type.ts';
import { directorySource } from './directory-source.ts';
import { isFingerprinted } from './fingerprint.ts';
import { fsReleaseStore } from './fs-release-store.ts';
import { checkHeaderTables, parseHeaders } from './headers-file.ts';
import { MANIFEST_VERSION, type HeaderRule, type Manifest, type ManifestFile, type RedirectRule } from './manifest.ts';
import { migrateSiteReleases } from './migrate-releases.ts';
import type { PublishSource, SourceEntry } from './publish-source.ts';
import { parseRedirects, RULE_FILE_LIMITS } from './redirects-file.ts';
import { createReleaseId, releaseIdTime } from './release-id.ts';
import { activeReleaseId, releaseIds, type ReleaseSummary } from './release-list.ts';
import type { ReleaseStore, StoredVariants } from './release-store.ts';
import { pruneReleases } from './retain.ts';
import { withSiteLock } from './site-lock.ts';
import { sitePaths, type SitePaths } from './site-paths.ts';

export interface PublishOptions {
  dataDir: string;
  site: string;
  /** Where the files come from; or `sourceDir` for a folder (read as `directorySource` reads it). */
  source?: PublishSource;
  /** The directory to publish (a build's output); ignored when `source` is given. */
  sourceDir?: string;
  /** With `sourceDir`: the folder must stay inside this one once links are resolved (see directorySource). */
  within?: string;
  /** With `sourceDir`: the uid the build ran as (see directorySource). */
  buildUid?: number;
  /** The commit the files come from, kept in the manifest and the summary. */
  commit?: string;
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
  /** The new release's manifest, for a check before it goes live without reading it again. */
  manifest: Manifest;
  files: number;
  bytes: number;
  /** Files known unchanged from the previous release's record, neither read nor hashed. */
  unchanged: number;
  /** Files read and hashed whose content the store already held. */
  known: number;
  /** Objects written: content no kept release had. */
  stored: number;
  /** Files given at least one precompressed variant. */
  compressed: number;
  pruned: string[];
  durationMs: number;
}

/** Beside each manifest: the change key of each file as published, so the next publish knows what is unchanged without reading it. */
export const SOURCE_KEYS_NAME = '.berth-source.json';

interface SourceKeys {
  /** When the keys were taken, ms since the epoch: the racy-write rule is judged against it. */
  takenAtMs: number;
  /** `[changeKey, urlPath]`. */
  keys: Array<[string, string]>;
}

/** Files up to this size are read into memory once (hash, store and compress from one read). */
const READ_WHOLE_MAX = 32 * 1024 * 1024;
/**
 * Files processed at once. Each file is a handful of small filesystem calls
 * that wait on libuv's thread pool; keeping more in flight keeps that pool
 * busy. Compression runs there too.
 */
const CONCURRENCY = 16;
/**
 * A file modified this close to the moment its key was taken may change
 * again within the same timestamp without its key changing (git's "racy"
 * files): its key is not kept, so the next publish reads it.
 */
const RACY_MS = 1000;

/**
 * Publishes a source as a new immutable release of a site: the files whose
 * content is new go into the site's object store, the release is its
 * manifest, written last and whole (one rename). A file whose change key
 * matches the previous release's record is taken from that release without
 * being read. A failure at any point (a bad `_redirects`, a full disk, a
 * vanished file) leaves no release and never touches the live one; objects
 * it wrote are removed by the next sweep.
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
  const source = options.source ?? (await directorySource(requiredDir(options), { within: options.within, buildUid: options.buildUid }));
  const entries = await source.entries();
  const rules = await readRules(source);
  await mkdir(paths.releasesDir, { recursive: true });
  const result = await withSiteLock(paths.lockFile, async (): Promise<PublishResult> => {
    const store = fsReleaseStore(paths);
    await migrateSiteReleases(paths);
    const previous = await previousRelease(paths, store);
    const keysTakenAt = Date.now();
    const built = await buildFiles(source, entries, store, previous, options.onProgress);
    checkHeaderTables(rules.headers, built.files.map(([urlPath]) => urlPath));
    const now = options.now ?? new Date();
    const id = await nextReleaseId(paths, now, hashTree(built.files, rules));
    const manifest: Manifest = {
      version: MANIFEST_VERSION,
      id,
      site: options.site,
      createdAt: now.toISOString(),
      ...(options.commit === undefined ? {} : { commit: options.commit }),
      files: Object.fromEntries(built.files),
      redirects: rules.redirects,
      headers: rules.headers,
    };
    const summary: ReleaseSummary = {
      id,
      site: options.site,
      createdAt: manifest.createdAt,
      files: built.files.length,
      bytes: built.bytes,
      source: source.label,
      ...(options.commit === undefined ? {} : { commit: options.commit }),
    };
    const keys: SourceKeys = {
      takenAtMs: keysTakenAt,
      keys: entries.flatMap((entry): Array<[string, string]> => (isTrusted(entry, keysTakenAt) ? [[entry.changeKey as string, `/${entry.relPath}`]] : [])),
    };
    const releaseDir = await store.writeRelease(manifest, summary, { [SOURCE_KEYS_NAME]: JSON.stringify(keys) });
    if (options.activate !== false) await activateRelease(paths, id);
    const pruned = options.activate === false ? [] : await pruneReleases(paths, options.retain);
    return {
      id,
      releaseDir,
      manifest,
      files: built.files.length,
      bytes: built.bytes,
      unchanged: built.unchanged,
      known: built.known,
      stored: built.stored,
      compressed: built.compressed,
      pruned,
      durationMs: Math.round(performance.now() - started),
    };
  });
  // After the lock: the sweep takes it only for its deletions.
  if (result.pruned.length > 0) await fsReleaseStore(paths).sweep();
  return result;
}

function requiredDir(options: PublishOptions): string {
  if (options.sourceDir === undefined) throw new Error('publishRelease needs a source or a sourceDir');
  return options.sourceDir;
}

/** A key that names content (a git blob) always holds; a stat key only for a file not written just before it was taken. */
function isTrusted(entry: SourceEntry, takenAtMs: number): boolean {
  if (entry.changeKey === undefined) return false;
  return entry.changeKey.startsWith('git:') || entry.mtimeMs < takenAtMs - RACY_MS;
}

/**
 * The rules files are read like every file of the source (no link followed,
 * regular files only) and capped at the parsers' limit before a byte is read:
 * a FIFO or a link to `/dev/zero` fails here instead of hanging or filling memory.
 */
async function readRules(source: PublishSource): Promise<{ redirects: RedirectRule[]; headers: HeaderRule[] }> {
  const text = async (name: '_redirects' | '_headers', code: ErrorCode): Promise<string | undefined> =>
    (await source.readRules(name, { maxBytes: RULE_FILE_LIMITS.maxBytes, code }))?.toString('utf8');
  const redirectsText = await text('_redirects', 'E_REDIRECTS_INVALID');
  const headersText = await text('_headers', 'E_HEADERS_INVALID');
  return {
    redirects: redirectsText === undefined ? [] : parseRedirects(redirectsText),
    headers: headersText === undefined ? [] : parseHeaders(headersText),
  };
}

/** What the release live now holds: its files by change key (unchanged ones are taken as they are) and the variants of its objects. */
interface PreviousRelease {
  byKey: Map<string, ManifestFile>;
  variants: Map<string, StoredVariants>;
}

async function previousRelease(paths: SitePaths, store: ReleaseStore): Promise<PreviousRelease> {
  const previous: PreviousRelease = { byKey: new Map(), variants: new Map() };
  const active = await activeReleaseId(paths);
  if (active === undefined) return previous;
  let manifest: Manifest;
  let keys: SourceKeys | undefined;
  try {
    manifest = await store.readManifest(active);
    const text = await store.readReleaseRecord(active, SOURCE_KEYS_NAME);
    keys = text === undefined ? undefined : (JSON.parse(text) as SourceKeys);
  } catch (error) {
    // A damaged previous release only costs the reuse; the new one is built from its source.
    if ((isBerthError(error) && error.code === 'E_MANIFEST_INVALID') || error instanceof SyntaxError) return previous;
    throw error;
  }
  if (manifest.version !== MANIFEST_VERSION) return previous;
  for (const file of Object.values(manifest.files)) {
    if (isCompressible(file.type)) previous.variants.set(file.hash, file.encodings);
  }
  for (const [key, urlPath] of Array.isArray(keys?.keys) ? keys.keys : []) {
    const file = manifest.files[urlPath];
    if (file !== undefined) previous.byKey.set(key, file);
  }
  return previous;
}

interface BuiltFiles {
  files: Array<[string, ManifestFile]>;
  bytes: number;
  unchanged: number;
  known: number;
  stored: number;
  compressed: number;
}

async function buildFiles(
  source: PublishSource,
  entries: readonly SourceEntry[],
  store: ReleaseStore,
  previous: PreviousRelease,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<BuiltFiles> {
  const files: Array<[string, ManifestFile]> = new Array(entries.length);
  const counts = { bytes: 0, unchanged: 0, known: 0, stored: 0, compressed: 0 };
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < entries.length && !failed) {
      const index = next++;
      const entry = entries[index] as SourceEntry;
      let file: ManifestFile;
      try {
        file = await placeEntry(source, entry, store, previous, counts);
      } catch (error) {
        failed = true;
        throw error;
      }
      files[index] = [`/${entry.relPath}`, file];
      counts.bytes += file.size;
      if (Object.keys(file.encodings).length > 0) counts.compressed++;
      done++;
      onProgress?.(done, entries.length);
    }
  };
  // Every worker is done before a failure is reported, so nothing is still being written when the caller moves on.
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return { files, ...counts };
}

async function placeEntry(
  source: PublishSource,
  entry: SourceEntry,
  store: ReleaseStore,
  previous: PreviousRelease,
  counts: { unchanged: number; known: number; stored: number },
): Promise<ManifestFile> {
  const urlPath = `/${entry.relPath}`;
  const type = contentTypeFor(entry.relPath);
  const meta = { type, cache: isFingerprinted(urlPath) ? 'immutable' : 'revalidate', mtimeMs: Math.floor(entry.mtimeMs) } as const;
  const prior = entry.changeKey === undefined ? undefined : previous.byKey.get(entry.changeKey);
  if (prior !== undefined) {
    // Unknown variants: the same content was published under a type that is not compressed (an
    // image renamed to .txt, say); it is read, so that it gets them.
    const variants = isCompressible(type) ? previous.variants.get(prior.hash) : {};
    if (variants !== undefined) {
      counts.unchanged++;
      return { ...meta, size: prior.size, hash: prior.hash, encodings: variants };
    }
  }

  const body = await source.open(entry, READ_WHOLE_MAX);
  try {
    if (body.whole === undefined) {
      // Too large to compress: stored as it streams, hashed on the way.
      const writer = await store.objectWriter();
      try {
        await (body.stream as NonNullable<typeof body.stream>)((chunk) => writer.write(chunk));
        const { hash, size, stored } = await writer.finish();
        if (stored) counts.stored++;
        else counts.known++;
        return { ...meta, size, hash, encodings: {} };
      } catch (error) {
        await writer.abort();
        throw error;
      }
    }
    const whole = body.whole;
    const hash = createHash('sha256').update(whole).digest('hex');
    const compressible = isCompressible(type) && whole.length >= MIN_COMPRESS_BYTES;
    const held = previous.variants.get(hash) ?? (await store.objectVariants(hash));
    if (held !== undefined && (!compressible || Object.keys(held).length > 0)) {
      counts.known++;
      return { ...meta, size: whole.length, hash, encodings: compressible ? held : {} };
    }
    const variants = compressible ? await compressBoth(whole) : { br: undefined, gzip: undefined };
    const toStore = { ...(variants.br === undefined ? {} : { br: variants.br }), ...(variants.gzip === undefined ? {} : { gzip: variants.gzip }) };
    await store.putObject(hash, whole, toStore);
    counts.stored++;
    const encodings: StoredVariants = {};
    if (variants.br !== undefined) encodings.br = variants.br.length;
    if (variants.gzip !== undefined) encodings.gzip = variants.gzip.length;
    previous.variants.set(hash, encodings);
    return { ...meta, size: whole.length, hash, encodings };
  } finally {
    await body.close();
  }
}

/** One hash over every path and content hash: the release's identity, used in its id. */
function hashTree(files: ReadonlyArray<[string, ManifestFile]>, rules: object): string {
  const hash = createHash('sha256');
  for (const [path, file] of files) hash.update(`${path}\0${file.hash}\n`);
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
