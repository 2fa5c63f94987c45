import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { onCleanup } from './cleanup.ts';

const run = promisify(execFile);

export interface ServiceAccount {
  name: string;
  uid: number;
  gid: number;
}

/**
 * A real system account (useradd --system, no home, no login shell) made for
 * one test and removed when it ends, to run Berth's own processes as. Its
 * name is random so tests running at once never share one.
 */
export async function serviceAccount(t: TestContext): Promise<ServiceAccount> {
  const name = `berth-t${randomBytes(4).toString('hex')}`;
  await withPasswdLock(() => run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group', name]));
  onCleanup(t, () => withPasswdLock(() => run('userdel', [name])));
  const uid = Number((await run('id', ['-u', name])).stdout.trim());
  const gid = Number((await run('id', ['-g', name])).stdout.trim());
  return { name, uid, gid };
}

/** useradd and userdel give up at once when another one holds /etc/passwd's lock (exit 10): try again. */
async function withPasswdLock<T>(change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await change();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (attempt >= 50 || (code !== 10 && code !== 1)) throw error;
      await sleep(100);
    }
  }
}
