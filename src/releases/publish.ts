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
import { needsEscape } from './write-file-rows.ts';
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
  /**
   * The new release's manifest, for a check before it goes live without
   * reading it again. Its file records are the ones the next publish of the
   * site starts from: read them, never change them.
   */
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
    const header: Omit<Manifest, 'files'> = {
      version: MANIFEST_VERSION,
      id,
      site: options.site,
      createdAt: now.toISOString(),
      ...(options.commit === undefined ? {} : { commit: options.commit }),
      redirects: rules.redirects,
      headers: rules.headers,
    };
    const summary: ReleaseSummary = {
      id,
      site: options.site,
      createdAt: header.createdAt,
      files: built.files.length,
      bytes: built.bytes,
      source: source.label,
      ...(options.commit === undefined ? {} : { commit: options.commit }),
    };
    const keysText = sourceKeysText(entries, keysTakenAt);
    // The files go to the store as the sorted list they are, not through a record of every path.
    const releaseDir = await store.writeRelease({ ...header, files: built.files }, summary, { [SOURCE_KEYS_NAME]: keysText });
    await rememberPublished(paths, store, id, built.files, entries, keysTakenAt, keysText);
    if (options.activate !== false) await activateRelease(paths, id);
    const pruned = options.activate === false ? [] : await pruneReleases(paths, options.retain);
    return {
      id,
      releaseDir,
      manifest: { ...header, files: Object.fromEntries(built.files) },
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

/**
 * The `SourceKeys` record of `entries` as JSON, written pair by pair: the
 * same text as JSON.stringify of the record, without an array per file.
 */
function sourceKeysText(entries: readonly SourceEntry[], takenAtMs: number): string {
  const pairs: string[] = [];
  for (const entry of entries) {
    if (!isTrusted(entry, takenAtMs)) continue;
    const key = entry.changeKey as string;
    const urlPath = `/${entry.relPath}`;
    pairs.push(needsEscape(key) || needsEscape(urlPath) ? JSON.stringify([key, urlPath]) : `["${key}","${urlPath}"]`);
  }
  return `{"takenAtMs":${JSON.stringify(takenAtMs)},"keys":[${pairs.join(',')}]}`;
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

/**
 * What the release live now holds, in path order: each file as it was
 * published and the change key it was published with (undefined where it
 * was not trusted). Three arrays, no record by path or by key: a publish
 * pairs them with its own sorted entries in one pass.
 */
interface PreviousRelease {
  paths: string[];
  keys: Array<string | undefined>;
  files: ManifestFile[];
}

const NO_PREVIOUS: PreviousRelease = Object.freeze({ paths: [], keys: [], files: [] }) as unknown as PreviousRelease;

/**
 * What the last publish of each site in this process left, so the next one
 * starts from it instead of reading the list back: a deploy follows a
 * deploy. Used only while the live release on disk is still that one: the
 * same id, a file list with the SHA-256 recorded when it was written, and
 * the same change-key record (any other release, a rollback, a list or
 * record changed since, is read from disk as before). Bounded by the files
 * held, oldest publish first out.
 */
const published = new Map<string, { id: string; rowsSha256: string; keysText: string; previous: PreviousRelease }>();
/** Files the remembered releases may hold in all (about 250 bytes each, their change keys included). */
const MAX_REMEMBERED_FILES = 250_000;

async function rememberPublished(
  paths: SitePaths,
  store: ReleaseStore,
  id: string,
  files: ReadonlyArray<[string, ManifestFile]>,
  entries: readonly SourceEntry[],
  keysTakenAt: number,
  keysText: string,
): Promise<void> {
  published.delete(paths.siteDir);
  if (files.length > MAX_REMEMBERED_FILES) return;
  let rowsSha256: string | undefined;
  try {
    rowsSha256 = (await store.openManifest(id)).rows.sha256;
  } catch {
    // Nothing is remembered, so the next publish reads the list from disk (and reports what is wrong with it there).
    return;
  }
  if (rowsSha256 === undefined) return;
  const previous: PreviousRelease = { paths: new Array(files.length), keys: new Array(files.length), files: new Array(files.length) };
  for (let index = 0; index < files.length; index++) {
    const [urlPath, file] = files[index] as [string, ManifestFile];
    const entry = entries[index] as SourceEntry;
    previous.paths[index] = urlPath;
    previous.keys[index] = isTrusted(entry, keysTakenAt) ? entry.changeKey : undefined;
    previous.files[index] = file;
  }
  published.set(paths.siteDir, { id, rowsSha256, keysText, previous });
  let held = 0;
  for (const [site, { previous: kept }] of [...published].reverse()) {
    held += kept.files.length;
    if (held > MAX_REMEMBERED_FILES) published.delete(site);
  }
}

async function previousRelease(paths: SitePaths, store: ReleaseStore): Promise<PreviousRelease> {
  const active = await activeReleaseId(paths);
  if (active === undefined) return NO_PREVIOUS;
  const previous: PreviousRelease = { paths: [], keys: [], files: [] };
  try {
    const manifest = await store.openManifest(active);
    if (manifest.version !== MANIFEST_VERSION) return NO_PREVIOUS;
    const text = await store.readReleaseRecord(active, SOURCE_KEYS_NAME);
    const known = published.get(paths.siteDir);
    if (known?.id === active && known.rowsSha256 === manifest.rows.sha256 && known.keysText === text) {
      return known.previous;
    }
    const listed = text === undefined ? undefined : (JSON.parse(text) as Partial<SourceKeys> | null)?.keys;
    const keys: readonly unknown[] = Array.isArray(listed) ? listed : [];
    // The keys were written in path order, as the rows are: one pass pairs them. A key out of
    // that order only goes unpaired (its file is read).
    let next = 0;
    await manifest.rows.forEach((urlPath, file) => {
      while (next < keys.length && keyPath(keys[next]) < urlPath) next++;
      const pair = keys[next];
      const paired = next < keys.length && keyPath(pair) === urlPath;
      if (paired) next++;
      previous.paths.push(urlPath);
      previous.keys.push(paired ? (pair as [string, string])[0] : undefined);
      previous.files.push(file);
    });
  } catch (error) {
    // A damaged previous release only costs the reuse; the new one is built from its source.
    if ((isBerthError(error) && error.code === 'E_MANIFEST_INVALID') || error instanceof SyntaxError) return NO_PREVIOUS;
    throw error;
  }
  return previous;
}

/** The path of a `[changeKey, urlPath]` pair; '' (before every path) for anything else. */
function keyPath(pair: unknown): string {
  return Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string' && typeof pair[1] === 'string' ? pair[1] : '';
}

/**
 * For each entry, the previous release's file with the same change key, or
 * undefined. Entries and the previous files are both in path order, so a
 * file at the same path with the same key (nearly all of an unchanged site)
 * is found by walking both once; the few left (a file moved or copied, with
 * content the previous release had under another path) are looked for in
 * one more pass over the previous keys.
 */
function priorFiles(entries: readonly SourceEntry[], previous: PreviousRelease): Array<ManifestFile | undefined> {
  const prior: Array<ManifestFile | undefined> = new Array(entries.length).fill(undefined);
  const unpaired = new Map<string, number[]>();
  let at = 0;
  for (let index = 0; index < entries.length; index++) {
    const entry = entries[index] as SourceEntry;
    if (entry.changeKey === undefined) continue;
    const urlPath = `/${entry.relPath}`;
    while (at < previous.paths.length && (previous.paths[at] as string) < urlPath) at++;
    if (previous.paths[at] === urlPath && previous.keys[at] === entry.changeKey) {
      prior[index] = previous.files[at];
      continue;
    }
    const waiting = unpaired.get(entry.changeKey);
    if (waiting === undefined) unpaired.set(entry.changeKey, [index]);
    else waiting.push(index);
  }
  if (unpaired.size === 0) return prior;
  for (let at = 0; at < previous.keys.length; at++) {
    const key = previous.keys[at];
    const waiting = key === undefined ? undefined : unpaired.get(key);
    if (waiting === undefined) continue;
    for (const index of waiting) prior[index] = previous.files[at];
    unpaired.delete(key as string);
  }
  return prior;
}

/** `isCompressible`, remembered per type: a release has a handful of types and many files. */
function typeChecker(): (type: string) => boolean {
  const known = new Map<string, boolean>();
  return (type) => {
    let compressible = known.get(type);
    if (compressible === undefined) {
      compressible = isCompressible(type);
      known.set(type, compressible);
    }
    return compressible;
  };
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
  let done = 0;
  const place = (index: number, file: ManifestFile): void => {
    files[index] = [`/${(entries[index] as SourceEntry).relPath}`, file];
    counts.bytes += file.size;
    if (file.encodings.br !== undefined || file.encodings.gzip !== undefined) counts.compressed++;
    done++;
    onProgress?.(done, entries.length);
  };
  // Files known unchanged take no I/O: placed in one pass, without a promise each. Only the rest is read.
  const compressible = typeChecker();
  const prior = priorFiles(entries, previous);
  const toRead: number[] = [];
  // Variants of objects this publish found or stored, for a second file with the same content.
  const variants = new Map<string, StoredVariants>();
  for (let index = 0; index < entries.length; index++) {
    const before = prior[index];
    const file = before === undefined ? undefined : unchangedFile(entries[index] as SourceEntry, before, compressible);
    if (file === undefined) {
      toRead.push(index);
      continue;
    }
    counts.unchanged++;
    place(index, file);
  }
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < toRead.length && !failed) {
      const index = toRead[next++] as number;
      let file: ManifestFile;
      try {
        file = await readEntry(source, entries[index] as SourceEntry, store, variants, counts);
      } catch (error) {
        failed = true;
        throw error;
      }
      place(index, file);
    }
  };
  // Every worker is done before a failure is reported, so nothing is still being written when the caller moves on.
  const outcomes = await Promise.allSettled(Array.from({ length: Math.min(CONCURRENCY, toRead.length) }, worker));
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return { files, ...counts };
}

