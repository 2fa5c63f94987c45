import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { DASHBOARD_ASSETS, DASHBOARD_CSS, DASHBOARD_JS, dashboardAsset } from '../../src/dashboard/dashboard-assets.ts';
import { DASHBOARD_ROUTES } from '../../src/dashboard/dashboard-paths.ts';

const ASSETS_DIR = join(import.meta.dirname, '../../src/dashboard/assets');

describe('dashboard assets', () => {
  it('are served at a path carrying the first 8 hex digits of their SHA-256', async () => {
    for (const [asset, file, ext] of [[DASHBOARD_CSS, 'dashboard.css', 'css'], [DASHBOARD_JS, 'dashboard.js', 'js']] as const) {
      const body = await readFile(join(ASSETS_DIR, file));
      const hash = createHash('sha256').update(body).digest('hex').slice(0, 8);
      assert.equal(asset.path, `/_berth/assets/dashboard.${hash}.${ext}`);
      assert.deepEqual(asset.body, body);
      assert.deepEqual(gunzipSync(asset.gzip), body);
      assert.equal(asset.etag, `"${hash}"`);
    }
    assert.equal(DASHBOARD_CSS.contentType, 'text/css; charset=utf-8');
    assert.equal(DASHBOARD_JS.contentType, 'text/javascript; charset=utf-8');
  });

  it('are found by their exact path only', () => {
    for (const asset of DASHBOARD_ASSETS) assert.equal(dashboardAsset(asset.path), asset);
    assert.equal(dashboardAsset('/_berth/assets/dashboard.00000000.css'), undefined);
    assert.equal(dashboardAsset(`${DASHBOARD_CSS.path}?v=1`), undefined);
    assert.equal(dashboardAsset('/_berth/assets/dashboard.css'), undefined);
  });

  it('the script calls the endpoints the paths file names, and nothing else', () => {
    const script = DASHBOARD_JS.body.toString('utf8');
    const called = [...script.matchAll(/'(\/_berth\/[^']*)'/g)].map((match) => match[1]).sort();
    assert.deepEqual(called, [DASHBOARD_ROUTES.passkeyAdd, DASHBOARD_ROUTES.passkeyAddOptions, DASHBOARD_ROUTES.passkeySignIn, DASHBOARD_ROUTES.passkeySignInOptions].sort());
  });

  it('the stylesheet and script are small and need no inline code', () => {
    const script = DASHBOARD_JS.body.toString('utf8');
    assert.ok(!/\beval\(|new Function|innerHTML|\.style\b|setAttribute\('style'/.test(script), 'nothing the CSP would block, and no markup from strings');
    assert.ok(DASHBOARD_JS.gzip.length < 6 * 1024, `${DASHBOARD_JS.gzip.length} bytes gzipped`);
    assert.ok(DASHBOARD_CSS.gzip.length < 6 * 1024, `${DASHBOARD_CSS.gzip.length} bytes gzipped`);
  });
});
