import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';

describe('parseDuration()', () => {
  it('reads each unit into milliseconds', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
  });

  it('adds up several parts and accepts fractions', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1h2m3s4ms'), 3_723_004);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration('0s'), 0);
  });

  it('refuses anything else', () => {
    for (const text of ['', '10', '10 s', ' 10s', 's', '-1s', '10sec', '1d', '1.s', '10S', '1e3ms']) {
      assert.equal(parseDuration(text), undefined, text);
    }
  });
});

describe('formatDuration()', () => {
  it('uses the largest unit that divides evenly', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(10_000), '10s');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(120_000), '2m');
    assert.equal(formatDuration(7_200_000), '2h');
  });
});
