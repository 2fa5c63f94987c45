import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, type Stats } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readUntrustedFile } from '../releases/untrusted-file.ts';

/**
 * Build caches kept per site in `data_dir/sites/<site>/cache/`:
 *
 * ```
 * cache/node_modules/<key>/   a node_modules tree, at most MAX_NODE_MODULES_ENTRIES of them
 * cache/dirs/.cache/          the repository's root .cache directory from the last good build
 * cache/home/, cache/npm/     HOME and npm's download cache (see buildEnvironment)
 * ```
 *
 * How a cached tree gets into the work directory: by `rename`, which is one
 * system call however many files node_modules holds, since the work
 * directory and the cache both live under the site's directory on one
 * filesystem. The alternatives were worse: a hard-link copy (`cp -al`) still
 * makes one link per file (tens of thousands) and shares inodes, so a tool
 * that rewrites a file in place would change the cached copy behind our
 * back; a real copy costs about as much as the install it saves. The price
 * of `rename` is that the entry leaves the cache while the build uses it and
 * comes back only when `saveNodeModules` is called, which the pipeline does
 * after a successful build, and after a failed, cancelled or timed-out build
 * step that followed a separate install step that succeeded (or a cache hit;
 * see `BuildSteps`). So an `npm ci` killed halfway never puts a broken tree
 * in the cache, and a build that fails after a good install does not cost
 * the next deploy its install. A command Berth cannot split (it may install
 * anything itself) keeps its tree only when it succeeds. When the rename fails because the
 * two directories are on different filesystems, the tree is copied with
 * `cp -a` (ownership kept, links kept as links) instead.
 *
 * Framework caches: `node_modules/.astro` (Astro), `node_modules/.vite`
 * (Vite's optimised dependencies) and `node_modules/.cache` (Babel, Terser,
 * ESLint and friends) live inside node_modules and travel with it, so they
 * are kept for as long as the lockfile is unchanged. The repository's own
 * root `.cache` (Eleventy Fetch, Gatsby) is kept in one slot per site,
 * independent of the lockfile; those tools check their entries themselves.
 *
 * Only one deploy per site runs at a time (the pipeline holds a lock), so
 * nothing here guards against a second build of the same site.
 */

const execFileAsync = promisify(execFile);

/** Least recently used entries beyond this many are removed after a save. */
export const MAX_NODE_MODULES_ENTRIES = 3;

/** Root directories of a repository kept from one build to the next. */
export const ROOT_CACHE_DIRS: readonly string[] = ['.cache'];

/** Files whose content decides what an install puts in node_modules. */
export const LOCKFILES: readonly string[] = ['package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml'];

/**
 * The most of one lockfile (or package.json) read to compute the key: large
 * monorepo lockfiles are tens of MiB; a file that never ends (a link to
 * `/dev/zero` is refused anyway) must not fill memory.
 */
export const LOCKFILE_MAX_BYTES = 64 * 1024 * 1024;

/** Fields of package.json that change what an install puts in node_modules. */
const INSTALL_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies', 'overrides', 'workspaces'];

const TEMP_PREFIX = '.tmp-';

export type CacheLog = (line: string) => void;

export interface NodeModulesRestore {
  /** A cached node_modules for this exact lockfile is now in the work directory. */
  hit: boolean;
  /**
   * The cache key for this checkout, or undefined when it has no lockfile
   * (then node_modules is never cached: without a lockfile the same
   * package.json can install different versions from one day to the next).
   * Pass it to `saveNodeModules`: an install may rewrite the lockfile, and the
   * entry must be found again from the lockfile as committed.
   */
  key: string | undefined;
}

/**
 * The cache key of a checkout: a SHA-256 over its lockfiles, the install
 * fields of package.json, the Node major version and the platform. The
 * last two matter because native modules are compiled for one Node ABI
 * and one OS/CPU pair. The Node is the one running Berth, which
 * `buildEnvironment` puts first on the build's PATH.
 */
export async function nodeModulesKey(workDir: string): Promise<string | undefined> {
  const root = await realpath(workDir);
  const hash = createHash('sha256').update('berth node_modules v1\n');
  let lockfiles = 0;
  for (const name of LOCKFILES) {
    const content = await readRepoFile(root, name);
    if (content === undefined) continue;
    lockfiles++;
    hash.update(`${name} ${content.length}\n`).update(content);
  }
  if (lockfiles === 0) return undefined;
  const manifest = await readRepoFile(root, 'package.json');
  if (manifest !== undefined) hash.update(`package.json\n${installFieldsOf(manifest)}`);
  const major = process.versions.node.split('.')[0] ?? '';
  hash.update(`\nnode ${major} ${process.platform} ${process.arch}`);
  return hash.digest('hex').slice(0, 32);
}

