import { isUtf8 } from 'node:buffer';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { BerthError, type ErrorCode } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import { localGitEnvironment } from './git-source.ts';

/**
 * One commit of a site's cached clone, read with git alone: its tree listed
 * once (`git ls-tree -r -t -l -z`), its blobs read on demand. Nothing is
 * written to disk and no file of the commit is ever opened through the
 * filesystem, so a link in the commit cannot make Berth read anything
 * outside it.
 *
 * Security: `gitDir` must be Berth's alone (the site's `source.git`, 0700,
 * never handed to a build): git reads its config and objects as Berth's
 * user. Every command gets `localGitEnvironment()` (no hook, no fsmonitor,
 * no replace refs or grafts) and runs in `/`. Paths come NUL-separated
 * (`-z`), so a name with a newline, a quote or a byte that is not UTF-8
 * arrives exactly as committed.
 */

export type NodeKind = 'file' | 'link' | 'tree' | 'gitlink';

export interface TreeNode {
  /** The full path in the commit, `/`-separated; undefined for the root. */
  readonly path: string;
  readonly kind: NodeKind;
  /** Blob id for files and links, tree id, or the submodule's commit id. */
  readonly oid: string;
  /** Blob size in bytes (files and links); 0 otherwise. */
  readonly size: number;
}

