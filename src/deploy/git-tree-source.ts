import { BerthError } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import type { PublishSource, SourceBody, SourceEntry } from '../releases/publish-source.ts';
import { CONTROL_FILES, isPublicSegment } from '../releases/walk-source.ts';
import { MAX_LINK_BYTES, resolveInCommit, type CommitTree, type TreeNode } from './commit-tree.ts';

/**
 * The files of a commit's publish directory as a `PublishSource`, for a
 * site with no build step: nothing is checked out. The listing comes from
 * the commit's tree and each file's `changeKey` is its blob id
 * (`git:<oid>`), so a publish reads only the blobs it has not seen before.
 *
 * It publishes what publishing a checkout of the commit would, and refuses
 * what that refuses, without touching the filesystem:
 * - only public paths (`isPublicSegment`); `_redirects` and `_headers` at
 *   the root are read by `readRules`, not published;
 * - a symbolic link is resolved inside the commit as `realpath` would
 *   resolve it in a checkout; a link to a regular file inside the publish
 *   directory is published as a copy of that file, one that leads outside
 *   it, names a directory, does not resolve or loops is refused
 *   (`E_PUBLISH_SYMLINK`);
 * - a submodule (gitlink) is an empty directory in a checkout without
 *   submodules, and is skipped; sites with `submodules = true` are checked
 *   out instead;
 * - a name that is not UTF-8 cannot be a URL and is refused
 *   (`E_PUBLISH_SOURCE`); names differing only in case are different files.
 *
 * Every file's modification time (its Last-Modified) is the commit's
 * committer time: git keeps no time per file, and a checkout's times are
 * only the time of the checkout.
 */

/** A segment `isPublicSegment` refuses (a dot name other than `.well-known`), tested on a whole path at once: there are many. */
const PRIVATE_SEGMENT = /(?:^|\/)\.(?!well-known(?:\/|$))/;

export interface GitTreeSourceOptions {
  /** The publish directory, relative to the repository's root and normalised (`.`, `dist`). */
  publish: string;
  /** The commit's committer time, ms since the epoch. */
  mtimeMs: number;
}

export interface GitTreeSource extends PublishSource {
  /** Blobs read through `open` so far. */
  readonly opened: number;
  /** Bytes of every regular file under the publish directory, public or not (what `max_output_size` limits). */
  readonly bytes: number;
}

interface Listed {
  entry: SourceEntry;
  /** The blob read: the file's own, or a link's target. */
  blob: TreeNode;
}

