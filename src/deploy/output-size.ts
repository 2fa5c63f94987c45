import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatByteSize } from '../config/byte-size.ts';
import { BerthError } from '../errors.ts';

/**
 * Refuses a publish directory larger than `[sites.build] max_output_size`
 * before anything of it is copied into the data directory, so a build
 * cannot fill the disk that holds every site's releases and certificates.
 * Counts the bytes of regular files (what publishing copies), walking
 * without following links, and stops counting as soon as the limit is
 * passed. Called once the build's processes are gone, so nothing grows
 * the directory after it was measured. A missing directory measures 0:
 * publishing reports it.
 *
 * @throws BerthError `E_BUILD_OUTPUT_SIZE`
 */
export async function checkOutputSize(dir: string, maxBytes: number, shownAs: string): Promise<number> {
  let total = 0;
  const pending = [dir];
  for (let current = pending.pop(); current !== undefined; current = pending.pop()) {
    const entries = await readdir(current, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      // No publish directory at all: publishing says so, with the fix.
      if (current === dir && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return [];
      throw error;
    });
    for (const entry of entries) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
      } else if (entry.isFile()) {
        total += (await lstat(path)).size;
        if (total > maxBytes) throw outputSizeError(maxBytes, shownAs);
      }
    }
  }
  return total;
}

/** The refusal of a publish directory over `[sites.build] max_output_size` (also for one read from a commit). */
export function outputSizeError(maxBytes: number, shownAs: string): BerthError {
  return new BerthError(
    'E_BUILD_OUTPUT_SIZE',
    `The publish directory ${shownAs} holds more than ${formatByteSize(maxBytes)}, the limit set by [sites.build] max_output_size; nothing was published. Publish less (no source maps or node_modules), or raise max_output_size`,
  );
}
