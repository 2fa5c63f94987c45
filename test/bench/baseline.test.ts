import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baselineLabel, baselineRef, DEFAULT_BASELINE } from '../../bench/lib/baseline.ts';

test('BENCH_BASELINE unset or empty is the commit before issue 13; 0 or none turns it off', () => {
  assert.equal(baselineRef(undefined), DEFAULT_BASELINE);
  assert.equal(baselineRef(' '), DEFAULT_BASELINE);
  assert.equal(baselineRef('0'), undefined);
  assert.equal(baselineRef('None'), undefined);
  assert.equal(baselineRef(' v0.1.0 '), 'v0.1.0');
});

test('the default commit is labelled by what it comes before, any other by its id', () => {
  assert.equal(baselineLabel(DEFAULT_BASELINE, 'bb55809'), 'Berth before issue 13 (bb55809)');
  assert.equal(baselineLabel('HEAD~3', '1a2b3c4'), 'Berth at 1a2b3c4');
});
