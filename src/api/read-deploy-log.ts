import { constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { deployLogPath } from '../deploy/deploy-log.ts';

/**
 * A deploy's log as written so far, found by the deploy's id (checked by the
 * caller) and read without following a link; '' when there is none yet.
 */
export async function readDeployLog(dataDir: string, deployId: string): Promise<string> {
  try {
    return await readFile(deployLogPath(dataDir, deployId), { encoding: 'utf8', flag: constants.O_RDONLY | constants.O_NOFOLLOW });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}
