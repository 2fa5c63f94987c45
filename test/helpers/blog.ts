import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The example blog's source, examples/blog in this repository. */
export const BLOG_DIR = fileURLToPath(new URL('../../examples/blog/', import.meta.url));

/** Folders in the blog that are made by tools, never copied or hashed. */
const GENERATED = new Set(['node_modules', 'dist', '.astro']);

/** Longest a build may take before the waiting side gives up, and before a lock counts as abandoned. */
const BUILD_TIMEOUT_MS = 5 * 60_000;

/**
 * Builds examples/blog once and returns the path of its `dist/`.
 *
 * The blog's files (those git tracks, plus new ones it does not ignore) are
 * copied to `<tmpdir>/berth-blog-build/<hash of those files>/`, where
 * `npm ci` and `npm run build` run. A later call, in this process or
 * another, reuses that build while the files are unchanged. Concurrent
 * callers (node --test runs test files in several processes) take turns
 * through a lock directory: one builds, the others wait for it.
 */
export async function buildBlog(): Promise<string> {
  const files = await blogFiles();
  const hash = await hashFiles(files);
  const root = join(tmpdir(), 'berth-blog-build');
  const dir = join(root, hash.slice(0, 20));
  const marker = join(dir, '.berth-built');
  const dist = join(dir, 'dist');
  await mkdir(root, { recursive: true });

  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    if (existsSync(marker)) return dist;
    const release = await tryLock(`${dir}.lock`);
    if (release !== undefined) {
      try {
        if (!existsSync(marker)) {
          await buildInto(dir, files);
          await pruneOldBuilds(root, dir);
        }
        await writeFile(marker, new Date().toISOString());
        return dist;
      } finally {
        await release();
      }
    }
    if (Date.now() > deadline) throw new Error(`buildBlog: gave up waiting for another process's build of the blog in ${dir}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Removes builds of earlier versions of the blog, unused for a day, so the cache does not grow forever. */
async function pruneOldBuilds(root: string, keep: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (path === keep || !entry.isDirectory() || entry.name.endsWith('.lock')) continue;
    try {
      const marker = await stat(join(path, '.berth-built'));
      if (Date.now() - marker.mtimeMs > 24 * 60 * 60_000 && !existsSync(`${path}.lock`)) await rm(path, { recursive: true, force: true });
    } catch {
      // No marker: a build in progress elsewhere, or one that failed; leave it to its owner.
    }
  }
}

/** The blog's files, relative to BLOG_DIR: tracked ones and new, not ignored ones. */
async function blogFiles(): Promise<string[]> {
  let listed: string[];
  try {
    const { stdout } = await promisify(execFile)('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '.'], {
      cwd: BLOG_DIR,
      maxBuffer: 16 * 1024 * 1024,
    });
    listed = stdout.split('\0').filter((name) => name !== '');
  } catch {
    // Not a git checkout (a copied tarball, say): every file but the generated folders.
    listed = await walk(BLOG_DIR);
  }
  const present = listed.filter((name) => !GENERATED.has(name.split('/')[0] ?? '') && existsSync(join(BLOG_DIR, name)));
  if (present.length === 0) throw new Error(`buildBlog: no files found in ${BLOG_DIR}`);
  return present.sort();
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const name = relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/');
    out.push(name);
  }
  return out;
}

async function hashFiles(files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const name of files) {
    hash.update(`${name}\0`);
    hash.update(await readFile(join(BLOG_DIR, name)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/**
 * Takes the lock (an exclusive mkdir) or returns undefined when another live
 * process holds it. A lock left by a process that died, or older than the
 * build timeout, is removed.
 */
async function tryLock(lock: string): Promise<(() => Promise<void>) | undefined> {
  try {
    await mkdir(lock);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (await lockAbandoned(lock)) await rm(lock, { recursive: true, force: true });
    return undefined;
  }
  await writeFile(join(lock, 'pid'), String(process.pid));
  return () => rm(lock, { recursive: true, force: true });
}

async function lockAbandoned(lock: string): Promise<boolean> {
  try {
    const info = await stat(lock);
    if (Date.now() - info.mtimeMs > BUILD_TIMEOUT_MS) return true;
    const pid = Number(await readFile(join(lock, 'pid'), 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - info.mtimeMs > 5000;
    process.kill(pid, 0);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return true; // its process is gone
    if (code === 'ENOENT') return false; // just released, or the pid not written yet
    if (code === 'EPERM') return false; // alive, another user's
    throw error;
  }
}

async function buildInto(dir: string, files: string[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  for (const name of files) {
    const target = join(dir, name);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(join(BLOG_DIR, name), target);
  }
  // A deterministic build: the default site address, no telemetry prompt.
  const env: NodeJS.ProcessEnv = { ...process.env, ASTRO_TELEMETRY_DISABLED: '1', NO_UPDATE_NOTIFIER: '1', CI: 'true' };
  delete env.SITE_URL;
  delete env.NODE_ENV;
  await run('npm', ['ci', '--no-audit', '--no-fund'], dir, env);
  await run('npm', ['run', 'build'], dir, env);
  if (!existsSync(join(dir, 'dist', 'index.html'))) throw new Error(`buildBlog: npm run build in ${dir} made no dist/index.html`);
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`buildBlog: could not run ${command} ${args.join(' ')} in ${cwd}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`buildBlog: \`${command} ${args.join(' ')}\` failed in ${cwd} (${signal ?? `exit ${code}`}). Its output:\n${output}`));
    });
  });
}
