import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseStatusRss } from '../../bench/lib/proc-memory.ts';

/** The resident memory of a running process, in bytes, from /proc (as the benchmarks read it). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = parseStatusRss(status);
  assert.ok(kib !== undefined, status);
  return kib * 1024;
}
