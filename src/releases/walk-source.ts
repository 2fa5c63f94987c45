import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { BerthError } from '../errors.ts';

export interface SourceFile {
  /** Path relative to the source root, `/`-separated, no leading slash. */
  relPath: string;
  /** The file to read, relative to the real root (for a symlink: its target inside the root). */
  readPath: string;
  size: number;
  mtimeMs: number;
  /** Device and inode seen by the walk: publishing reads only this very file (see openUntrusted). */
  dev: bigint;
  ino: bigint;
  /** Modification and status-change times in nanoseconds: with dev, ino and size, what says the file is unchanged. */
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface WalkedSource {
  /** The root with every link resolved: what `readPath` is relative to. */
  root: string;
  files: SourceFile[];
}

export interface WalkSourceOptions {
  /**
   * The root must be inside this directory once links are resolved (for a
   * build's output: the work directory). Checked here, at the moment the
   * walk starts, because the build owns the folders in between.
   */
  within?: string;
}

/** Files Berth reads itself instead of publishing. */
export const CONTROL_FILES = new Set(['_redirects', '_headers']);

/**
 * Whether a path segment is published. Dotfiles and dot-directories (`.git`,
 * `.env`, editor leftovers) are private; `.well-known` is the one public
 * exception, since standards put files there (security.txt, assetlinks.json).
 */
export function isPublicSegment(segment: string): boolean {
  return !segment.startsWith('.') || segment === '.well-known';
}

/**
 * Lists every file to publish under `root`, sorted. A symlink is published
 * as a copy of what it points to when that is a regular file inside the
 * root (read at the target's own path); a link that leaves the root, or
 * points at a directory, is refused: following it could publish files the
 * site owner never meant to expose or loop forever.
 *
 * The walk only lists: a build process still running could change the tree
 * right after. Publishing therefore opens every file with `openUntrusted`,
 * which checks that it is the inode listed here, at the path listed here.
 */
export async function walkSource(root: string, options: WalkSourceOptions = {}): Promise<WalkedSource> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    if (!(await stat(realRoot)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${root}: it is not a readable directory; pass the build's output folder`, { cause: error });
  }
  if (options.within !== undefined) {
    const within = await realpath(options.within);
    if (realRoot !== within && !realRoot.startsWith(within + sep)) {
      throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${root}: it leads outside ${options.within} through a symbolic link; publish a directory inside it`);
    }
  }
  const files: SourceFile[] = [];
  await walkDir(realRoot, realRoot, '', files);
  files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return { root: realRoot, files };
}

async function walkDir(realRoot: string, dir: string, prefix: string, out: SourceFile[]): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter(
    (entry) => isPublicSegment(entry.name) && !(prefix === '' && CONTROL_FILES.has(entry.name)),
  );
  // The files of one directory are stat'ed together: a site is mostly many small files.
  const infos = await Promise.all(entries.map((entry) => (entry.isFile() ? lstat(join(dir, entry.name), { bigint: true }) : undefined)));
  for (const [index, entry] of entries.entries()) {
    const abs = join(dir, entry.name);
    const rel = prefix + entry.name;
    const info = infos[index];
    if (entry.isDirectory()) {
      await walkDir(realRoot, abs, `${rel}/`, out);
    } else if (entry.isFile() && info !== undefined) {
      out.push({ relPath: rel, readPath: rel, size: Number(info.size), mtimeMs: Number(info.mtimeMs), dev: info.dev, ino: info.ino, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs });
    } else if (entry.isSymbolicLink()) {
      out.push(await resolveLink(realRoot, abs, rel));
    } else {
      throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${rel}: it is not a regular file (a socket, FIFO or device); remove it from the output folder`);
    }
  }
}

async function resolveLink(realRoot: string, abs: string, rel: string): Promise<SourceFile> {
  let target: string;
  try {
    target = await realpath(abs);
  } catch (error) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${rel}: it is a symlink whose target does not exist; remove it or make it a real file`, { cause: error });
  }
  if (!target.startsWith(realRoot + sep)) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${rel}: it is a symlink to ${target}, outside the published folder; copy the file in instead`);
  }
  const info = await stat(target, { bigint: true });
  if (info.isDirectory()) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${rel}: it is a symlink to a directory; symlinked directories are not followed, copy the files in instead`);
  }
  if (!info.isFile()) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${rel}: it is a symlink to a FIFO, socket or device, not to a regular file; remove it from the output folder`);
  }
  // Published by reading the target at its own path, never through the link.
  const readPath = relative(realRoot, target).split(sep).join('/');
  return { relPath: rel, readPath, size: Number(info.size), mtimeMs: Number(info.mtimeMs), dev: info.dev, ino: info.ino, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
}
