/**
 * File bodies held in a serving worker's memory, within `server.memory_cache`
 * bytes, shared by every site and release the worker serves and keyed by
 * content (hash and encoding), so the same bytes are held once.
 *
 * Eviction is SIEVE (Zhang et al., NSDI 2024): entries sit in insertion
 * order; a hit only sets a `visited` bit (no reordering, so a hit costs
 * nothing but a Map lookup); to make room a hand walks from the oldest
 * entry, clearing the bit of visited ones and evicting the first one not
 * visited since the hand last passed. Unlike plain LRU, a crawler or a
 * scan that touches thousands of files once each pushes out only other
 * one-time files, not the pages visitors keep asking for; unlike LFU it
 * needs no counts that outlive their files.
 *
 * The bound counts each entry as its body plus `ENTRY_OVERHEAD`: a site of
 * 100,000 files of a few hundred bytes holds more memory in the objects
 * around each body (the Buffer, its backing store, the key, the node) than
 * in the bodies. A body larger than `maxEntryBytes` is never held.
 */

/**
 * What one entry costs besides its body, measured in a heap snapshot of a
 * worker holding 100,000 small bodies: about 470 bytes (Buffer and
 * ArrayBuffer objects, the key string, the node, its Map slot), rounded up.
 */
export const ENTRY_OVERHEAD = 512;

export interface BodyCacheStats {
  /** Bytes charged now, each entry's body plus ENTRY_OVERHEAD; never more than `limit`. */
  bytes: number;
  entries: number;
  limit: number;
  /** Largest body that may be held. */
  maxEntryBytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export interface BodyCache {
  /** The body for a content key, or undefined (a miss); a hit marks it visited. */
  get(key: string): Buffer | undefined;
  /** Holds `body` if it fits under the entry ceiling, evicting as needed; false when it is not held. */
  set(key: string, body: Buffer): boolean;
  /** True when a body of this size would be held. */
  admits(size: number): boolean;
  stats(): BodyCacheStats;
}

/** The largest body held: 1 MiB, or an eighth of the cache when that is smaller, so a few big files never crowd out the many small ones. */
export function maxEntryBytesFor(limit: number): number {
  return Math.min(1_048_576, Math.floor(limit / 8));
}

interface Node {
  key: string;
  body: Buffer;
  visited: boolean;
  /** Towards the newest. */
  newer: Node | undefined;
  /** Towards the oldest. */
  older: Node | undefined;
}

export function createBodyCache(limit: number): BodyCache {
  const maxEntryBytes = maxEntryBytesFor(limit);
  const byKey = new Map<string, Node>();
  let newest: Node | undefined;
  let oldest: Node | undefined;
  let hand: Node | undefined;
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  let evictions = 0;

  const unlink = (node: Node): void => {
    if (node.newer === undefined) newest = node.older;
    else node.newer.older = node.older;
    if (node.older === undefined) oldest = node.newer;
    else node.older.newer = node.newer;
    byKey.delete(node.key);
    bytes -= node.body.length + ENTRY_OVERHEAD;
    evictions++;
  };

  const evictOne = (): void => {
    let node = hand ?? oldest;
    while (node !== undefined && node.visited) {
      node.visited = false;
      node = node.newer ?? oldest;
    }
    if (node === undefined) return;
    hand = node.newer;
    unlink(node);
  };

  return {
    get(key) {
      const node = byKey.get(key);
      if (node === undefined) {
        misses++;
        return undefined;
      }
      hits++;
      node.visited = true;
      return node.body;
    },
    admits: (size) => limit > 0 && size <= maxEntryBytes,
    set(key, body) {
      if (byKey.has(key)) return true;
      if (limit === 0 || body.length > maxEntryBytes) return false;
      const charge = body.length + ENTRY_OVERHEAD;
      while (bytes + charge > limit && byKey.size > 0) evictOne();
      const node: Node = { key, body, visited: false, newer: undefined, older: newest };
      if (newest !== undefined) newest.newer = node;
      newest = node;
      oldest ??= node;
      byKey.set(key, node);
      bytes += charge;
      return true;
    },
    stats: () => ({ bytes, entries: byKey.size, limit, maxEntryBytes, hits, misses, evictions }),
  };
}
