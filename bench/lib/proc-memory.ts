/**
 * Memory of one process from /proc, in KiB: VmRSS from `status` (what `ps`
 * and `top` show; pages shared with other processes count in each of them)
 * and the proportional set size from `smaps_rollup` (each shared page split
 * among the processes that map it, so the PSS of a tree adds up to what the
 * tree really holds).
 */
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  rssKiB: number;
  pssKiB: number;
  /** PSS split by kind: anonymous (heap, stacks), file-backed (binary, libraries), shared memory. */
  pssAnonKiB?: number;
  pssFileKiB?: number;
  pssShmemKiB?: number;
}

/** `Name:   1234 kB` lines of a /proc file, by name. */
function kbFields(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_]+):\s+(\d+) kB$/.exec(line.trim());
    if (m) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** VmRSS from /proc/<pid>/status text; undefined for a kernel thread or a garbled file. */
export function parseStatusRss(text: string): number | undefined {
  return kbFields(text).get('VmRSS');
}

/** Rss, Pss and the Pss split from /proc/<pid>/smaps_rollup text; undefined without Rss and Pss. */
export function parseSmapsRollup(text: string): ProcessMemory | undefined {
  const f = kbFields(text);
  const rss = f.get('Rss');
  const pss = f.get('Pss');
  if (rss === undefined || pss === undefined) return undefined;
  return { rssKiB: rss, pssKiB: pss, pssAnonKiB: f.get('Pss_Anon'), pssFileKiB: f.get('Pss_File'), pssShmemKiB: f.get('Pss_Shmem') };
}

/**
 * The memory of `pid`: VmRSS from `status` (the figure the target is stated
 * in) and PSS from `smaps_rollup`. Undefined once the process is gone.
 */
export function processMemory(pid: number): ProcessMemory | undefined {
  try {
    const rss = parseStatusRss(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const rollup = parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (rss === undefined || rollup === undefined) return undefined;
    return { ...rollup, rssKiB: rss };
  } catch {
    return undefined;
  }
}
