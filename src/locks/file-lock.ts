import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rm, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../errors.ts';
import { readAtMost } from '../read-at-most.ts';
import { currentProcess, isRunning, parseIdentity } from '../state/process-identity.ts';

/**
 * The one lock of Berth: sites (publish, activation, deploys, the git
 * cache), the data directory (one `berth serve` per data dir) and
 * certificates (one order per name) all take it.
 *
 * A lock is a file created exclusively, holding its owner: pid, the
 * process's start time (so a reused pid is told apart), host and a random
 * id naming this one acquisition. Its holder touches it every `refreshMs`.
 * It is stale, and taken over, when its process is gone (on this host: dead,
 * a zombie, or its pid now someone else's), when it has not been touched for
 * `staleMs` (a hung holder, or one on another host), or when it names no
 * process and is older than a few seconds (not a lock Berth wrote).
 *
 * Takeover cannot let two processes in: removing a lock file (a takeover,
 * and also its holder's release) first claims the right to remove that one
 * acquisition, by exclusively creating a claim file named after its id.
 * Only the claim's winner removes it, and only after reading the lock again
 * and finding the same acquisition; a fresh lock has another id, so a slow
 * taker can never remove it. A claim left by a process that died holding it
 * is itself a lock file, taken over by the same rules.
 *
 * Hostile files: the lock is never opened through a symbolic link, a lock
 * path that is a link, a directory or anything but a regular file is an
 * error (E_LOCK_FILE) and left alone, and at most 4 KiB of it is read; a
 * larger or unparseable file is treated as not Berth's.
 *
 * Limits: the model trusts the clocks of the hosts sharing a directory to
 * agree within `staleMs`, and where there is no /proc a live process with a
 * reused pid keeps a dead holder's lock until `staleMs` has passed.
 */
export interface FileLockOptions {
  /** How long to wait for a lock that is held; 0 refuses at once. */
  waitMs: number;
  /** The caller's error for a lock still held after `waitMs` (E_SITE_LOCKED, E_DATA_DIR_LOCKED, …). */
  busy: (holder: LockHolder) => BerthError;
  /** @default 5000 */
  refreshMs?: number;
  /** @default 30000 */
  staleMs?: number;
  /** How often a waiter looks again. @default 50 */
  pollMs?: number;
  /** Mode of directories created on the way to the lock file; the umask's default otherwise. */
  dirMode?: number;
  /** Mode of the lock file (it holds a pid, a start time and a host name). @default 0o600 */
  fileMode?: number;
  /** Told once, the first time the lock is found held by a live holder, before the wait: a caller can say why it waits. */
  onWait?: (holder: LockHolder) => void;
}

/** Who a lock file says holds it; fields a file does not give (garbage, an older format) are undefined. */
export interface LockHolder {
  pid: number | undefined;
  start: string | undefined;
  /** Undefined in locks written before hosts were recorded: taken as this host. */
  host: string | undefined;
}

export interface FileLock {
  /** Removes the lock file, if it still holds this acquisition; once. */
  release(): Promise<void>;
}

const DEFAULT_REFRESH_MS = 5_000;
const DEFAULT_STALE_MS = 30_000;
const DEFAULT_POLL_MS = 50;
/** An unparseable lock file younger than this may be one an older Berth is still writing. */
const UNREADABLE_GRACE_MS = 5_000;
/** The most of a lock file read; ours are about 120 bytes. */
const MAX_LOCK_BYTES = 4096;
const ID_PATTERN = /^[0-9a-f]{16}$/;

const me = { pid: currentProcess.pid, start: currentProcess.start, host: hostname() };
/** Ids of the acquisitions this process holds: a lock with our pid and another id was left by an earlier process. */
const heldIds = new Set<string>();

/** Waits (up to `waitMs`) for the lock and takes it. */
export async function acquireFileLock(file: string, options: FileLockOptions): Promise<FileLock> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  await mkdir(dirname(file), { recursive: true, ...(options.dirMode === undefined ? {} : { mode: options.dirMode }) });
  const id = randomBytes(8).toString('hex');
  const deadline = Date.now() + options.waitMs;
  let told = false;
  for (;;) {
    if (await createExclusive(file, ownerRecord(id), options.fileMode)) break;
    const found = await readLock(file);
    // Released between our create and read.
    if (found === undefined) continue;
    if (isStale(found, staleMs)) {
      // Not removed: another process is taking the same lock over; its outcome is seen on the next look.
      if (!(await takeOver(file, found, staleMs))) await sleep(pollMs);
      continue;
    }
    if (Date.now() >= deadline) throw options.busy(found.holder);
    if (!told) {
      told = true;
      options.onWait?.(found.holder);
    }
    await sleep(pollMs);
  }
  heldIds.add(id);
  await sweepClaims(file, id);
  const refresh = setInterval(() => {
    void touchIfOurs(file, id).then(
      (ours) => {
        // Taken over by a process that judged this one hung: stop touching it.
        if (!ours) clearInterval(refresh);
      },
      () => undefined,
    );
  }, options.refreshMs ?? DEFAULT_REFRESH_MS);
  refresh.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(refresh);
      heldIds.delete(id);
      await removeAcquisition(file, id);
    },
  };
}

