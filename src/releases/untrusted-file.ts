import { constants, type BigIntStats } from 'node:fs';
import { open, readlink, type FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { BerthError, type ErrorCode } from '../errors.ts';

/**
 * Opening a file that a repository or a build controls (a checkout's
 * `package.json`, a build output's `_headers` or any file it publishes),
 * while Berth may be root.
 *
 * Such a file can be a symbolic link to a private key, a FIFO that blocks a
 * reader forever, a link to `/dev/zero` that never ends, and any directory on
 * its path can be swapped for a link by a build process between a check and
 * a use. So a file is opened once, and everything is checked on what was
 * opened rather than on the path:
 *
 * - `O_NOFOLLOW`: the last component is not followed when it is a link;
 *   `O_NONBLOCK`: opening a FIFO returns at once instead of waiting for a
 *   writer; `O_NOCTTY`: a terminal never becomes ours.
 * - `fstat` on the handle: only a regular file within the size cap is read,
 *   and, when the caller walked the tree first, it must be the very inode the
 *   walk saw (device and inode number).
 * - `/proc/self/fd/<fd>` names where the opened file really is: it must be the
 *   root joined with the relative path, so a directory on the path that was
 *   (or became) a link is caught even though `O_NOFOLLOW` looks only at the
 *   last component.
 * - Hard links: a build user may hard-link a file it can read and write but
 *   does not own when `fs.protected_hardlinks` is 0. A regular file with more
 *   than one link is therefore refused unless `linksOwnedBy` owns it (the
 *   build's uid), so the check does not rest on that sysctl.
 *
 * Security limits: the root itself must be trusted (a real path whose parent
 * the build cannot change; callers pass a `realpath`); opening a device node
 * reached through a directory swapped for a link has already happened when
 * the path check refuses it (nothing is read from it, and the flags above keep
 * the open from blocking or taking a terminal). Where `/proc` is missing on
 * Linux the path check fails closed; on other systems it is skipped and only
 * the inode check guards against swaps.
 */

export interface OpenUntrustedOptions {
  /** Larger files are refused without reading them. */
  maxBytes: number;
  /** The file as messages name it, e.g. `the repository's package.json`. */
  label: string;
  /** Code of the error for a refused file. */
  code: ErrorCode;
  /** Code when the refusal is about a symbolic link; defaults to `code`. */
  linkCode?: ErrorCode;
  /** The device and inode an earlier `lstat` of the same path saw (see walkSource). */
  expected?: { dev: bigint; ino: bigint };
  /**
   * A regular file with more than one hard link is accepted only when this
   * uid owns it. Undefined: every multiply-linked file is refused.
   * `'any'`: not checked (a directory the operator named, not a build's).
   */
  linksOwnedBy?: number | 'any';
}

export interface UntrustedFile {
  handle: FileHandle;
  size: number;
  mtimeMs: number;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Opens `relPath` below `root` as described above. Returns undefined when
 * there is no such file (or a path component is not a directory); throws a
 * `BerthError` with `options.code` for anything refused. The caller closes
 * the handle.
 *
 * @param root an absolute path with no symbolic link in it (a `realpath`)
 * @param relPath `/`-separated, no `.`, `..` or empty segments
 */
export async function openUntrusted(root: string, relPath: string, options: OpenUntrustedOptions): Promise<UntrustedFile | undefined> {
  checkRelative(root, relPath);
  const refuse = (why: string, link = false): BerthError =>
    new BerthError(link ? (options.linkCode ?? options.code) : options.code, `${options.label} ${why}`);
  const expectedPath = join(root, relPath);
  let handle: FileHandle;
  try {
    handle = await open(expectedPath, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw refuse(`is a symbolic link; ${NO_LINKS}`, true);
    // A socket cannot be opened (ENXIO); nothing else is expected here.
    if (code === 'ENXIO') throw refuse(`is a socket, not a regular file; ${REGULAR_ONLY}`);
    throw new BerthError(options.code, `cannot read ${options.label}: ${code ?? String(error)}`, { cause: error });
  }
  try {
    const info = await handle.stat({ bigint: true });
    if (!info.isFile()) throw refuse(`is ${kindOf(info)}, not a regular file; ${REGULAR_ONLY}`);
    if (options.expected !== undefined && (info.dev !== options.expected.dev || info.ino !== options.expected.ino)) {
      throw refuse(`was replaced while Berth read the folder (a build process still running?); ${NO_LINKS}`, true);
    }
    if (!(await isWhereExpected(handle, expectedPath, options.code))) {
      throw refuse(`is reached through a symbolic link (a directory on its path is, or became, one); ${NO_LINKS}`, true);
    }
    if (info.nlink > 1n && options.linksOwnedBy !== 'any' && (options.linksOwnedBy === undefined || info.uid !== BigInt(options.linksOwnedBy))) {
      throw refuse(
        `has ${info.nlink} hard links and belongs to uid ${info.uid}, not to the build's user; Berth does not read a file that may be a second name for one the build may not read, write a copy instead`,
      );
    }
    if (info.size > BigInt(options.maxBytes)) throw refuse(`is ${info.size} bytes; the limit is ${formatBytes(options.maxBytes)}`);
    return { handle, size: Number(info.size), mtimeMs: Number(info.mtimeMs) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Reads a whole file opened with `openUntrusted`: at most `maxBytes`, so a
 * file that grows while it is read is refused instead of read without end.
 * Returns undefined when there is no such file.
 */
export async function readUntrustedFile(root: string, relPath: string, options: OpenUntrustedOptions): Promise<Buffer | undefined> {
  const file = await openUntrusted(root, relPath, options);
  if (file === undefined) return undefined;
  try {
    // Sized from fstat, plus one byte: reading more than that means the file grew.
    const chunks: Buffer[] = [];
    let chunk = Buffer.alloc(file.size + 1);
    let used = 0;
    let total = 0;
    for (;;) {
      if (used === chunk.length) {
        chunks.push(chunk);
        chunk = Buffer.alloc(Math.min(GROWTH_CHUNK, options.maxBytes + 1 - total));
        used = 0;
      }
      const { bytesRead } = await file.handle.read(chunk, used, chunk.length - used, total);
      if (bytesRead === 0) break;
      used += bytesRead;
      total += bytesRead;
      if (total > options.maxBytes) {
        throw new BerthError(options.code, `${options.label} grew past ${formatBytes(options.maxBytes)} while it was read; the limit is ${formatBytes(options.maxBytes)}`);
      }
    }
    chunks.push(chunk.subarray(0, used));
    return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
  } finally {
    await file.handle.close();
  }
}

/** Read size once a file turns out larger than its fstat said. */
const GROWTH_CHUNK = 64 * 1024;

const NO_LINKS = 'Berth follows no link in files a repository or a build controls, make it a regular file';
const REGULAR_ONLY = 'Berth reads only regular files from a repository or a build, make it one';

async function isWhereExpected(handle: FileHandle, expectedPath: string, code: ErrorCode): Promise<boolean> {
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${handle.fd}`);
  } catch (error) {
    if (process.platform !== 'linux') return true;
    throw new BerthError(code, `cannot check where an opened file is: /proc/self/fd is not readable (${(error as NodeJS.ErrnoException).code ?? String(error)}); mount /proc`, { cause: error });
  }
  return actual === expectedPath;
}

function checkRelative(root: string, relPath: string): void {
  const segments = relPath.split('/');
  if (!isAbsolute(root) || relPath.includes('\0') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new Error(`openUntrusted needs an absolute root and a plain relative path, got ${JSON.stringify(root)} and ${JSON.stringify(relPath)}`);
  }
}

function kindOf(info: BigIntStats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'a special file';
}

function formatBytes(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}
