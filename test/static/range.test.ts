import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from '../../src/static/range.ts';

const cases: Array<[string, string | undefined, number, ReturnType<typeof parseRange>]> = [
  ['no header means the whole file', undefined, 100, { kind: 'none' }],
  ['a closed range', 'bytes=0-9', 100, { kind: 'range', start: 0, end: 9 }],
  ['an open range runs to the end', 'bytes=90-', 100, { kind: 'range', start: 90, end: 99 }],
  ['a suffix range takes the last bytes', 'bytes=-10', 100, { kind: 'range', start: 90, end: 99 }],
  ['a suffix longer than the file takes it all', 'bytes=-500', 100, { kind: 'range', start: 0, end: 99 }],
  ['an end past the file is clamped', 'bytes=50-1000', 100, { kind: 'range', start: 50, end: 99 }],
  ['the unit is case-insensitive', 'Bytes=0-0', 100, { kind: 'range', start: 0, end: 0 }],
  ['a start past the end is unsatisfiable', 'bytes=100-', 100, { kind: 'unsatisfiable' }],
  ['a zero suffix is unsatisfiable', 'bytes=-0', 100, { kind: 'unsatisfiable' }],
  ['any range of an empty file is unsatisfiable', 'bytes=0-', 0, { kind: 'unsatisfiable' }],
  ['several ranges get the whole file', 'bytes=0-1,5-6', 100, { kind: 'none' }],
  ['an end before the start is ignored', 'bytes=9-1', 100, { kind: 'none' }],
  ['another unit is ignored', 'items=0-1', 100, { kind: 'none' }],
  ['garbage is ignored', 'bytes=abc', 100, { kind: 'none' }],
  ['a bare dash is ignored', 'bytes=-', 100, { kind: 'none' }],
  ['negative numbers are ignored', 'bytes=-5-10', 100, { kind: 'none' }],
  ['numbers beyond safe integers are ignored', 'bytes=0-99999999999999999999999', 100, { kind: 'none' }],
  ['an oversized header is ignored', `bytes=0-1${' '.repeat(300)}`, 100, { kind: 'none' }],
];

for (const [name, header, size, expected] of cases) {
  test(`parseRange: ${name}`, () => {
    assert.deepEqual(parseRange(header, size), expected);
  });
}
