import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../errors.ts';
import type { DeployPhases, DeployRecord, DeployState, DeployTrigger, NewDeploy } from '../deploy/deploy-types.ts';

/** What `updateDeploy` may change; `phases` is merged into the stored phases, not replaced. */
export type DeployPatch = Partial<Omit<DeployRecord, 'id' | 'site' | 'createdAt'>>;

export type DeliveryOutcome = 'new' | 'duplicate';

export interface ListDeploysOptions {
  site?: string;
  /** @default 20 */
  limit?: number;
  /** Only deploys in one of these states. */
  states?: readonly DeployState[];
}

/**
 * Deploy history and webhook deliveries, in `data_dir/state.db`. Several
 * processes may open the same file (a running `berth serve` and a
 * `berth deploy` from the shell); every write is one statement or one
 * transaction, so none of them sees half of another's change.
 */
export interface StateStore {
  /** The database file. */
  readonly file: string;
  /**
   * Notes that a forge delivered `delivery` for `site`. The first caller to
   * record an id gets `'new'`; every later one (a forge's retry, a second
   * process) gets `'duplicate'` and must not deploy again.
   */
  recordDelivery(site: string, forge: string, delivery: string): DeliveryOutcome;
  /** Ties a recorded delivery to the deploy it started. */
  linkDelivery(site: string, delivery: string, deployId: string): void;
  /** Removes a recorded delivery whose deploy could not be created, so a retry counts as new. */
  forgetDelivery(site: string, delivery: string): void;
  /** Stores a new deploy in state `queued`. */
  createDeploy(input: NewDeploy, now?: Date): DeployRecord;
  /** Changes a deploy and returns it as stored now. */
  updateDeploy(id: string, patch: DeployPatch): DeployRecord;
  getDeploy(id: string): DeployRecord | undefined;
  /** The deploy whose id starts with `prefix` (as typed on the command line); an ambiguous prefix is an error. */
  findDeploy(prefix: string): DeployRecord | undefined;
  /** Newest first. */
  listDeploys(options?: ListDeploysOptions): DeployRecord[];
  /**
   * Marks every deploy that was still queued, building or publishing as
   * failed: called when `berth serve` starts, it finds the deploys a crash or
   * a kill cut short. A deploy whose process is still alive (a `berth deploy`
   * running in a shell) is left alone. Returns the failed ones so the caller
   * can remove their work directories.
   *
   * Limit: liveness is judged by pid, so a dead deploy whose pid now belongs
   * to another process waits for the next start.
   */
  recoverInterrupted(now?: Date): DeployRecord[];
  /** The commit of the site's newest live deploy. */
  liveSha(site: string): string | undefined;
  close(): void;
}

/** Each entry moves the schema from version `index` to `index + 1`. Append only; never edit a shipped entry. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE deploys (
    id            TEXT PRIMARY KEY,
    site          TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    forge         TEXT,
    delivery      TEXT,
    ref           TEXT NOT NULL,
    sha           TEXT,
    author        TEXT,
    message       TEXT,
    state         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    phases        TEXT NOT NULL DEFAULT '{}',
    release_id    TEXT,
    build_source  TEXT,
    error_code    TEXT,
    error_message TEXT,
    -- The process that last wrote the deploy: the one running it.
    owner_pid     INTEGER
  ) STRICT;
  CREATE INDEX deploys_by_site ON deploys (site, created_at);
  CREATE INDEX deploys_by_state ON deploys (state);
  CREATE TABLE deliveries (
    site        TEXT NOT NULL,
    forge       TEXT NOT NULL,
    delivery    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    deploy_id   TEXT REFERENCES deploys (id) ON DELETE SET NULL,
    UNIQUE (site, delivery)
  ) STRICT;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** States a deploy is in only while a process is working on it. */
const UNFINISHED: Readonly<Record<string, string>> = {
  queued: 'waiting in the queue',
  building: 'fetching or building',
  publishing: 'publishing',
};

const DEPLOY_COLUMNS = `id, site, trigger, forge, delivery, ref, sha, author, message, state, created_at, started_at,
  finished_at, phases, release_id, build_source, error_code, error_message, owner_pid`;

