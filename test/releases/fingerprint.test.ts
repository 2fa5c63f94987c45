import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFingerprinted } from '../../src/releases/fingerprint.ts';
import { contentTypeFor, isCompressible } from '../../src/releases/content-type.ts';

test('isFingerprinted recognises the hashes bundlers emit', () => {
  for (const path of [
    '/_astro/index.BX3kd9_a.css',
    '/_astro/hoisted.Cq8TbZkx.js',
    '/assets/index-DiwrgTda.js',
    '/assets/logo-4f2a9c1b.svg',
    '/main.3f2a9c1b.js',
    '/css/main.min.8d3e1f0a9b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6.css',
    '/static/js/main.8f1d2c3b.chunk.js',
  ]) {
    assert.equal(isFingerprinted(path), true, path);
  }
});

test('isFingerprinted leaves ordinary names alone', () => {
  for (const path of [
    '/index.html',
    '/style.css',
    '/assets/logo-wordmark.svg',
    '/assets/My-Document.pdf',
    '/downloads/report-deadbeef.pdf', // hex but no digit
    '/blog/2024-01-15.html',
    '/app.js',
    '/_astro/client.js',
  ]) {
    assert.equal(isFingerprinted(path), false, path);
  }
});

test('contentTypeFor uses the extension, with a charset for text', () => {
  assert.equal(contentTypeFor('/a/index.html'), 'text/html; charset=utf-8');
  assert.equal(contentTypeFor('/A.CSS'), 'text/css; charset=utf-8');
  assert.equal(contentTypeFor('/x.woff2'), 'font/woff2');
  assert.equal(contentTypeFor('/feed.xml'), 'application/xml; charset=utf-8');
  assert.equal(contentTypeFor('/noext'), 'application/octet-stream');
  assert.equal(contentTypeFor('/.hidden'), 'application/octet-stream');
  assert.equal(contentTypeFor('/dir.d/file'), 'application/octet-stream');
});

test('isCompressible picks text and leaves compressed formats', () => {
  assert.equal(isCompressible('text/html; charset=utf-8'), true);
  assert.equal(isCompressible('application/json; charset=utf-8'), true);
  assert.equal(isCompressible('application/rss+xml; charset=utf-8'), true);
  assert.equal(isCompressible('image/svg+xml; charset=utf-8'), true);
  assert.equal(isCompressible('font/ttf'), true);
  assert.equal(isCompressible('font/woff2'), false);
  assert.equal(isCompressible('image/png'), false);
  assert.equal(isCompressible('application/zip'), false);
});
