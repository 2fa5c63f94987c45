import { lstat, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import { readUntrustedFile } from '../releases/untrusted-file.ts';
import type { CommitTree } from './commit-tree.ts';

/**
 * The files at a repository's root that decide how it is built (berth.toml,
 * netlify.toml, package.json, a Hugo config, index.html), read from a
 * checkout or straight from a commit. Both refuse the same things: a link,
 * anything but a regular file, a file over the caller's limit, with an
 * `E_BUILD_CONFIG` that quotes none of it.
 */
export interface RepoFiles {
  /** The content of the regular file `name` at the root; undefined when there is none. */
  read(name: string, maxBytes: number): Promise<Buffer | undefined>;
  /** What `name` at the root is, a link not followed; undefined when absent. */
  kind(name: string): Promise<'file' | 'directory' | 'link' | 'other' | undefined>;
  /** Whether anything by that name is at the root (a link counts). */
  has(name: string): Promise<boolean>;
}

/** A checkout's root files, read without following links (see openUntrusted). */
export async function checkoutFiles(workDir: string): Promise<RepoFiles> {
  // Files are read below the real path: openUntrusted checks where each opened file really is.
  const root = await realpath(workDir);
  const kind: RepoFiles['kind'] = async (name) => {
    const info = await lstat(join(root, name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (info === undefined) return undefined;
    return info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'link' : 'other';
  };
  return {
    read: (name, maxBytes) => readUntrustedFile(root, name, { maxBytes, label: `the repository's ${name}`, code: 'E_BUILD_CONFIG' }),
    kind,
    has: async (name) => (await kind(name)) !== undefined,
  };
}

/** A commit's root files, read from the site's cached clone: nothing is checked out. */
export function commitFiles(tree: CommitTree): RepoFiles {
  const kind: RepoFiles['kind'] = async (name) => {
    const node = tree.lookup(name);
    if (node === undefined) return undefined;
    // A submodule is a directory in a checkout (empty without submodules).
    return node.kind === 'tree' || node.kind === 'gitlink' ? 'directory' : node.kind;
  };
  return {
    async read(name, maxBytes) {
      const node = tree.lookup(name);
      if (node === undefined) return undefined;
      const label = `the repository's ${name}`;
      if (node.kind === 'link') {
        throw new BerthError('E_BUILD_CONFIG', `${label} is a symbolic link; Berth follows no link in files a repository or a build controls, make it a regular file`);
      }
      if (node.kind !== 'file') {
        throw new BerthError('E_BUILD_CONFIG', `${label} is a directory, not a regular file; Berth reads only regular files from a repository or a build, make it one`);
      }
      if (node.size > maxBytes) throw new BerthError('E_BUILD_CONFIG', `${label} is ${node.size} bytes; the limit is ${maxBytes} bytes`);
      return tree.readBlob(node);
    },
    kind,
    has: async (name) => tree.lookup(name) !== undefined,
  };
}
