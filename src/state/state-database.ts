import { chmodSync, closeSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BerthError } from '../errors.ts';

/**
 * One connection to `data_dir/state.db`, and the helpers every store on it
 * shares. The deploy history, the notification results and the admins keep
 * their own tables in the one file, each opened by its own store; the
 * connection settings, the error wording and the write transaction are the
 * same for all of them, so they live here.
 */
export interface StateDatabase {
  readonly db: DatabaseSync;
  readonly file: string;
  /** Runs one operation, turning SQLite's errors (a full disk, a lock held too long) into E_STATE_DB naming the file. */
  guard<T>(doing: string, work: () => T): T;
  /** A write transaction: BEGIN IMMEDIATE takes the write lock up front, so a read-modify-write cannot lose another process's change. */
  transaction<T>(work: () => T): T;
}

export interface StateDatabaseOptions {
  /** Which store is opening it, for errors (`for admins`). */
  purpose?: string;
  /**
   * Make an existing state.db (and its -wal, -shm) 0600 before opening it:
   * for the store that writes password hashes into it. The others leave an
   * old file's mode to the data directory's check at start, which says what
   * it changed.
   */
  keepPrivate?: boolean;
}

/**
 * Opens the file with the shared settings (a new file is created 0600),
 * then lets `setUp` create or migrate the caller's tables. Any failure here
 * (most often a file that is not a database at all) becomes one error that
 * names the file and what to do.
 */
export function openStateDatabase(dataDir: string, setUp: (db: DatabaseSync, file: string) => void, options: StateDatabaseOptions = {}): StateDatabase {
  const purpose = options.purpose ?? '';
  const file = join(dataDir, 'state.db');
  let db: DatabaseSync | undefined;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Created 0600 if it is not there yet; SQLite gives its -wal and -shm files the same mode.
    closeSync(openSync(file, 'a', 0o600));
    if (options.keepPrivate === true) keepPrivate(file);
    // The timeout is SQLite's busy_timeout: how long a write waits for another process's transaction.
    db = new DatabaseSync(file, { timeout: 5_000, enableForeignKeyConstraints: true });
    // WAL lets `berth deploys` read while `berth serve` writes. In WAL mode,
    // synchronous=NORMAL survives a crash of the process; a power cut may lose
    // the last transactions, never the file.
    enableWal(db);
    db.exec('PRAGMA synchronous = NORMAL');
    // Freed pages are overwritten, so a deleted row (a password hash, a token) does not linger in the file.
    db.exec('PRAGMA secure_delete = ON');
    setUp(db, file);
  } catch (error) {
    if (db?.isOpen === true) db.close();
    if (error instanceof BerthError) throw error;
    const reason = isSqliteError(error) ? sqliteReason(error) : (error as Error).message;
    throw new BerthError(
      'E_STATE_DB',
      `Could not open the state database ${file}${purpose === '' ? '' : ` ${purpose}`}: ${reason}; if the file is damaged, move it aside (berth then starts an empty one, without the deploy history) and start again`,
      { cause: error },
    );
  }
  const opened = db;
  return {
    db: opened,
    file,
    guard(doing, work) {
      try {
        return work();
      } catch (error) {
        if (!isSqliteError(error)) throw error;
        throw new BerthError('E_STATE_DB', `Could not ${doing} in the state database ${file}: ${sqliteReason(error)}`, { cause: error });
      }
    },
    transaction(work) {
      opened.exec('BEGIN IMMEDIATE');
      try {
        const result = work();
        opened.exec('COMMIT');
        return result;
      } catch (error) {
        if (opened.isTransaction) opened.exec('ROLLBACK');
        throw error;
      }
    },
  };
}

/**
 * Switching a new file to WAL needs a lock that SQLite does not wait for (the
 * busy timeout does not apply), so two processes creating state.db at the
 * same moment can see "database is locked": retry briefly. The mode is stored
 * in the file, so once it is WAL later opens skip the switch.
 */
function enableWal(db: DatabaseSync): void {
  for (let attempt = 1; ; attempt++) {
    try {
      if (db.prepare('PRAGMA journal_mode').get()?.journal_mode === 'wal') return;
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (error) {
      if (!isSqliteBusy(error) || attempt >= 100) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 40);
    }
  }
}

/**
 * state.db may have been made by a process with a looser umask than the
 * CLI's 077 (a test, a tool): it holds password hashes, so it is made
 * private, with its -wal and -shm files. Only files of this user are
 * changed; anyone else's are left as they are, and links are not followed.
 */
function keepPrivate(file: string): void {
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats?.isFile() === true && stats.uid === process.getuid?.() && (stats.mode & 0o077) !== 0) chmodSync(path, 0o600);
  }
}

interface SqliteError extends Error {
  code: 'ERR_SQLITE_ERROR';
  errcode?: number;
  errstr?: string;
}

export function isSqliteError(error: unknown): error is SqliteError {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_SQLITE_ERROR';
}

function isSqliteBusy(error: unknown): boolean {
  // SQLITE_BUSY is 5; extended codes keep it in the low byte.
  return isSqliteError(error) && typeof error.errcode === 'number' && (error.errcode & 0xff) === 5;
}

function sqliteReason(error: SqliteError): string {
  return error.errstr ?? error.message;
}
