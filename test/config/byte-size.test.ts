import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatByteSize, parseByteSize } from '../../src/config/byte-size.ts';

describe('parseByteSize()', () => {
  it('takes a whole number as bytes', () => {
    assert.equal(parseByteSize(0), 0);
    assert.equal(parseByteSize(16_384), 16_384);
    assert.equal(parseByteSize('16384'), 16_384);
  });

  it('reads decimal and binary units without regard to case', () => {
    assert.equal(parseByteSize('512B'), 512);
    assert.equal(parseByteSize('16KiB'), 16_384);
    assert.equal(parseByteSize('16KB'), 16_000);
    assert.equal(parseByteSize('16kib'), 16_384);
    assert.equal(parseByteSize('1MiB'), 1_048_576);
    assert.equal(parseByteSize('1MB'), 1_000_000);
    assert.equal(parseByteSize('2GiB'), 2_147_483_648);
    assert.equal(parseByteSize('1 GB'), 1_000_000_000);
  });

  it('accepts a fraction that comes to whole bytes', () => {
    assert.equal(parseByteSize('1.5KiB'), 1_536);
    assert.equal(parseByteSize('1.1KB'), 1_100);
    assert.equal(parseByteSize('1.5B'), undefined);
  });

  it('refuses anything else', () => {
    for (const value of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '', 'KiB', '16 KiB ', '16  KiB', '16K', '16TB', '-16KiB', '0x10', '1e3']) {
      assert.equal(parseByteSize(value), undefined, String(value));
    }
  });
});

describe('formatByteSize()', () => {
  it('uses the largest binary unit that divides evenly', () => {
    assert.equal(formatByteSize(0), '0B');
    assert.equal(formatByteSize(1_000), '1000B');
    assert.equal(formatByteSize(16_384), '16KiB');
    assert.equal(formatByteSize(1_048_576), '1MiB');
    assert.equal(formatByteSize(3_221_225_472), '3GiB');
  });
});
