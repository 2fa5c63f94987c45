import type { TestContext } from 'node:test';
import { openAdminStore, type AdminStore } from '../../src/admin/admin-store.ts';
import { tempDir } from '../helpers/temp.ts';

/** An admin store in a fresh data dir, closed when the test ends. */
export async function adminStore(t: TestContext): Promise<{ store: AdminStore; dataDir: string }> {
  const dataDir = await tempDir(t, 'berth-admin-');
  const store = openAdminStore(dataDir);
  t.after(() => store.close());
  return { store, dataDir };
}

/** A clock for tests: a fixed start, moved on by hand. */
export function testClock(start = Date.UTC(2026, 11, 4, 12)): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
  };
}

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
