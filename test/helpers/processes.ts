import { readdirSync, readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';

export interface ProcessInfo {
  pid: number;
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  pgid: number;
  sid: number;
  state: string;
}

/** Every process on the machine that is not a zombie, read from /proc. */
export function livingProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    let stat: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended while we looked
    }
    // "pid (comm) state ppid pgrp session …"; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0] ?? '';
    if (state === 'Z' || state === 'X') continue;
    const uids = (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').split(/\s+/).map(Number);
    found.push({ pid: Number(entry), uids, pgid: Number(fields[2]), sid: Number(fields[3]), state });
  }
  return found;
}

/** Pids of living processes with `uid` among their uids. */
export function livingPidsOf(uid: number): number[] {
  return livingProcesses()
    .filter((info) => info.uids.includes(uid))
    .map((info) => info.pid);
}

/**
 * A uid no account and no process uses, for a test build that may be killed
 * by uid without touching anything else on the machine. Whatever still runs
 * as it when the test ends is killed (a failing test must not leave sleeps).
 */
export function freshUid(t: TestContext): number {
  for (;;) {
    const uid = 200_000 + Math.floor(Math.random() * 100_000);
    if (readFileSync('/etc/passwd', 'utf8').includes(`:${uid}:`) || livingPidsOf(uid).length > 0) continue;
    t.after(() => {
      for (const pid of livingPidsOf(uid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    });
    return uid;
  }
}
