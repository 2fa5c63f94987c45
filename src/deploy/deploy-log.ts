import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stripAnsi } from '../log/strip-ansi.ts';

/** Where a deploy's log lives: `data_dir/logs/deploys/<id>.log`. */
export function deployLogPath(dataDir: string, deployId: string): string {
  return join(dataDir, 'logs', 'deploys', `${deployId}.log`);
}

/** Bytes of log kept per deploy; past this, one marker line and nothing more. */
export const DEPLOY_LOG_LIMIT = 20 * 1024 * 1024;

export interface DeployLog {
  /** Appends one line, stamped with the time since the deploy started. */
  line(text: string): void;
  /**
   * Ends the file once every line given so far was written or has failed.
   * Never rejects: resolves with the write error that stopped the log (a
   * full disk, say), if one did, so a caller can tell the log is incomplete.
   */
  close(): Promise<Error | undefined>;
}

/**
 * A deploy's log file. Every line is stamped (`[  12.345s] …`) so a slow
 * phase shows; the size is capped so a build that prints without end cannot
 * fill the disk. `echo` also receives each stamped line (progress on a terminal).
 */
export async function openDeployLog(dataDir: string, deployId: string, echo?: (line: string) => void): Promise<DeployLog> {
  const file = deployLogPath(dataDir, deployId);
  await mkdir(join(dataDir, 'logs', 'deploys'), { recursive: true });
  const stream: WriteStream = createWriteStream(file, { flags: 'a', mode: 0o640 });
  const started = performance.now();
  let written = 0;
  let capped = false;
  let failure: Error | undefined;
  // A full disk must cost the log, not the process: stop writing, keep deploying.
  stream.on('error', (error) => {
    capped = true;
    failure ??= error;
  });
  return {
    line(text) {
      if (capped) return;
      const stamp = ((performance.now() - started) / 1000).toFixed(3).padStart(8);
      // The file is read later, in a pager or a browser: a build's colour codes are kept only for the echo (a terminal).
      let entry = `[${stamp}s] ${stripAnsi(text)}\n`;
      let echoed = `[${stamp}s] ${text}\n`;
      if (written + Buffer.byteLength(entry) > DEPLOY_LOG_LIMIT) {
        capped = true;
        entry = `[${stamp}s] (log limit of ${DEPLOY_LOG_LIMIT} bytes reached; further output is not kept)\n`;
        echoed = entry;
      }
      written += Buffer.byteLength(entry);
      stream.write(entry);
      echo?.(echoed);
    },
    close() {
      if (stream.closed) return Promise.resolve(failure);
      // 'close' comes after 'finish' or after 'error' (the listener above has then recorded it).
      return new Promise((resolve) => {
        stream.once('close', () => resolve(failure));
        if (!stream.destroyed) stream.end();
      });
    },
  };
}
