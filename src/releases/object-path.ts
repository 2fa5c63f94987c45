import { join } from 'node:path';
import type { Encoding } from './manifest.ts';

/**
 * Where the file-system release store keeps one object: the identity bytes
 * of a file under their SHA-256 (`objects/ab/ab12…`), and Berth's own
 * compressed variants of those bytes beside them (`ab12….br`, `ab12….gz`).
 * Variants are named by the content they compress, never by a path of the
 * site, so a site's own `app.js.gz` is an object like any other file and
 * can never be mistaken for (or overwritten by) Berth's gzip of `app.js`.
 */
export function objectPath(objectsDir: string, hash: string, encoding?: Encoding): string {
  return join(objectsDir, hash.slice(0, 2), encoding === undefined ? hash : `${hash}${VARIANT_SUFFIX[encoding]}`);
}

export const VARIANT_SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };

/** A SHA-256 in lower-case hex: the only names objects have. */
export function isObjectHash(text: string): boolean {
  return /^[0-9a-f]{64}$/.test(text);
}
