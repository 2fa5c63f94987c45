import { randomBytes } from 'node:crypto';

/** What the responder asks of a release's paths. */
export interface PathLookup {
  /** The row of `path`; undefined when the release has no file there. */
  get(path: string): number | undefined;
  has(path: string): boolean;
  /** The path of row `row` (a new string each call: callers keep it only as long as they need it). */
  pathAt(row: number): string;
}

/**
 * Seed of the path hash, new in each process: a site's build chooses its
 * file names, and with a known hash it could choose 100,000 that all land
 * in one slot and make every load of its release (and every lookup) walk
 * them all. Seeded FNV-1a is no cryptographic guarantee, only that such a
 * set cannot be computed ahead of time for a process it cannot see.
 */
const SEED = randomBytes(4).readUInt32LE(0);
const EMPTY = -1;

function hashOf(path: string): number {
  let hash = (0x811c9dc5 ^ SEED) >>> 0;
  for (let i = 0; i < path.length; i++) {
    hash ^= path.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A release's paths and the row of each, with nothing per path on the
 * JavaScript heap: the UTF-8 bytes of every path in one Buffer, where each
 * starts in a typed array, and an open-addressing table of rows by hash.
 * The table a worker keeps per release is then a handful of typed arrays
 * the garbage collector never walks, and building it leaves no young
 * object alive (a Map of 100,000 strings is promoted, and with it the heap
 * grows and stays grown).
 *
 * Paths are added in row order (row n is the nth added); each must be a
 * well-formed string (no lone surrogate), so that its bytes give it back.
 */
export class PathIndex implements PathLookup {
  readonly #starts: Uint32Array;
  readonly #hashes: Uint32Array;
  readonly #slots: Int32Array;
  readonly #mask: number;
  #bytes: Buffer;
  #used = 0;
  #count = 0;

  constructor(capacity: number) {
    this.#starts = new Uint32Array(capacity + 1);
    this.#hashes = new Uint32Array(capacity);
    // At most half full, so a miss ends after a few probes.
    let slots = 8;
    while (slots < capacity * 2) slots *= 2;
    this.#slots = new Int32Array(slots).fill(EMPTY);
    this.#mask = slots - 1;
    this.#bytes = Buffer.allocUnsafeSlow(Math.max(64, capacity * 32));
  }

  get count(): number {
    return this.#count;
  }

  /** Adds `path` as the next row and returns it; undefined (nothing added) when the path is there already or the index is full. */
  add(path: string): number | undefined {
    if (this.#count >= this.#hashes.length || !path.isWellFormed()) return undefined;
    const hash = hashOf(path);
    let slot = hash & this.#mask;
    for (let row = this.#slots[slot] as number; row !== EMPTY; row = this.#slots[slot] as number) {
      if (this.#hashes[row] === hash && this.pathAt(row) === path) return undefined;
      slot = (slot + 1) & this.#mask;
    }
    const length = Buffer.byteLength(path, 'utf8');
    if (this.#used + length > this.#bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#used + length));
      this.#bytes.copy(grown, 0, 0, this.#used);
      this.#bytes = grown;
    }
    this.#bytes.write(path, this.#used, 'utf8');
    const row = this.#count++;
    this.#used += length;
    this.#starts[row + 1] = this.#used;
    this.#hashes[row] = hash;
    this.#slots[slot] = row;
    return row;
  }

  /** Gives back the unused end of the path bytes, once every path is in. */
  trim(): void {
    if (this.#bytes.length - this.#used < this.#bytes.length / 4) return;
    const exact = Buffer.allocUnsafeSlow(this.#used);
    this.#bytes.copy(exact, 0, 0, this.#used);
    this.#bytes = exact;
  }

  get(path: string): number | undefined {
    const hash = hashOf(path);
    let slot = hash & this.#mask;
    for (let row = this.#slots[slot] as number; row !== EMPTY; row = this.#slots[slot] as number) {
      if (this.#hashes[row] === hash && this.pathAt(row) === path) return row;
      slot = (slot + 1) & this.#mask;
    }
    return undefined;
  }

  has(path: string): boolean {
    return this.get(path) !== undefined;
  }

  pathAt(row: number): string {
    return this.#bytes.toString('utf8', this.#starts[row], this.#starts[row + 1]);
  }
}
