import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedEncodings } from '../../src/static/accept-encoding.ts';

const cases: Array<[string | undefined, { br: boolean; gzip: boolean }]> = [
  [undefined, { br: false, gzip: false }],
  ['', { br: false, gzip: false }],
  ['gzip, deflate, br, zstd', { br: true, gzip: true }],
  ['gzip', { br: false, gzip: true }],
  ['br', { br: true, gzip: false }],
  ['x-gzip', { br: false, gzip: true }],
  ['brotli, gzipx', { br: false, gzip: false }],
  ['br;q=0, gzip;q=0.5', { br: false, gzip: true }],
  ['*', { br: true, gzip: true }],
  ['*;q=0', { br: false, gzip: false }],
  ['br;q=0, *', { br: false, gzip: true }],
  ['identity', { br: false, gzip: false }],
  ['GZIP, BR', { br: true, gzip: true }],
  [`${'x'.repeat(600)}, br`, { br: false, gzip: false }],
];

for (const [header, expected] of cases) {
  test(`acceptedEncodings(${JSON.stringify(header)?.slice(0, 40)})`, () => {
    assert.deepEqual({ ...acceptedEncodings(header) }, expected);
  });
}
