import { BerthError } from '../errors.ts';
import { readAtMost } from '../read-at-most.ts';
import type { PublishSource, SourceBody, SourceEntry } from './publish-source.ts';
import { openUntrusted, readUntrustedFile } from './untrusted-file.ts';
import { walkSource, type SourceFile } from './walk-source.ts';

export interface DirectorySourceOptions {
  /**
   * For a build's output: the work directory, which the folder must stay
   * inside once links are resolved (checked when the walk starts).
   */
  within?: string;
  /**
   * For a build's output: the uid the build ran as, whose multiply-linked
   * files are accepted (see openUntrusted). Undefined: a folder the operator
   * named, whose hard links are not checked.
   */
  buildUid?: number;
}

/** Chunk size for files too large to read whole. */
const STREAM_CHUNK = 1024 * 1024;

/**
 * A folder as a publish source: a build's output, or what `berth publish`
 * names. Listed by walkSource (links inside the folder to regular files are
 * published as copies, every other link refused); every file is then opened
 * with openUntrusted and must be the very inode the walk saw, since a build
 * process may still be changing the folder.
 *
 * The change key is the file's device, inode, size, modification and
 * status-change times: a file a build did not touch since the last publish
 * keeps all five, and any write, rename over it or chmod changes one.
 */
export async function directorySource(dir: string, options: DirectorySourceOptions = {}): Promise<PublishSource> {
  const walked = await walkSource(dir, { within: options.within });
  const byPath = new Map<string, SourceFile>(walked.files.map((file) => [file.relPath, file]));
  const linksOwnedBy = options.buildUid ?? 'any';
  const entries: SourceEntry[] = walked.files.map((file) => ({
    relPath: file.relPath,
    changeKey: `stat:${file.dev}:${file.ino}:${file.size}:${file.mtimeNs}:${file.ctimeNs}`,
    mtimeMs: file.mtimeMs,
  }));
  return {
    label: dir,
    entries: () => Promise.resolve(entries),
    async open(entry, wholeMaxBytes): Promise<SourceBody> {
      const file = byPath.get(entry.relPath);
      if (file === undefined) throw new Error(`directorySource: ${entry.relPath} was not listed`);
      const opened = await openUntrusted(walked.root, file.readPath, {
        maxBytes: Number.MAX_SAFE_INTEGER,
        label: file.readPath === file.relPath ? file.relPath : `${file.relPath} (a link to ${file.readPath})`,
        code: 'E_PUBLISH_SOURCE',
        linkCode: 'E_PUBLISH_SYMLINK',
        expected: { dev: file.dev, ino: file.ino },
        linksOwnedBy,
      });
      if (opened === undefined) {
        throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${file.relPath}: it disappeared while the folder was published; publish again once nothing writes to it`);
      }
      const { handle, size } = opened;
      if (size <= wholeMaxBytes) {
        try {
          // Read from the handle that was checked, never from the path again; at most the size fstat gave.
          const whole = await readAtMost(handle, size);
          return { whole, stream: undefined, size: whole.length, close: () => handle.close() };
        } catch (error) {
          await handle.close();
          throw error;
        }
      }
      const stream = async (onChunk: (chunk: Buffer) => Promise<void>): Promise<void> => {
        // The size fstat gave, no more: a file a build process still appends to cannot make this read without end.
        let position = 0;
        while (position < size) {
          const chunk = Buffer.alloc(Math.min(STREAM_CHUNK, size - position));
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
          if (bytesRead === 0) break;
          position += bytesRead;
          await onChunk(chunk.subarray(0, bytesRead));
        }
        if (position < size) {
          throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${entry.relPath}: it shrank while it was read; publish again once nothing writes to it`);
        }
      };
      return { whole: undefined, stream, size, close: () => handle.close() };
    },
    async readRules(name, limits) {
      return readUntrustedFile(walked.root, name, {
        maxBytes: limits.maxBytes,
        label: `${name} in the published folder`,
        code: limits.code,
        linkCode: 'E_PUBLISH_SYMLINK',
        linksOwnedBy,
      });
    },
  };
}