/** What the publish records of a file whatever its content: its type, cache policy and time. */
function fileMeta(entry: SourceEntry): Pick<ManifestFile, 'type' | 'cache' | 'mtimeMs'> {
  return { type: contentTypeFor(entry.relPath), cache: isFingerprinted(`/${entry.relPath}`) ? 'immutable' : 'revalidate', mtimeMs: Math.floor(entry.mtimeMs) };
}

/**
 * The file as the previous release had it (`prior`, found by the entry's
 * change key, which proves the content the same) with this entry's type,
 * cache policy and time; undefined when it must be read. Unknown variants:
 * the content was published under a type that is not compressed (an image
 * renamed to .txt, say); it is read, so that it gets them. An object has
 * all the variants it will ever get once it exists (fs-release-store.ts),
 * so a compressible prior's are the object's.
 */
function unchangedFile(entry: SourceEntry, prior: ManifestFile, compressible: (type: string) => boolean): ManifestFile | undefined {
  const meta = fileMeta(entry);
  const wanted = compressible(meta.type);
  if (wanted && !compressible(prior.type)) return undefined;
  return { size: prior.size, hash: prior.hash, type: meta.type, cache: meta.cache, encodings: wanted ? prior.encodings : {}, mtimeMs: meta.mtimeMs };
}