export async function gitTreeSource(tree: CommitTree, options: GitTreeSourceOptions): Promise<GitTreeSource> {
  const shown = `${JSON.stringify(options.publish)} of commit ${tree.commit}`;
  const rootNode = await publishRoot(tree, options.publish, shown);
  const root = rootNode.path;
  const prefix = root === '' ? '' : `${root}/`;
  const under = (path: string): boolean => prefix === '' || path.startsWith(prefix);

  for (const path of tree.undecodable) {
    if (!under(path)) continue;
    const rel = path.slice(prefix.length);
    if (rel.split('/').every(isPublicSegment)) {
      throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${excerpt(rel, 200)} of commit ${tree.commit}: its name is not valid UTF-8, which no URL can name; rename it`);
    }
  }

  const listed = new Map<string, Listed>();
  let bytes = 0;
  if (rootNode.kind === 'tree') {
    for (const node of tree.nodes()) {
      if (!under(node.path) || node.path === root) continue;
      if (node.kind === 'file') bytes += node.size;
      if (node.kind !== 'file' && node.kind !== 'link') continue;
      const rel = node.path.slice(prefix.length);
      if (PRIVATE_SEGMENT.test(rel) || CONTROL_FILES.has(rel)) continue;
      const blob = node.kind === 'file' ? node : await linkTarget(tree, node, rel, prefix);
      listed.set(rel, { entry: { relPath: rel, changeKey: `git:${blob.oid}`, mtimeMs: options.mtimeMs }, blob });
    }
  }
  const entries = [...listed.values()].map((item) => item.entry).sort((a, b) => (a.relPath < b.relPath ? -1 : a.relPath > b.relPath ? 1 : 0));

  let opened = 0;
  return {
    label: `${options.publish === '.' ? 'the files' : `directory ${JSON.stringify(options.publish)}`} of commit ${tree.commit}`,
    get opened() {
      return opened;
    },
    bytes,
    entries: async () => entries,
    async open(entry, wholeMaxBytes): Promise<SourceBody> {
      const item = listed.get(entry.relPath);
      if (item === undefined) throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${excerpt(entry.relPath, 200)}: it is not a file of ${shown}`);
      opened++;
      const { blob } = item;
      if (blob.size <= wholeMaxBytes) {
        const whole = await tree.readBlob(blob);
        return { whole, stream: undefined, size: whole.length, close: async () => undefined };
      }
      return { whole: undefined, stream: (onChunk) => tree.streamBlob(blob, onChunk), size: blob.size, close: async () => undefined };
    },
    async readRules(name, limits) {
      const node = rootNode.kind === 'tree' ? tree.lookup(`${prefix}${name}`) : undefined;
      if (node === undefined) return undefined;
      const label = `${name} in the published folder`;
      if (node.kind === 'link') {
        throw new BerthError('E_PUBLISH_SYMLINK', `${label} is a symbolic link; Berth follows no link in files a repository or a build controls, make it a regular file`);
      }
      if (node.kind !== 'file') throw new BerthError(limits.code, `${label} is a directory, not a regular file; Berth reads only regular files from a repository or a build, make it one`);
      if (node.size > limits.maxBytes) throw new BerthError(limits.code, `${label} is ${node.size} bytes; the limit is ${limits.maxBytes} bytes`);
      return tree.readBlob(node);
    },
  };
}

/**
 * The publish directory's node, its path resolved as `realpath` would in a
 * checkout. Refused like a checkout's: leading out of the repository
 * through a link is `E_BUILD_CONFIG`, missing or not a directory is
 * `E_PUBLISH_SOURCE`. A submodule is an empty directory.
 */
async function publishRoot(tree: CommitTree, publish: string, shown: string): Promise<TreeNode> {
  if (publish === '.') return tree.lookup('') as TreeNode;
  const found = await resolveInCommit(tree, '', publish);
  if (found.kind === 'outside') {
    throw new BerthError('E_BUILD_CONFIG', `the publish directory ${JSON.stringify(publish)} leads outside the repository through a symbolic link; publish a directory inside it`);
  }
  if (found.kind !== 'found' || (found.node.kind !== 'tree' && found.node.kind !== 'gitlink')) {
    throw new BerthError('E_PUBLISH_SOURCE', `Cannot publish ${shown}: it is not a directory in the commit; set publish to a directory of the repository`);
  }
  return found.node;
}

/** The regular file a link publishes, or the refusal a checkout's publish gives it. */
async function linkTarget(tree: CommitTree, link: TreeNode, rel: string, prefix: string): Promise<TreeNode> {
  const shown = excerpt(rel, 200);
  const parent = link.path.includes('/') ? link.path.slice(0, link.path.lastIndexOf('/')) : '';
  const text = link.size > MAX_LINK_BYTES ? undefined : (await tree.readBlob(link)).toString('utf8');
  const found = text === undefined ? ({ kind: 'missing' } as const) : await resolveInCommit(tree, parent, text);
  if (found.kind === 'missing' || found.kind === 'loop') {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${shown}: it is a symlink whose target does not exist; remove it or make it a real file`);
  }
  if (found.kind === 'outside' || (prefix !== '' && !found.node.path.startsWith(prefix))) {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${shown}: it is a symlink to ${excerpt(text ?? '', 200)}, outside the published folder; copy the file in instead`);
  }
  if (found.node.kind !== 'file') {
    throw new BerthError('E_PUBLISH_SYMLINK', `Cannot publish ${shown}: it is a symlink to a directory; symlinked directories are not followed, copy the files in instead`);
  }
  return found.node;
}