const NEWEST_FIRST = 'ORDER BY created_at DESC, rowid DESC';

type Row = Record<string, SQLInputValue>;

export function openStateStore(dataDir: string): StateStore {
  const file = join(dataDir, 'state.db');
  const db = openDatabase(dataDir, file);

  const statements = {
    recordDelivery: db.prepare(
      `INSERT INTO deliveries (site, forge, delivery, received_at) VALUES (:site, :forge, :delivery, :receivedAt)
       ON CONFLICT (site, delivery) DO NOTHING`,
    ),
    linkDelivery: db.prepare('UPDATE deliveries SET deploy_id = :deployId WHERE site = :site AND delivery = :delivery'),
    forgetDelivery: db.prepare('DELETE FROM deliveries WHERE site = :site AND delivery = :delivery AND deploy_id IS NULL'),
    insertDeploy: db.prepare(
      `INSERT INTO deploys (${DEPLOY_COLUMNS}) VALUES (:id, :site, :trigger, :forge, :delivery, :ref, :sha, :author,
       :message, :state, :createdAt, :startedAt, :finishedAt, :phases, :releaseId, :buildSource, :errorCode, :errorMessage,
       :ownerPid)`,
    ),
    updateDeploy: db.prepare(
      // site and created_at are rewritten with the values read, so one parameter set serves insert and update.
      `UPDATE deploys SET site = :site, created_at = :createdAt, trigger = :trigger, forge = :forge, delivery = :delivery, ref = :ref, sha = :sha,
       author = :author, message = :message, state = :state, started_at = :startedAt, finished_at = :finishedAt,
       phases = :phases, release_id = :releaseId, build_source = :buildSource, error_code = :errorCode,
       error_message = :errorMessage, owner_pid = :ownerPid
       WHERE id = :id`,
    ),
    getDeploy: db.prepare(`SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE id = ?`),
    // An id prefix is matched with substr rather than LIKE, so `_` and `%` in it mean themselves.
    findDeploy: db.prepare(`SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6`),
    unfinished: db.prepare(
      `SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE state IN (${Object.keys(UNFINISHED).map(() => '?').join(', ')})
       ORDER BY created_at, rowid`,
    ),
    liveSha: db.prepare(`SELECT sha FROM deploys WHERE site = ? AND state = 'live' ${NEWEST_FIRST} LIMIT 1`),
  };

  /** Runs one operation, turning SQLite's errors (a full disk, a lock held too long) into ours. */
  function guard<T>(doing: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (!isSqliteError(error)) throw error;
      throw new BerthError('E_STATE_DB', `Could not ${doing} in the state database ${file}: ${sqliteReason(error)}`, { cause: error });
    }
  }

  /** A write transaction: BEGIN IMMEDIATE takes the write lock up front, so a read-modify-write cannot lose another process's change. */
  function transaction<T>(work: () => T): T {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      db.exec('COMMIT');
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }

  function getDeploy(id: string): DeployRecord | undefined {
    const row = statements.getDeploy.get(id);
    return row === undefined ? undefined : fromRow(row);
  }

  function writeDeploy(record: DeployRecord): void {
    statements.updateDeploy.run(toRow(record));
  }

  return {
    file,

    recordDelivery(site, forge, delivery) {
      return guard('record a webhook delivery', () => {
        const result = statements.recordDelivery.run({ site, forge, delivery, receivedAt: new Date().toISOString() });
        return result.changes === 1 ? 'new' : 'duplicate';
      });
    },

    linkDelivery(site, delivery, deployId) {
      guard('link a webhook delivery to its deploy', () => {
        statements.linkDelivery.run({ site, delivery, deployId });
      });
    },

    forgetDelivery(site, delivery) {
      guard('forget a webhook delivery', () => {
        statements.forgetDelivery.run({ site, delivery });
      });
    },

    createDeploy(input, now = new Date()) {
      const record: DeployRecord = {
        id: createDeployId(now),
        site: input.site,
        trigger: input.trigger,
        forge: input.forge,
        delivery: input.delivery,
        ref: input.ref,
        sha: input.sha,
        author: input.author,
        message: input.message,
        state: 'queued',
        createdAt: now.toISOString(),
        startedAt: undefined,
        finishedAt: undefined,
        phases: {},
        releaseId: undefined,
        buildSource: undefined,
        errorCode: undefined,
        errorMessage: undefined,
      };
      guard('store a new deploy', () => statements.insertDeploy.run(toRow(record)));
      return record;
    },

    updateDeploy(id, patch) {
      return guard(`update deploy ${id}`, () =>
        transaction(() => {
          const current = getDeploy(id);
          if (current === undefined) throw new Error(`Deploy ${id} is not in ${file}`);
          const next: DeployRecord = { ...current, ...patch, id, site: current.site, createdAt: current.createdAt, phases: { ...current.phases, ...patch.phases } };
          writeDeploy(next);
          return next;
        }),
      );
    },

    getDeploy(id) {
      return guard(`read deploy ${id}`, () => getDeploy(id));
    },

    findDeploy(prefix) {
      if (prefix === '') throw new BerthError('E_USAGE', 'Give a deploy id, or the first characters of one');
      const rows = guard('look up a deploy', () => statements.findDeploy.all(prefix.length, prefix));
      const matches = rows.map(fromRow);
      const exact = matches.find((deploy) => deploy.id === prefix);
      if (exact !== undefined || matches.length <= 1) return exact ?? matches[0];
      const shown = matches.slice(0, 5).map((deploy) => deploy.id).join(', ');
      throw new BerthError('E_USAGE', `Deploy id "${prefix}" matches several deploys (${shown}${matches.length > 5 ? ', …' : ''}); give more of the id`);
    },

    listDeploys(options = {}) {
      const { site, limit = 20, states } = options;
      if (states?.length === 0 || limit <= 0) return [];
      const where: string[] = [];
      const params: SQLInputValue[] = [];
      if (site !== undefined) {
        where.push('site = ?');
        params.push(site);
      }
      if (states !== undefined) {
        where.push(`state IN (${states.map(() => '?').join(', ')})`);
        params.push(...states);
      }
      const sql = `SELECT ${DEPLOY_COLUMNS} FROM deploys ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ${NEWEST_FIRST} LIMIT ?`;
      return guard('list deploys', () => db.prepare(sql).all(...params, Math.floor(limit)).map(fromRow));
    },

    recoverInterrupted(now = new Date()) {
      return guard('mark interrupted deploys as failed', () =>
        transaction(() => {
          // A `berth deploy` run from the shell works without the server: its deploy is unfinished but not interrupted.
          const stopped = statements.unfinished
            .all(...Object.keys(UNFINISHED))
            .filter((row) => !isOtherLiveProcess(row.owner_pid))
            .map(fromRow);
          return stopped.map((deploy) => {
            const failed: DeployRecord = {
              ...deploy,
              state: 'failed',
              finishedAt: now.toISOString(),
              errorCode: 'E_DEPLOY_INTERRUPTED',
              errorMessage: `Berth stopped while this deploy was ${UNFINISHED[deploy.state] ?? deploy.state}, so it never finished; push again or run berth deploy to retry`,
            };
            writeDeploy(failed);
            return failed;
          });
        }),
      );
    },

    liveSha(site) {
      return guard('read the live commit', () => {
        const sha = statements.liveSha.get(site)?.sha;
        return typeof sha === 'string' ? sha : undefined;
      });
    },

    close() {
      if (db.isOpen) db.close();
    },
  };
}

