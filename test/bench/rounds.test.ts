import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, rotated, spread } from '../../bench/lib/rounds.ts';

test('median() takes the middle value of an odd count, whatever the order', () => {
  assert.equal(median([30, 10, 20]), 20);
  assert.equal(median([5]), 5);
});

test('median() takes the mean of the two middle values of an even count', () => {
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('median() of nothing is undefined, not NaN or 0', () => {
  assert.equal(median([]), undefined);
});

test('median() leaves the measurements in the order they were taken', () => {
  const values = [3, 1, 2];
  median(values);
  assert.deepEqual(values, [3, 1, 2]);
});

test('spread() gives the median, the lowest, the highest and the count', () => {
  assert.deepEqual(spread([120, 90, 100]), { median: 100, min: 90, max: 120, count: 3 });
  assert.deepEqual(spread([7]), { median: 7, min: 7, max: 7, count: 1 });
  assert.equal(spread([]), undefined);
});

test('rotated() puts each contender first once over as many rounds as contenders', () => {
  const servers = ['nginx', 'caddy', 'berth', 'berth-auto'];
  const orders = [0, 1, 2, 3].map((r) => rotated(servers, r));
  assert.deepEqual(orders[0], ['nginx', 'caddy', 'berth', 'berth-auto']);
  assert.deepEqual(orders[1], ['caddy', 'berth', 'berth-auto', 'nginx']);
  assert.deepEqual(orders[3], ['berth-auto', 'nginx', 'caddy', 'berth']);
  assert.deepEqual(new Set(orders.map((o) => o[0])), new Set(servers));
  for (const o of orders) assert.deepEqual([...o].sort(), [...servers].sort());
});

test('rotated() wraps around after the last contender and leaves its input alone', () => {
  const servers = ['a', 'b', 'c'];
  assert.deepEqual(rotated(servers, 4), ['b', 'c', 'a']);
  assert.deepEqual(servers, ['a', 'b', 'c']);
  assert.deepEqual(rotated([], 2), []);
});
