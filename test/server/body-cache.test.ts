import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBodyCache, ENTRY_OVERHEAD } from '../../src/server/body-cache.ts';

test('many tiny bodies are bounded by what each entry costs, not by their bytes alone', () => {
  const limit = 64 * 1024;
  const cache = createBodyCache(limit);
  for (let i = 0; i < 10_000; i++) assert.equal(cache.set(`key-${i}`, Buffer.from(`body ${i}`)), true);
  const stats = cache.stats();
  assert.ok(stats.bytes <= limit, `${stats.bytes} bytes charged, over ${limit}`);
  // Counted by their bodies only, all 10,000 (under 100 KiB of bodies) would be held.
  assert.ok(stats.entries <= Math.floor(limit / ENTRY_OVERHEAD), `${stats.entries} entries held`);
  assert.ok(stats.entries > limit / (ENTRY_OVERHEAD + 16) - 1, `the cache is filled (${stats.entries} entries)`);
  // The newest entries are the ones held; the oldest were evicted and are misses.
  assert.equal(cache.get('key-9999')?.toString(), 'body 9999');
  assert.equal(cache.get('key-0'), undefined);
});