/**
 * Opens the file, sets the connection up and brings the schema up to date.
 * Any failure here (most often a file that is not a database at all) becomes
 * one error that names the file and what to do.
 */
function openDatabase(dataDir: string, file: string): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    // The timeout is SQLite's busy_timeout: how long a write waits for another process's transaction.
    db = new DatabaseSync(file, { timeout: 5_000, enableForeignKeyConstraints: true });
    // WAL lets `berth deploys` read while `berth serve` writes. In WAL mode,
    // synchronous=NORMAL survives a crash of the process; a power cut may lose
    // the last transactions, never the file.
    enableWal(db);
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('PRAGMA foreign_keys = ON');
    migrate(db, file);
    return db;
  } catch (error) {
    if (db?.isOpen === true) db.close();
    if (error instanceof BerthError) throw error;
    const reason = isSqliteError(error) ? sqliteReason(error) : (error as Error).message;
    throw new BerthError(
      'E_STATE_DB',
      `Could not open the state database ${file}: ${reason}; if the file is damaged, move it aside (berth then starts an empty one, without the deploy history) and start again`,
      { cause: error },
    );
  }
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

function migrate(db: DatabaseSync, file: string): void {
  if (userVersion(db) === SCHEMA_VERSION) return;
  // Two processes may start at once: the write lock makes one migrate while
  // the other waits, then finds nothing left to do.
  db.exec('BEGIN IMMEDIATE');
  try {
    const from = userVersion(db);
    if (from > SCHEMA_VERSION) {
      throw new BerthError(
        'E_STATE_DB',
        `The state database ${file} has schema version ${from}, written by a newer berth; this berth knows versions up to ${SCHEMA_VERSION}. Run the newer berth, or move the file aside to start an empty history`,
      );
    }
    for (let version = from; version < SCHEMA_VERSION; version++) db.exec(MIGRATIONS[version] as string);
    // PRAGMA takes no bound parameters; the value is our own integer.
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}

function userVersion(db: DatabaseSync): number {
  return Number(db.prepare('PRAGMA user_version').get()?.user_version ?? 0);
}

/** `20261127T085500Z-1a2b3c`: sorts by time like release ids; the random part keeps two deploys in one second apart. */
function createDeployId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

function toRow(record: DeployRecord): Row {
  return {
    id: record.id,
    site: record.site,
    trigger: record.trigger,
    forge: record.forge ?? null,
    delivery: record.delivery ?? null,
    ref: record.ref,
    sha: record.sha ?? null,
    author: record.author ?? null,
    message: record.message ?? null,
    state: record.state,
    createdAt: record.createdAt,
    startedAt: record.startedAt ?? null,
    finishedAt: record.finishedAt ?? null,
    phases: JSON.stringify(record.phases),
    releaseId: record.releaseId ?? null,
    buildSource: record.buildSource ?? null,
    errorCode: record.errorCode ?? null,
    errorMessage: record.errorMessage ?? null,
    ownerPid: process.pid,
  };
}

function isOtherLiveProcess(pid: unknown): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function fromRow(row: Record<string, unknown>): DeployRecord {
  return {
    id: text(row.id),
    site: text(row.site),
    trigger: text(row.trigger) as DeployTrigger,
    forge: optionalText(row.forge),
    delivery: optionalText(row.delivery),
    ref: text(row.ref),
    sha: optionalText(row.sha),
    author: optionalText(row.author),
    message: optionalText(row.message),
    state: text(row.state) as DeployState,
    createdAt: text(row.created_at),
    startedAt: optionalText(row.started_at),
    finishedAt: optionalText(row.finished_at),
    phases: parsePhases(row.phases),
    releaseId: optionalText(row.release_id),
    buildSource: optionalText(row.build_source),
    errorCode: optionalText(row.error_code),
    errorMessage: optionalText(row.error_message),
  };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

function optionalText(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : text(value);
}

function parsePhases(value: unknown): DeployPhases {
  if (typeof value !== 'string') return {};
  const parsed: unknown = JSON.parse(value);
  const phases: DeployPhases = {};
  if (typeof parsed !== 'object' || parsed === null) return phases;
  for (const [name, ms] of Object.entries(parsed)) {
    if (typeof ms === 'number') phases[name as keyof DeployPhases] = ms;
  }
  return phases;
}

interface SqliteError extends Error {
  code: 'ERR_SQLITE_ERROR';
  errcode?: number;
  errstr?: string;
}

function isSqliteError(error: unknown): error is SqliteError {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_SQLITE_ERROR';
}

function isSqliteBusy(error: unknown): boolean {
  // SQLITE_BUSY is 5; extended codes keep it in the low byte.
  return isSqliteError(error) && typeof error.errcode === 'number' && (error.errcode & 0xff) === 5;
}

function sqliteReason(error: SqliteError): string {
  return error.errstr ?? error.message;
}
