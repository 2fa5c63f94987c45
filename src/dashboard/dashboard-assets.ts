import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { assetPath } from './dashboard-paths.ts';

/**
 * The dashboard's stylesheet and script, read and compressed once when this
 * module loads. Each is served at a path carrying a hash of its bytes, so
 * the app can send `cache-control: public, max-age=31536000, immutable`
 * (`DASHBOARD_ASSET_CACHE_CONTROL`): a changed file is a new path, and a
 * page never pairs with a stale copy.
 */
export interface DashboardAsset {
  /** `dashboard.css`. */
  name: string;
  /** `/_berth/assets/dashboard.1a2b3c4d.css`. */
  path: string;
  body: Buffer;
  /** The same bytes gzipped, for `Accept-Encoding: gzip` (send `Vary: Accept-Encoding`). */
  gzip: Buffer;
  contentType: string;
  /** The hash in the path, quoted: usable as an ETag. */
  etag: string;
}

export const DASHBOARD_ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable';

function loadAsset(name: string, contentType: string): DashboardAsset {
  const body = readFileSync(join(import.meta.dirname, 'assets', name));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 8);
  const dot = name.lastIndexOf('.');
  return Object.freeze({
    name,
    path: assetPath(`${name.slice(0, dot)}.${hash}${name.slice(dot)}`),
    body,
    gzip: gzipSync(body, { level: 9 }),
    contentType,
    etag: `"${hash}"`,
  });
}

export const DASHBOARD_CSS: DashboardAsset = loadAsset('dashboard.css', 'text/css; charset=utf-8');
export const DASHBOARD_JS: DashboardAsset = loadAsset('dashboard.js', 'text/javascript; charset=utf-8');
export const DASHBOARD_ASSETS: readonly DashboardAsset[] = Object.freeze([DASHBOARD_CSS, DASHBOARD_JS]);

const byPath = new Map(DASHBOARD_ASSETS.map((asset) => [asset.path, asset]));

/** The asset served at `path` (exactly, without a query), or undefined: an old hash is a 404, not the new file. */
export function dashboardAsset(path: string): DashboardAsset | undefined {
  return byPath.get(path);
}