/** Reads, hashes and (when its content is new) stores one file. */
async function readEntry(
  source: PublishSource,
  entry: SourceEntry,
  store: ReleaseStore,
  variants: Map<string, StoredVariants>,
  counts: { known: number; stored: number },
): Promise<ManifestFile> {
  const meta = fileMeta(entry);
  const type = meta.type;
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
    const held = variants.get(hash) ?? (await store.objectVariants(hash));
    if (held !== undefined && (!compressible || Object.keys(held).length > 0)) {
      counts.known++;
      return { ...meta, size: whole.length, hash, encodings: compressible ? held : {} };
    }
    const made = compressible ? await compressBoth(whole) : { br: undefined, gzip: undefined };
    const toStore = { ...(made.br === undefined ? {} : { br: made.br }), ...(made.gzip === undefined ? {} : { gzip: made.gzip }) };
    await store.putObject(hash, whole, toStore);
    counts.stored++;
    const encodings: StoredVariants = {};
    if (made.br !== undefined) encodings.br = made.br.length;
    if (made.gzip !== undefined) encodings.gzip = made.gzip.length;
    variants.set(hash, encodings);
    return { ...meta, size: whole.length, hash, encodings };
  } finally {
    await body.close();
  }
}

/** One hash over every path and content hash: the release's identity, used in its id. */
function hashTree(files: ReadonlyArray<[string, ManifestFile]>, rules: object): string {
  const hash = createHash('sha256');
  // The same bytes as one update a file, handed over in pieces of about 64 KiB.
  let pending = '';
  for (const [path, file] of files) {
    pending += `${path}\0${file.hash}\n`;
    if (pending.length >= 65_536) {
      hash.update(pending);
      pending = '';
    }
  }
  hash.update(pending);
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
