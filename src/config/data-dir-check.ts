import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface DataDirCheck {
  /** Also require that this process may create and change files in it (what `berth serve` needs). */
  writable: boolean;
}

/**
 * What is wrong with `data_dir` for this process, or undefined. A data
 * directory that does not exist yet is fine when it can be created: the
 * nearest existing directory above it is what must be writable then.
 *
 * Limit: writability is judged by access(2) for the user running the check;
 * `berth check` run as another user than `berth serve` answers for itself.
 */
export async function dataDirProblem(dataDir: string, options: DataDirCheck): Promise<string | undefined> {
  const user = describeUser();
  for (let current = dataDir; ; current = dirname(current)) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(current)).isDirectory();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Missing (or under a file, found further up): look at the parent.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(current) !== current) continue;
      if (code === 'EACCES' || code === 'EPERM') {
        return `${dataDir} cannot be reached: a directory above it may not be entered by ${user}; let that user in, or choose another data_dir`;
      }
      return `${dataDir} cannot be examined: ${code ?? String(error)}`;
    }
    if (!isDirectory) {
      return current === dataDir
        ? `${dataDir} is a file, not a directory; point data_dir at a directory (Berth creates it if it is missing), or move the file away`
        : `${dataDir} cannot be created because ${current} is a file, not a directory; choose a data_dir under a directory`;
    }
    if (!options.writable) return undefined;
    try {
      await access(current, constants.W_OK | constants.X_OK);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'EROFS' ? 'is on a read-only file system' : `is not writable by ${user}`;
      return current === dataDir
        ? `${dataDir} ${reason}; make it writable (e.g. chown it to the user berth runs as), or choose another data_dir`
        : `${dataDir} does not exist and cannot be created: ${current} ${reason}; create ${dataDir} for the user berth runs as, or choose another data_dir`;
    }
    return undefined;
  }
}

function describeUser(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `this user (uid ${uid})`;
}
