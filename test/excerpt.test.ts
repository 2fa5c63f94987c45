import assert from 'node:assert/strict';
import { test } from 'node:test';
import { excerpt, EXCERPT_MAX_CHARS } from '../src/excerpt.ts';

test('excerpt() quotes a short line as it is', () => {
  assert.equal(excerpt('/* X-Frame-Options: DENY'), '"/* X-Frame-Options: DENY"');
});

test('excerpt() cuts a long line so a file cannot be quoted whole', () => {
  const key = `-----BEGIN PRIVATE KEY-----${'A'.repeat(2000)}`;
  const quoted = excerpt(key);
  assert.equal(quoted, `"${key.slice(0, EXCERPT_MAX_CHARS)}…"`);
  assert.ok(quoted.length <= EXCERPT_MAX_CHARS + 3);
});

test('excerpt() makes control, escape and bidirectional characters visible', () => {
  assert.equal(excerpt('a\x1b[31mb\r\n\u202ec"\\'), '"a\\x1b[31mb\\x0d\\x0a\\u{202e}c\\"\\\\"');
});

test('excerpt() counts characters, not UTF-16 units, so it never splits a pair', () => {
  const quoted = excerpt('😀'.repeat(50), 3);
  assert.equal(quoted, '"😀😀😀…"');
});