/** The install fields as JSON; the whole text when it is not valid JSON (npm will say why). */
function installFieldsOf(manifest: Buffer): string {
  try {
    const parsed: unknown = JSON.parse(manifest.toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return manifest.toString('utf8');
    const fields = parsed as Record<string, unknown>;
    return JSON.stringify(INSTALL_FIELDS.map((name) => [name, fields[name] ?? null]));
  } catch {
    return manifest.toString('utf8');
  }
}

/**
 * Moves the cached node_modules for this checkout's lockfile, and the kept
 * root cache directories, into the work directory. Call after checkout and
 * before `resolveBuildSettings`, and pass it `{ cacheHit: result.hit }`: on a
 * hit the install step must be left out, since `npm ci` starts by deleting
 * node_modules and would throw the restored tree away. With `owner` (the
 * site's build uid), only trees that uid wrote are restored.
 */
export async function restoreNodeModules(workDir: string, cacheDir: string, log: CacheLog, owner?: number): Promise<NodeModulesRestore> {
  await restoreRootDirs(workDir, cacheDir, log, owner);
  const key = await nodeModulesKey(workDir);
  if (key === undefined) {
    log('no lockfile (package-lock.json, npm-shrinkwrap.json, yarn.lock or pnpm-lock.yaml); node_modules is not cached');
    return { hit: false, key };
  }
  const target = join(workDir, 'node_modules');
  if (await exists(target)) {
    log('the repository has its own node_modules; the cached one is not used');
    return { hit: false, key };
  }
  const entry = join(cacheDir, 'node_modules', key);
  if (!(await isOwnedDirectory(entry, `node_modules (key ${key.slice(0, 12)})`, owner, log))) {
    log(`no cached node_modules for this lockfile (key ${key.slice(0, 12)}); dependencies are installed in full`);
    return { hit: false, key };
  }
  await moveDir(entry, target);
  log(`restored node_modules from the cache (key ${key.slice(0, 12)}); the install step is skipped`);
  return { hit: true, key };
}

export interface SaveOptions {
  /**
   * Save the root cache directories too (the default). Not after a failed
   * build: a tool killed halfway may have left its `.cache` half-written,
   * and unlike node_modules nothing proves it finished.
   */
  rootDirs?: boolean;
}

/**
 * Moves the work directory's node_modules into the cache under `key` (from
 * `restoreNodeModules`; computed now when absent), and the root cache
 * directories into their slot, then drops the least recently used entries
 * beyond `MAX_NODE_MODULES_ENTRIES`. Call only after a successful build, or
 * after a build step that failed once a separate install step had succeeded
 * (or node_modules came from the cache): never after an install that failed
 * or was stopped. The work directory loses its node_modules, which nothing
 * after the build needs (and a `publish = "."` site must not publish
 * anyway). Returns whether node_modules was saved: not when there is no key,
 * no node_modules, or it is not a real directory (a link, a FIFO).
 */
export async function saveNodeModules(workDir: string, cacheDir: string, log: CacheLog, key?: string, options: SaveOptions = {}): Promise<boolean> {
  if (options.rootDirs ?? true) await saveRootDirs(workDir, cacheDir, log);
  const entryKey = key ?? (await nodeModulesKey(workDir));
  if (entryKey === undefined) return false;
  const source = join(workDir, 'node_modules');
  // lstat, not stat: a build that replaced node_modules with a link does not get that link cached.
  const stats = await lstatIfExists(source);
  if (stats === undefined) return false;
  if (!stats.isDirectory()) {
    log(`node_modules is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'} after the build; it is not cached`);
    return false;
  }

  const root = join(cacheDir, 'node_modules');
  // Berth's alone: no build may change an entry while it waits here (see build-dirs.ts).
  await mkdir(root, { recursive: true, mode: 0o700 });
  const temp = join(root, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
  await moveDir(source, temp);
  const entry = join(root, entryKey);
  await rm(entry, { recursive: true, force: true });
  await rename(temp, entry);
  // The directory's own mtime orders entries for pruning; set it, since
  // moving a directory does not change it.
  const now = new Date();
  await utimes(entry, now, now);
  log(`saved node_modules to the cache (key ${entryKey.slice(0, 12)})`);
  await pruneEntries(root, log);
  return true;
}

/**
 * The install command to put before an npm build command: `npm ci` when
 * the repository has an npm lockfile, else `npm install`; nothing when there
 * is no package.json, or when `cacheHit` says node_modules was restored for
 * this exact lockfile (it is already what `npm ci` would produce, and
 * `npm ci` would delete it first).
 */
export function installStep(workDir: string, cacheHit: boolean): string | undefined {
  return installCommand(existsSync(join(workDir, 'package.json')), existsSync(join(workDir, 'package-lock.json')) || existsSync(join(workDir, 'npm-shrinkwrap.json')), cacheHit);
}

/** `installStep` for the root files of a checkout or a commit. */
export async function installStepFor(files: { has(name: string): Promise<boolean> }, cacheHit: boolean): Promise<string | undefined> {
  return installCommand(await files.has('package.json'), (await files.has('package-lock.json')) || (await files.has('npm-shrinkwrap.json')), cacheHit);
}

function installCommand(packageJson: boolean, npmLock: boolean, cacheHit: boolean): string | undefined {
  if (cacheHit || !packageJson) return undefined;
  return npmLock ? 'npm ci' : 'npm install';
}

async function pruneEntries(root: string, log: CacheLog): Promise<void> {
  const entries: Array<{ name: string; mtimeMs: number }> = [];
  for (const name of await readdir(root)) {
    const path = join(root, name);
    if (name.startsWith(TEMP_PREFIX)) {
      // Left by a save that was interrupted; no other save runs now.
      await rm(path, { recursive: true, force: true });
      continue;
    }
    entries.push({ name, mtimeMs: (await stat(path)).mtimeMs });
  }
  entries.sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of entries.slice(MAX_NODE_MODULES_ENTRIES)) {
    await rm(join(root, old.name), { recursive: true, force: true });
    log(`removed the least recently used cached node_modules (key ${old.name.slice(0, 12)})`);
  }
}

async function restoreRootDirs(workDir: string, cacheDir: string, log: CacheLog, owner: number | undefined): Promise<void> {
  for (const name of ROOT_CACHE_DIRS) {
    const kept = join(cacheDir, 'dirs', name);
    const target = join(workDir, name);
    if (!(await isOwnedDirectory(kept, name, owner, log)) || (await exists(target))) continue;
    await moveDir(kept, target);
    log(`restored ${name} from the cache`);
  }
}

async function saveRootDirs(workDir: string, cacheDir: string, log: CacheLog): Promise<void> {
  for (const name of ROOT_CACHE_DIRS) {
    const source = join(workDir, name);
    const stats = await lstatIfExists(source);
    if (stats === undefined || !stats.isDirectory()) continue;
    const dirs = join(cacheDir, 'dirs');
    await mkdir(dirs, { recursive: true, mode: 0o700 });
    const temp = join(dirs, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    await moveDir(source, temp);
    await rm(join(dirs, name), { recursive: true, force: true });
    await rename(temp, join(dirs, name));
    log(`saved ${name} to the cache`);
  }
}

/** Renames; across filesystems, copies with `cp -a` and removes the source. */
async function moveDir(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await execFileAsync('cp', ['-a', '--', from, to]);
    await rm(from, { recursive: true, force: true });
  }
}

/**
 * Lockfiles and package.json are the repository's, and after a build the
 * build's: read without following links, regular files only, capped (see
 * openUntrusted). A refused file fails the deploy with E_BUILD_CONFIG.
 */
async function readRepoFile(root: string, name: string): Promise<Buffer | undefined> {
  return readUntrustedFile(root, name, { maxBytes: LOCKFILE_MAX_BYTES, label: `the repository's ${name}`, code: 'E_BUILD_CONFIG' });
}

async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstatIfExists(path)) !== undefined;
}

/**
 * A cached directory that this site's build wrote. One with another owner
 * was written by some other user (a build from before each site had its own
 * uid, when every site's build could change every cache) and is removed
 * rather than handed to this build. `owner` undefined: any owner will do.
 */
async function isOwnedDirectory(path: string, label: string, owner: number | undefined, log: CacheLog): Promise<boolean> {
  const stats = await lstatIfExists(path);
  if (stats === undefined) return false;
  if (stats.isDirectory() && (owner === undefined || stats.uid === owner)) return true;
  await rm(path, { recursive: true, force: true });
  log(`discarded the cached ${label}: ${stats.isDirectory() ? `written by uid ${stats.uid}, not by this site's build (uid ${owner})` : 'not a directory'}`);
  return false;
}
