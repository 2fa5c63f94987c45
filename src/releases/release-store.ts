import type { Encoding, Manifest, ManifestFile, StreamedManifest } from './manifest.ts';
import type { ReleaseSummary } from './release-list.ts';
import type { ManifestToWrite } from './write-manifest.ts';

/** What the store holds of one object: its Berth-made compressed variants and their sizes. */
export type StoredVariants = ManifestFile['encodings'];

/** Writes one object whose hash is known only at the end (a file too large to hold in memory). */
export interface ObjectWriter {
  write(chunk: Buffer): Promise<void>;
  /** Stores what was written under its hash (`stored` false: the store held it already, it is left as it was). */
  finish(): Promise<{ hash: string; size: number; stored: boolean }>;
  /** Drops what was written; safe after a failed write. */
  abort(): Promise<void>;
}

/**
 * Where releases and their files live: the seam between the deploy pipeline
 * and the storage. A release is its manifest; file contents are objects
 * named by their SHA-256, stored once per site however many releases (or
 * paths of one release) have them, with Berth's compressed variants keyed by
 * the same hash. The file-system store (fs-release-store.ts) is the one
 * implementation; an object-storage backend would implement the same calls.
 *
 * Writers of one site hold its lock (site-lock.ts) around `putObject`,
 * `objectWriter` and `writeRelease`, and the sweep deletes only under it: it
 * may remove what no release names only while no publish is between
 * writing objects and writing the release that names them.
 */
export interface ReleaseStore {
  /** The variants stored for `hash`, or undefined when the object is not stored. */
  objectVariants(hash: string): Promise<StoredVariants | undefined>;
  /** Stores `body` under `hash` (the caller computed it) with the given variants; a stored object is left as it is. */
  putObject(hash: string, body: Buffer, variants: Partial<Record<Encoding, Buffer>>): Promise<void>;
  /** For bodies read in pieces. */
  objectWriter(): Promise<ObjectWriter>;
  /** Makes a release appear, whole, under its id (manifest, summary and any extra records). */
  writeRelease(manifest: ManifestToWrite, summary: ReleaseSummary, extra: Readonly<Record<string, string>>): Promise<string>;
  /** A file written beside a release's manifest by `writeRelease`; undefined when absent. */
  readReleaseRecord(id: string, name: string): Promise<string | undefined>;
  readManifest(id: string): Promise<Manifest>;
  /** A release's manifest with its files as rows read one at a time, never all held at once (see FileRowSource). */
  openManifest(id: string): Promise<StreamedManifest>;
  /**
   * Removes every object that no release of the site names, and whatever a
   * publish that was killed left. Returns what it removed. Takes the site's
   * lock only for the deletions (reading every kept manifest and listing the
   * objects happen before it), unless the caller holds it already
   * (`heldLock`).
   */
  sweep(options?: { heldLock?: boolean }): Promise<{ objects: number; bytes: number }>;
  /** The local file holding an object's bytes (or one of its variants), for serving. */
  locate(hash: string, encoding?: Encoding): string;
}
