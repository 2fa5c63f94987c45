import assert from 'node:assert/strict';
import { gzipSync, brotliDecompressSync, gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { get, getH2, startTestServer, type SimpleResponse } from '../helpers/server.ts';

// A site that ships its own compressed files (vite-plugin-compression, astro-compress do): one
// that is not gzip at all, and one that is gzip of other bytes than its name suggests.
const appJs = Buffer.from(`export const greeting = ${JSON.stringify('hello '.repeat(400))};\n`);
const ownGz = Buffer.from('this is not gzip, whatever the name says\n'.repeat(10));
const ownBr = gzipSync(Buffer.from('gzip of something else entirely\n'.repeat(20)));
const files = { 'index.html': '<!doctype html><title>own</title>', 'app.js': appJs, 'app.js.gz': ownGz, 'app.js.br': ownBr };

const ENCODINGS = [undefined, 'identity', 'gzip', 'br', 'gzip, br', 'br;q=1, gzip;q=0.5', '*'];

/** The bytes the answer stands for: the body decoded by its Content-Encoding. */
function decoded(reply: SimpleResponse): Buffer {
  const encoding = reply.headers['content-encoding'];
  if (encoding === 'gzip') return gunzipSync(reply.body);
  if (encoding === 'br') return brotliDecompressSync(reply.body);
  assert.equal(encoding, undefined);
  return reply.body;
}

test('a site\'s own app.js.gz and app.js.br are served as themselves, and Berth\'s compressed app.js as app.js, under every Accept-Encoding', async (t) => {
  const server = await startTestServer(t, { files: { site: files } });
  for (const [path, expected] of [['/app.js', appJs], ['/app.js.gz', ownGz], ['/app.js.br', ownBr]] as const) {
    for (const acceptEncoding of ENCODINGS) {
      const headers: Record<string, string> = acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding };
      for (const [protocol, reply] of [['HTTP/1.1', await get(server.httpPort, path, headers)], ['HTTP/2', await getH2(server.httpsPort, path, headers)]] as const) {
        const context = `${protocol} ${path} with Accept-Encoding ${acceptEncoding ?? '(none)'}`;
        assert.equal(reply.status, 200, context);
        assert.equal(Number(reply.headers['content-length']), reply.body.length, `${context}: Content-Length is the body's length`);
        assert.ok(decoded(reply).equals(expected), `${context}: the file's own bytes`);
      }
    }
  }
  // Berth's own variants of app.js are there, and are not the site's files.
  const gz = await get(server.httpPort, '/app.js', { 'accept-encoding': 'gzip' });
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.ok(!gz.body.equals(ownGz));
  const ownAsGzip = await get(server.httpPort, '/app.js.gz', { 'accept-encoding': 'gzip' });
  assert.equal(ownAsGzip.headers['content-encoding'], undefined, 'a site\'s .gz file is not sent as an encoding of anything');
});