/** Runs `work` holding the lock, and releases it whatever the outcome. */
export async function withFileLock<T>(file: string, options: FileLockOptions, work: () => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(file, options);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** Who holds the lock now, or undefined when it is free or stale. */
export async function currentHolder(file: string, options: { staleMs?: number } = {}): Promise<LockHolder | undefined> {
  const found = await readLock(file);
  return found === undefined || isStale(found, options.staleMs ?? DEFAULT_STALE_MS) ? undefined : found.holder;
}

/** A lock file as read: who it names and which acquisition it is. */
interface LockState {
  holder: LockHolder;
  /** The acquisition's id; for a file without one, a digest of its inode and content. */
  key: string;
  /** Whether the file names its holder the way Berth writes locks (now, or before hosts and ids were kept). */
  readable: boolean;
  ageMs: number;
}

function ownerRecord(id: string): string {
  return `${JSON.stringify({ pid: me.pid, start: me.start, host: me.host, id, created: new Date().toISOString() })}\n`;
}

/** Names beside the lock file: short and fixed-length whatever the lock's name (a certificate's can be 253 bytes). */
function sideName(file: string, suffix: string): string {
  const tag = createHash('sha256').update(basename(file)).digest('hex').slice(0, 16);
  return join(dirname(file), `.${tag}-${suffix}`);
}

function claimName(file: string, key: string): string {
  return sideName(file, `${key}.claim`);
}

/**
 * Creates `file` with `content` unless something exists at that path. The
 * content is written in full under a private name and hard-linked into
 * place, so no one ever reads a half-written lock; link() never follows a
 * symbolic link at the destination.
 */
async function createExclusive(file: string, content: string, mode = 0o600): Promise<boolean> {
  const temp = sideName(file, `${randomBytes(8).toString('hex')}.new`);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      // The umask (Berth's CLI sets 077) would narrow the mode asked for; a lock others must read says so itself.
      await handle.chmod(mode);
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    await link(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Opens a lock file for reading without following a link; undefined when there is none. */
async function openLock(file: string): Promise<{ handle: FileHandle; info: Stats } | undefined> {
  let before: Stats;
  try {
    before = await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  // Never open a device or a FIFO: opening one can block or have effects.
  if (!before.isFile()) throw notALockFile(file, before);
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw notALockFile(file, undefined);
    throw error;
  }
  try {
    const info = await handle.stat();
    // Replaced between the two looks.
    if (!info.isFile()) throw notALockFile(file, info);
    return { handle, info };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function readLock(file: string): Promise<LockState | undefined> {
  const opened = await openLock(file);
  if (opened === undefined) return undefined;
  try {
    return await readState(opened.handle, opened.info);
  } finally {
    await opened.handle.close();
  }
}

async function readState(handle: FileHandle, info: Stats): Promise<LockState> {
  const bytes = await readAtMost(handle, MAX_LOCK_BYTES + 1);
  return parseLock(bytes.length > MAX_LOCK_BYTES ? undefined : bytes, info);
}

/**
 * Reads the formats Berth has written: `{"pid","start","host","id",…}`
 * (JSON), and `pid` or `pid start` (the data dir and site locks of earlier
 * versions, taken as this host's). Anything else names no holder.
 */
function parseLock(bytes: Buffer | undefined, info: Stats): LockState {
  const ageMs = Date.now() - info.mtimeMs;
  const text = bytes?.toString('utf8').trim() ?? '';
  const derivedKey = createHash('sha256').update(`${info.dev}:${info.ino}:${info.size}:`).update(bytes ?? Buffer.alloc(0)).digest('hex').slice(0, 16);
  const unknown: LockState = { holder: { pid: undefined, start: undefined, host: undefined }, key: derivedKey, readable: false, ageMs };
  if (bytes === undefined) return unknown;
  if (/^\d+(\s+\d+)?$/.test(text)) {
    const { pid, start } = parseIdentity(text);
    return { holder: { pid: pid > 0 ? pid : undefined, start, host: undefined }, key: derivedKey, readable: true, ageMs };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return unknown;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return unknown;
  const record = value as Record<string, unknown>;
  const pid = Number.isSafeInteger(record.pid) && (record.pid as number) > 0 ? (record.pid as number) : undefined;
  const start = typeof record.start === 'string' && /^\d{1,20}$/.test(record.start) ? record.start : undefined;
  const host = typeof record.host === 'string' ? record.host : undefined;
  const key = typeof record.id === 'string' && ID_PATTERN.test(record.id) ? record.id : derivedKey;
  return { holder: { pid, start, host }, key, readable: true, ageMs };
}

function isStale(found: LockState, staleMs: number): boolean {
  if (found.ageMs > staleMs) return true;
  if (!found.readable) return found.ageMs > UNREADABLE_GRACE_MS;
  const { pid, start, host } = found.holder;
  // Another host's process cannot be looked at from here: only the refreshes tell.
  if (host !== undefined && host !== me.host) return false;
  if (pid === undefined) return false;
  // Our own pid on a lock we do not hold: left by an earlier process that had
  // the same pid, as in a container where Berth is always the same pid.
  if (pid === me.pid) return !heldIds.has(found.key);
  return !isRunning({ pid, start });
}

/**
 * Removes the stale acquisition `judged` of the lock, if no other process is
 * removing it already. Returns whether the lock file no longer holds it.
 */
async function takeOver(file: string, judged: LockState, staleMs: number): Promise<boolean> {
  const removed = await withClaim(file, judged.key, async () => {
    const now = await readLock(file);
    if (now?.key === judged.key) await unlinkIfPresent(file);
    return true;
  });
  if (removed !== undefined) return true;
  const claimant = await readLock(claimName(file, judged.key));
  // The other taker is done.
  if (claimant === undefined) return true;
  // The other taker died (or hung) holding its claim: clear the claim the same way, then look again.
  if (isStale(claimant, staleMs)) await takeOver(claimName(file, judged.key), claimant, staleMs);
  return false;
}

/**
 * Runs `work` holding the claim on acquisition `key` of the lock; undefined,
 * without running it, when another holds that claim. The claim's own id
 * counts as held while it exists, so another acquisition in this process
 * never judges it left by an earlier process with our pid.
 */
async function withClaim<T>(file: string, key: string, work: () => Promise<T>): Promise<T | undefined> {
  const claim = claimName(file, key);
  const claimId = randomBytes(8).toString('hex');
  heldIds.add(claimId);
  try {
    if (!(await createExclusive(claim, ownerRecord(claimId)))) return undefined;
    try {
      return await work();
    } finally {
      await rm(claim, { force: true });
    }
  } finally {
    heldIds.delete(claimId);
  }
}

/** The holder's release: removes its own acquisition, unless a taker has claimed it (then it is the taker's to remove). */
async function removeAcquisition(file: string, id: string): Promise<void> {
  try {
    await withClaim(file, id, async () => {
      // A lock path turned into a link or a directory since: not ours to touch.
      const now = await readLock(file).catch(() => undefined);
      if (now?.key === id) await unlinkIfPresent(file);
    });
  } catch (error) {
    // The lock's directory is gone, and the lock with it.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Claims of acquisitions other than ours are of locks that are gone (ours is
 * the lock now): left by a process that died between removing a lock and
 * its claim. A late taker holding one finds our id and removes nothing.
 */
async function sweepClaims(file: string, id: string): Promise<void> {
  const prefix = basename(sideName(file, ''));
  let names: string[];
  try {
    names = await readdir(dirname(file));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && name.endsWith('.claim') && name !== basename(claimName(file, id))) {
      await rm(join(dirname(file), name), { force: true });
    }
  }
}

/** Touches the lock (through the descriptor, never a path that could have become a link) while it holds `id`. */
async function touchIfOurs(file: string, id: string): Promise<boolean> {
  const opened = await openLock(file);
  if (opened === undefined) return false;
  const { handle, info } = opened;
  try {
    if ((await readState(handle, info)).key !== id) return false;
    const now = new Date();
    await handle.utimes(now, now);
    return true;
  } finally {
    await handle.close();
  }
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function notALockFile(file: string, info: Stats | undefined): BerthError {
  const what = info === undefined || info.isSymbolicLink() ? 'a symbolic link'
    : info.isDirectory() ? 'a directory'
    : info.isFIFO() ? 'a named pipe'
    : info.isSocket() ? 'a socket'
    : 'a device';
  return new BerthError('E_LOCK_FILE', `Cannot take the lock ${file}: it is ${what}, which Berth never creates, and was left alone; remove it and try again`);
}