export interface CommitTree {
  readonly commit: string;
  /** The node at `path` (`''` is the root tree); undefined when the commit has none. */
  lookup(path: string): TreeNode | undefined;
  /** Every node, in git's order (a tree before what it holds). */
  nodes(): Iterable<TreeNode>;
  /** Paths whose bytes are not UTF-8, which no lookup finds; as lossily decoded text, for messages and filtering. */
  readonly undecodable: readonly string[];
  /** The whole content of a blob. */
  readBlob(node: TreeNode): Promise<Buffer>;
  /** The content of a blob in chunks, with the memory of one chunk at a time; `onChunk` is awaited before more is read. */
  streamBlob(node: TreeNode, onChunk: (chunk: Buffer) => Promise<void>): Promise<void>;
  /** Ends the git process kept for reading blobs. */
  close(): Promise<void>;
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** What git writes to stderr is kept up to this much, for an error message. */
const STDERR_KEEP = 4096;

export interface OpenCommitTreeOptions {
  /** The code of every error (a listing or a blob git cannot give). @default 'E_PUBLISH_SOURCE' */
  code?: ErrorCode;
  /**
   * Only the entries at the root: enough to decide the build settings, and
   * cheap however many files the commit has. Nothing deeper is found then.
   */
  rootOnly?: boolean;
  /** Entries (files, links, directories, submodules) listed at most. @default MAX_TREE_ENTRIES */
  maxEntries?: number;
  /** The commit's root tree id, when the caller has it already: one git command fewer. */
  tree?: string;
}

/**
 * The most entries of a commit Berth lists, about 200 MiB of memory. A
 * commit is tiny even when its tree is not: a few trees that each name the
 * one below ten times unfold into billions of paths, which a listing with no
 * end would hold in memory.
 */
export const MAX_TREE_ENTRIES = 1_000_000;

/**
 * Lists `commit` (a full id, already in `gitDir`) and keeps a reader for
 * its blobs open until `close()`.
 *
 * @throws BerthError `code` when git cannot list the commit, or it has more than `maxEntries` entries.
 */
export async function openCommitTree(gitDir: string, commit: string, options: OpenCommitTreeOptions = {}): Promise<CommitTree> {
  const code = options.code ?? 'E_PUBLISH_SOURCE';
  const maxEntries = options.maxEntries ?? MAX_TREE_ENTRIES;
  if (!FULL_SHA.test(commit)) throw new Error(`openCommitTree needs a full commit id, got ${JSON.stringify(commit)}`);
  const byPath = new Map<string, TreeNode>();
  const undecodable: string[] = [];
  const ordered: TreeNode[] = [];
  const undecodableTrees = new Set<string>();
  await listTree(gitDir, commit, options.rootOnly === true, maxEntries, code, (node, decoded) => {
    // Names git itself never checks out (a tree object can hold anything): `.`, `..`, an empty name, a
    // name with a slash in it (its "parent" was never listed), or one name twice in a directory.
    const slash = node.path.lastIndexOf('/');
    const parent = slash === -1 ? '' : node.path.slice(0, slash);
    if (BAD_SEGMENT.test(node.path) || (parent !== '' && byPath.get(parent)?.kind !== 'tree' && !undecodableTrees.has(parent)) || byPath.has(node.path)) {
      return `Commit ${commit} holds a path git would not check out, ${excerpt(node.path, 200)}; fix the repository's history`;
    }
    if (!decoded) {
      undecodable.push(node.path);
      if (node.kind === 'tree') undecodableTrees.add(node.path);
      return undefined;
    }
    byPath.set(node.path, node);
    ordered.push(node);
    return undefined;
  });
  const rootOid =
    options.tree !== undefined && FULL_SHA.test(options.tree) ? options.tree
    : (await runGit(gitDir, ['rev-parse', '--verify', '--end-of-options', `${commit}^{tree}`], code, `read the tree of ${commit}`)).toString('latin1').trim();
  const root: TreeNode = { path: '', kind: 'tree', oid: rootOid, size: 0 };
  const reader = new BatchReader(gitDir, code);
  return {
    commit,
    undecodable,
    lookup: (path) => (path === '' ? root : byPath.get(path)),
    nodes: () => ordered,
    readBlob: (node) => reader.read(node),
    streamBlob: (node, onChunk) => streamBlob(gitDir, node, onChunk, code),
    close: () => reader.close(),
  };
}

/**
 * The real path of `target` (a link's text) as seen from directory `from`
 * (a real path in the commit), resolved the way the kernel's `realpath`
 * resolves it in a checkout of the commit, links within it followed: `.`
 * and `..`, at most 40 links (a loop ends as `loop`). An absolute target,
 * or `..` above the commit's root, leads out of the checkout: `outside`.
 * A component missing, or a file where a directory is needed: `missing`.
 */
export type Resolved =
  | { kind: 'found'; node: TreeNode }
  | { kind: 'missing' }
  | { kind: 'loop' }
  | { kind: 'outside' };

const MAX_LINKS = 40;
/** Longer link texts cannot be made into a link on Linux (PATH_MAX); not read. */
export const MAX_LINK_BYTES = 4095;

export async function resolveInCommit(tree: CommitTree, from: string, target: string): Promise<Resolved> {
  const done: string[] = from === '' ? [] : from.split('/');
  let pending = target.split('/');
  let links = 0;
  let node: TreeNode = tree.lookup(done.join('/')) as TreeNode;
  if (target.startsWith('/')) return { kind: 'outside' };
  // A trailing slash demands a directory, as it does of realpath.
  const wantsDirectory = target.endsWith('/');
  while (pending.length > 0) {
    const segment = pending.shift() as string;
    if (segment === '') continue;
    // `file/.` and `file/..` fail in a checkout too (ENOTDIR).
    if (node.kind !== 'tree' && node.kind !== 'gitlink') return { kind: 'missing' };
    if (segment === '.') continue;
    if (segment === '..') {
      if (done.length === 0) return { kind: 'outside' };
      done.pop();
      node = tree.lookup(done.join('/')) as TreeNode;
      continue;
    }
    const next = tree.lookup([...done, segment].join('/'));
    if (next === undefined) return { kind: 'missing' };
    if (next.kind === 'link') {
      if (++links > MAX_LINKS) return { kind: 'loop' };
      if (next.size > MAX_LINK_BYTES) return { kind: 'missing' };
      const text = (await tree.readBlob(next)).toString('utf8');
      if (text.startsWith('/')) return { kind: 'outside' };
      pending = [...text.split('/'), ...pending];
      continue;
    }
    done.push(segment);
    node = next;
  }
  if (wantsDirectory && node.kind !== 'tree' && node.kind !== 'gitlink') return { kind: 'missing' };
  return { kind: 'found', node };
}

/** Streams `git ls-tree` and calls `onNode` per entry; `decoded` false when the path is not UTF-8. */
async function listTree(
  gitDir: string,
  commit: string,
  rootOnly: boolean,
  maxEntries: number,
  code: ErrorCode,
  onNode: (node: TreeNode, decoded: boolean) => string | undefined,
): Promise<void> {
  const child = spawnGit(gitDir, ['ls-tree', ...(rootOnly ? [] : ['-r', '-t']), '-l', '-z', '--full-tree', commit]);
  child.stdin.end();
  let rest: Buffer = Buffer.alloc(0);
  let bad: string | undefined;
  let count = 0;
  let refused: string | undefined;
  const stderr = collect(child);
  child.stdout.on('data', (chunk: Buffer) => {
    if (count > maxEntries) return;
    const data = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    for (let end = data.indexOf(0, start); end !== -1; end = data.indexOf(0, start)) {
      const record = data.subarray(start, end);
      start = end + 1;
      if (++count > maxEntries) {
        child.kill('SIGKILL');
        return;
      }
      const parsed = parseRecord(record);
      if (parsed === undefined) {
        bad ??= record.subarray(0, 80).toString('latin1');
        continue;
      }
      refused = onNode(parsed.node, parsed.decoded);
      if (refused !== undefined) {
        count = maxEntries + 1;
        child.kill('SIGKILL');
        return;
      }
    }
    rest = Buffer.from(data.subarray(start));
    // A path has no NUL for as long as git lets it: more than any path can be is not a listing.
    if (rest.length > 1024 * 1024) {
      bad ??= rest.subarray(0, 80).toString('latin1');
      child.kill('SIGKILL');
    }
  });
  const [exitCode] = (await once(child, 'close')) as [number | null];
  if (refused !== undefined) throw new BerthError(code, refused);
  if (count > maxEntries) {
    throw new BerthError(code, `Commit ${commit} has more than ${maxEntries} files and directories, the most Berth lists; publish fewer files, or build the site so that only its output is published`);
  }
  if (bad !== undefined || rest.length > 0) throw new BerthError(code, `Could not list the files of commit ${commit}: git printed a line Berth cannot read; remove the cached clone ${gitDir} and deploy again`);
  if (exitCode !== 0) throw new BerthError(code, `Could not list the files of commit ${commit}: git said ${JSON.stringify(gitSaid(stderr()))}; deploy again, or remove the cached clone ${gitDir}`);
}

/** `<mode> SP <type> SP <oid> SP+ <size> TAB <path>`, the size `-` for trees and submodules. Parsed by position: there are many. */
function parseRecord(record: Buffer): { node: TreeNode; decoded: boolean } | undefined {
  const tab = record.indexOf(9);
  const typeEnd = record.indexOf(32, 7);
  const oidEnd = typeEnd === -1 ? -1 : record.indexOf(32, typeEnd + 1);
  if (tab === -1 || record[6] !== 32 || oidEnd === -1 || oidEnd > tab) return undefined;
  const mode = record.toString('latin1', 0, 6);
  const oid = record.toString('latin1', typeEnd + 1, oidEnd);
  const size = record.toString('latin1', oidEnd, tab).trim();
  if (!OID.test(oid) || !SIZE.test(size)) return undefined;
  const kind: NodeKind | undefined =
    mode === '120000' ? 'link' : mode === '040000' ? 'tree' : mode === '160000' ? 'gitlink' : mode.startsWith('100') ? 'file' : undefined;
  if (kind === undefined) return undefined;
  const rawPath = record.subarray(tab + 1);
  return { node: { path: rawPath.toString('utf8'), kind, oid, size: size === '-' ? 0 : Number(size) }, decoded: isUtf8(rawPath) };
}

/** An empty, `.` or `..` segment anywhere in a path. */
const BAD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;
const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const SIZE = /^(?:\d+|-)$/;

interface Pending {
  node: TreeNode;
  resolve: (body: Buffer) => void;
  reject: (error: Error) => void;
}

/**
 * One `git cat-file --batch` for the whole publish: requests are written
 * as they come and answered in order, so many small blobs cost one process.
 * Each answer is read into a buffer of the size git announces, which must
 * be the size the listing gave (a larger one is refused before it is read).
 */
class BatchReader {
  private readonly gitDir: string;
  private readonly code: ErrorCode;
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly queue: Pending[] = [];
  private header: Buffer[] = [];
  private body: Buffer | undefined;
  private filled = 0;
  private failure: Error | undefined;
  private stderr: () => string = () => '';

