import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/**
 * Writes a file so that readers see the old content or the new, never a
 * half-written one: a temporary file beside it, flushed, then renamed over.
 * Directories are created 0700 and the file 0600 (keys and certificates).
 * With `owner` (a root process writing for the service user) the file is
 * given to that user before it takes the old one's place.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600, owner?: { uid: number; gid: number }): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
