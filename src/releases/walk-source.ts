import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { BerthError } from '../errors.ts';

export interface SourceFile {
  /** Path relative to the source root, `/`-separated, no leading slash. */
  relPath: string;
  /** The file to read (for a symlink: its target inside the root). */
  absPath: string;
  size: number;
  mtimeMs: number;
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
 * root; a link that leaves the root, or points at a directory, is refused:
 * following it could publish files the site owner never meant to expose or
 * loop forever.
 */
export async function walkSource(root: string): Promise<SourceFile[]> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
    if (!(await stat(realRoot)).isDirectory()) throw new Error('not a directory');
  } catch (error) {
    throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${root}: it is not a readable directory; pass the build's output folder`, { cause: error });
  }
  const files: SourceFile[] = [];
  await walkDir(realRoot, realRoot, '', files);
  files.sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));
  return files;
}

async function walkDir(realRoot: string, dir: string, prefix: string, out: SourceFile[]): Promise<void> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter(
    (entry) => isPublicSegment(entry.name) && !(prefix === '' && CONTROL_FILES.has(entry.name)),
  );
  // The files of one directory are stat'ed together: a site is mostly many small files.
  const infos = await Promise.all(entries.map((entry) => (entry.isFile() ? lstat(join(dir, entry.name)) : undefined)));
  for (const [index, entry] of entries.entries()) {
    const abs = join(dir, entry.name);
    const rel = prefix + entry.name;
    const info = infos[index];
    if (entry.isDirectory()) {
      await walkDir(realRoot, abs, `${rel}/`, out);
    } else if (entry.isFile() && info !== undefined) {
      out.push({ relPath: rel, absPath: abs, size: info.size, mtimeMs: info.mtimeMs });
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
  const info = await stat(target);
  if (!info.isFile()) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${rel}: it is a symlink to a directory; symlinked directories are not followed, copy the files in instead`);
  }
  return { relPath: rel, absPath: target, size: info.size, mtimeMs: info.mtimeMs };
}