  constructor(gitDir: string, code: ErrorCode) {
    this.gitDir = gitDir;
    this.code = code;
  }

  read(node: TreeNode): Promise<Buffer> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.queue.push({ node, resolve, reject });
      child.stdin.write(`${node.oid}\n`);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    this.fail(new BerthError(this.code, 'The reader of the commit was closed while blobs were still being read'));
    if (child.exitCode === null && child.signalCode === null) {
      const closed = once(child, 'close');
      child.stdin.end();
      child.kill('SIGTERM');
      await closed;
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child !== undefined) return this.child;
    const child = spawnGit(this.gitDir, ['cat-file', '--batch']);
    this.child = child;
    this.stderr = collect(child);
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => {
      try {
        this.take(chunk);
      } catch (error) {
        this.fail(error as Error);
        child.kill('SIGKILL');
      }
    });
    child.on('close', (exitCode) => {
      if (this.child === child) this.child = undefined;
      this.fail(new BerthError(this.code, `git cat-file ended (exit code ${exitCode}) while blobs were being read: ${JSON.stringify(gitSaid(this.stderr()))}`));
    });
    return child;
  }

  private take(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const current = this.queue[0];
      if (current === undefined) throw new BerthError(this.code, 'git cat-file printed more than was asked of it');
      if (this.body === undefined) {
        const newline = chunk.indexOf(10, offset);
        if (newline === -1) {
          this.header.push(chunk.subarray(offset));
          if (this.header.reduce((sum, part) => sum + part.length, 0) > 256) throw new BerthError(this.code, 'git cat-file printed a header Berth cannot read');
          return;
        }
        this.header.push(chunk.subarray(offset, newline));
        offset = newline + 1;
        const line = Buffer.concat(this.header).toString('latin1');
        this.header = [];
        const fields = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(line);
        if (fields === null || fields[1] !== current.node.oid || fields[2] !== 'blob' || Number(fields[3]) !== current.node.size) {
          // Also a missing object: the cache lost what it listed a moment ago.
          throw new BerthError(this.code, `Could not read ${current.node.path} (blob ${current.node.oid}) from the cached clone ${this.gitDir}: git answered ${JSON.stringify(line.slice(0, 100))}; remove the cached clone and deploy again`);
        }
        this.body = Buffer.allocUnsafe(current.node.size + 1);
        this.filled = 0;
      }
      const body = this.body;
      const take = Math.min(body.length - this.filled, chunk.length - offset);
      chunk.copy(body, this.filled, offset, offset + take);
      this.filled += take;
      offset += take;
      if (this.filled === body.length) {
        this.body = undefined;
        this.queue.shift();
        if (body[body.length - 1] !== 10) throw new BerthError(this.code, 'git cat-file printed an answer Berth cannot read');
        current.resolve(body.subarray(0, body.length - 1));
      }
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const pending of this.queue.splice(0)) pending.reject(error);
  }
}

