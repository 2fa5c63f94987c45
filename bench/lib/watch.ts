/**
 * Watching a deploy from outside: poll a page until it carries a marker,
 * and sample a process tree's memory from /proc while something happens.
 */
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { get } from './client.ts';
import { processTree, procKiB } from './proc.ts';

export interface MarkerSeen {
  /** performance.now() when the answer carrying the marker had arrived; undefined if it never did. */
  at: number | undefined;
  polls: number;
  /** Answers other than 200, and request errors, while polling. */
  failures: number;
  lastStatus: number;
}

/**
 * GETs `url` every `intervalMs` (measured from one request's start to the
 * next; back to back when a request takes longer) on one keep-alive
 * connection until the body contains `needle`, `timeoutMs` passes, or
 * `giveUp` (e.g. the server process has exited) says there is no point.
 */
export async function waitForMarker(url: string, needle: string, o: { intervalMs: number; timeoutMs: number; giveUp?: () => boolean }): Promise<MarkerSeen> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = performance.now() + o.timeoutMs;
  const seen: MarkerSeen = { at: undefined, polls: 0, failures: 0, lastStatus: 0 };
  try {
    while (performance.now() < deadline && !(o.giveUp?.() ?? false)) {
      const started = performance.now();
      seen.polls++;
      try {
        const r = await get(url, { agent, timeoutMs: 10_000 });
        seen.lastStatus = r.status;
        if (r.status !== 200) seen.failures++;
        else if (r.body.includes(needle)) {
          seen.at = performance.now();
          return seen;
        }
      } catch {
        seen.failures++;
        seen.lastStatus = 0;
      }
      const wait = started + o.intervalMs - performance.now();
      if (wait > 0) await sleep(wait);
    }
    return seen;
  } finally {
    agent.destroy();
  }
}

/** The body of `url` now, or an empty string on any failure. */
export async function bodyOf(url: string): Promise<string> {
  try {
    const agent = new http.Agent({ keepAlive: false });
    const r = await get(url, { agent, timeoutMs: 10_000 });
    return r.status === 200 ? r.body.toString() : '';
  } catch {
    return '';
  }
}

export interface RssSummary {
  samples: number;
  /** The root process's own VmRSS, KiB. */
  peakMainKiB: number;
  /** VmRSS summed over the root and all its descendants at one instant, KiB. */
  peakTreeKiB: number;
  /** Most processes in the tree at one instant (the root included). */
  maxProcesses: number;
  /** Most processes named `countName` (e.g. `sleep`, the benchmark's build) in the tree at one instant. */
  maxNamed: number;
  /** The root's VmHWM (kernel-kept peak since it started), KiB, read at the end. */
  hwmKiB: number | undefined;
}

export interface RssSampler {
  stop(): RssSummary;
}

/**
 * Reads VmRSS of `pid` and its descendants every `intervalMs` until stopped.
 * A child that exits between listing and reading is skipped.
 */
export function sampleRss(pid: number, intervalMs: number, countName?: string): RssSampler {
  const s: RssSummary = { samples: 0, peakMainKiB: 0, peakTreeKiB: 0, maxProcesses: 0, maxNamed: 0, hwmKiB: undefined };
  const take = () => {
    const tree = processTree(pid);
    let sum = 0;
    let main = 0;
    let named = 0;
    for (const p of tree) {
      const kib = procKiB(p);
      if (kib !== undefined) {
        if (p === pid) main = kib;
        sum += kib;
      }
      if (countName !== undefined && p !== pid && commOf(p) === countName) named++;
    }
    s.samples++;
    s.peakMainKiB = Math.max(s.peakMainKiB, main);
    s.peakTreeKiB = Math.max(s.peakTreeKiB, sum);
    s.maxProcesses = Math.max(s.maxProcesses, tree.length);
    s.maxNamed = Math.max(s.maxNamed, named);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      s.hwmKiB = procKiB(pid, 'VmHWM');
      return { ...s };
    },
  };
}

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Lines of a file, or none if it does not exist yet. */
export function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

export interface RequestAllResult {
  requests: number;
  /** Answers other than 200, and request errors. */
  failures: number;
  ms: number;
}

/**
 * GETs every path once, over `connections` keep-alive connections at once,
 * asking for compressed answers as browsers do. For memory readings: what a
 * server holds once every file has been asked for.
 */
export async function requestAll(url: (path: string) => string, paths: readonly string[], connections = 8): Promise<RequestAllResult> {
  const t0 = performance.now();
  let next = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        while (next < paths.length) {
          const path = paths[next++] as string;
          try {
            const r = await get(url(path), { agent, timeoutMs: 30_000, headers: { 'accept-encoding': 'br, gzip' } });
            if (r.status !== 200) failures++;
          } catch {
            failures++;
          }
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return { requests: paths.length, failures, ms: performance.now() - t0 };
}

/**
 * After a marker first shows on one connection: polls `url` on a new
 * connection each time (each may land on another serving worker) until
 * `streak` answers in a row carry `needle`. Returns performance.now() at the
 * first answer of that run, from which on every answer seen was the new one;
 * undefined if no such run came within `timeoutMs`.
 */
export async function waitForEveryAnswer(url: string, needle: string, o: { streak: number; intervalMs: number; timeoutMs: number }): Promise<number | undefined> {
  const deadline = performance.now() + o.timeoutMs;
  let run = 0;
  let runStart = 0;
  while (performance.now() < deadline) {
    const started = performance.now();
    let has: boolean;
    try {
      const r = await get(url, { headers: { connection: 'close' }, timeoutMs: 10_000 });
      has = r.status === 200 && r.body.includes(needle);
    } catch {
      has = false;
    }
    if (has) {
      if (run === 0) runStart = performance.now();
      run++;
      if (run >= o.streak) return runStart;
    } else run = 0;
    const wait = started + o.intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return undefined;
}
