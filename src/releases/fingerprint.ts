/**
 * Decides whether a file name carries a content hash, so that it can be cached
 * for a year. A false positive is costly (visitors keep a stale file), so the
 * rules are narrow:
 *
 * - a hex token of 8+ characters with at least one digit and one letter,
 *   set off by `.`, `-` or `_` (webpack `main.3f2a9c1b.js`, Hugo
 *   `main.min.<sha256>.css`, Parcel `index.a1b2c3d4.js`);
 * - or, inside the asset folders that bundlers reserve for hashed output
 *   (`_astro/`, `assets/`, `_app/immutable/`, `_next/static/`), a base64url
 *   token of exactly 8 characters mixing cases or digits (not a
 *   capitalised word) (Vite and Astro
 *   `index-DiwrgTda.js`, `about.BX3kd9_a.css`).
 */

const HEX_TOKEN = /[._-]([0-9a-f]{8,64})(?=[.])/i;
const BUNDLER_TOKEN = /[._-]([A-Za-z0-9_-]{8})(?=\.[a-z0-9]+$)/;
const BUNDLER_DIRS = ['/_astro/', '/assets/', '/_app/immutable/', '/_next/static/'];

export function isFingerprinted(urlPath: string): boolean {
  const base = urlPath.slice(urlPath.lastIndexOf('/'));
  const hex = HEX_TOKEN.exec(base);
  if (hex?.[1] !== undefined && /[0-9]/.test(hex[1]) && /[a-f]/i.test(hex[1])) return true;
  if (!BUNDLER_DIRS.some((dir) => urlPath.includes(dir))) return false;
  const token = BUNDLER_TOKEN.exec(base)?.[1];
  if (token === undefined) return false;
  // A capitalised word (`-Document.pdf`) is a name, not a hash.
  if (/^[A-Z][a-z]+$/.test(token)) return false;
  const kinds = Number(/[a-z]/.test(token)) + Number(/[A-Z]/.test(token)) + Number(/[0-9_-]/.test(token));
  return kinds >= 2;
}