/** `git cat-file blob`, read with backpressure: memory stays at one chunk whatever the blob's size. */
async function streamBlob(gitDir: string, node: TreeNode, onChunk: (chunk: Buffer) => Promise<void>, code: ErrorCode): Promise<void> {
  const child = spawnGit(gitDir, ['cat-file', 'blob', node.oid]);
  const stderr = collect(child);
  child.stdin.end();
  const closed = once(child, 'close') as Promise<[number | null]>;
  let size = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > node.size) throw new BerthError(code, `Blob ${node.oid} of ${node.path} is larger than the ${node.size} bytes git listed; remove the cached clone ${gitDir} and deploy again`);
      await onChunk(chunk);
    }
  } catch (error) {
    child.kill('SIGKILL');
    await closed;
    throw error;
  }
  const [exitCode] = await closed;
  if (exitCode !== 0 || size !== node.size) {
    throw new BerthError(code, `Could not read ${node.path} (blob ${node.oid}) from the cached clone ${gitDir}: ${exitCode !== 0 ? `git said ${JSON.stringify(gitSaid(stderr()))}` : `${size} of ${node.size} bytes came`}; remove the cached clone and deploy again`);
  }
}

function spawnGit(gitDir: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn('git', ['--git-dir', gitDir, ...args], { cwd: '/', env: localGitEnvironment(), stdio: ['pipe', 'pipe', 'pipe'] });
}

async function runGit(gitDir: string, args: string[], code: ErrorCode, doing: string): Promise<Buffer> {
  const child = spawnGit(gitDir, args);
  child.stdin.end();
  const stderr = collect(child);
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  const [exitCode] = (await once(child, 'close')) as [number | null];
  if (exitCode !== 0) throw new BerthError(code, `Could not ${doing}: git said ${JSON.stringify(gitSaid(stderr()))}; remove the cached clone ${gitDir} and deploy again`);
  return Buffer.concat(out);
}

/** Keeps the end of the child's stderr; a spawn error (no git) becomes part of it. */
function collect(child: ChildProcessWithoutNullStreams): () => string {
  let text = '';
  child.stderr.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-STDERR_KEEP);
  });
  child.on('error', (error) => {
    text += ` ${error.message}`;
  });
  return () => text;
}

function gitSaid(stderr: string): string {
  const line = stderr.trim().split('\n').at(-1) ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
