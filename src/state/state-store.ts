import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../errors.ts';
import type { DeployPhases, DeployRecord, DeployState, DeployTrigger, NewDeploy } from '../deploy/deploy-types.ts';
import { currentProcess, identify, isRunning, type ProcessIdentity } from './process-identity.ts';
import { openStateDatabase } from './state-database.ts';

/** What `updateDeploy` may change; `phases` is merged into the stored phases, not replaced. */
export type DeployPatch = Partial<Omit<DeployRecord, 'id' | 'site' | 'createdAt'>>;

export type DeliveryOutcome = 'new' | 'duplicate';

/** A site whose automatic deploys are off (the dashboard's lock, or a rollback from it). */
export interface SiteLock {
  site: string;
  /** Who locked it: an admin's name, or `token:<name>`. */
  by: string;
  /** ISO 8601. */
  at: string;
  reason: string | undefined;
}

export interface ListDeploysOptions {
  site?: string;
  /** @default 20 */
  limit?: number;
  /** Only deploys in one of these states. */
  states?: readonly DeployState[];
  /** Only deploys older than this one (a page of history after the one that ended with it); an id not in the history matches none. */
  before?: string;
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
   * Marks as failed every deploy still queued, building or publishing whose
   * process is gone: a crash or a kill cut it short (`berth serve` stopped,
   * or a `berth deploy` in a shell was killed). A deploy whose process still
   * runs (this one's included) is left alone. Each row records its process
   * by pid and start time, so a pid that now belongs to another process, or
   * a zombie, does not keep a dead deploy "running". Returns the failed ones
   * so the caller can remove what they left (see `buildProcess`).
   *
   * @param site only this site's deploys
   */
  recoverInterrupted(now?: Date, site?: string): DeployRecord[];
  /**
   * Records the process group of a deploy's running build (its leader's pid
   * and start time), or clears it once the build is over, so that whoever
   * finds the deploy interrupted can stop a build that outlived its deploy.
   */
  recordBuildProcess(id: string, pgid: number | undefined): void;
  /**
   * Whether the process that last wrote the deploy (the server that queued
   * or runs it, or a `berth deploy`) still runs: an unfinished deploy whose
   * process is gone will not move until it is found interrupted.
   */
  ownerRunning(id: string): boolean;
  /** The build process group recorded for a deploy, if its build may still be running. */
  buildProcess(id: string): ProcessIdentity | undefined;
  /**
   * Deletes up to `limit` deploys the retention policy lets go, and returns
   * their ids (their logs are the caller's to remove). A deploy goes only when
   * all of these hold: it is not among the newest `keepPerSite` of its site,
   * it was created before `before`, it is finished (not queued, building or
   * publishing), and it is not its site's newest live deploy or newest live
   * rollback (the first tells a push of the live commit apart from a new
   * one). Call again until it returns fewer than `limit`: each call is one
   * short transaction.
   */
  pruneDeploys(policy: { keepPerSite: number; before: Date }, limit: number): string[];
  /** Deletes up to `limit` webhook deliveries received before `before`; returns how many. */
  pruneDeliveries(before: Date, limit: number): number;
  /** Whether a deploy with this id is in the history (for logs whose deploy is gone). */
  hasDeploy(id: string): boolean;
  /** The commit of the site's newest live deploy; rollbacks are left out (they deploy no commit of the branch). */
  liveSha(site: string): string | undefined;
  /** The newest deploy, rollbacks included, that made `releaseId` live: the one to show as `live` while it is served. */
  servingDeploy(site: string, releaseId: string | undefined): string | undefined;
  /**
   * Stops pushes, polls and hooks from deploying `site` (a rollback stays
   * live) until `unlockSite`. Locking a locked site keeps the first lock and
   * returns it.
   */
  lockSite(site: string, lock: Omit<SiteLock, 'site'>): SiteLock;
  /** Returns the lock that was removed, if the site was locked. */
  unlockSite(site: string): SiteLock | undefined;
  siteLock(site: string): SiteLock | undefined;
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
  // Who runs a deploy is a pid and that process's start time (a pid alone is
  // reused); the build's process group is kept while it runs.
  `
  ALTER TABLE deploys ADD COLUMN owner_start TEXT;
  ALTER TABLE deploys ADD COLUMN build_pgid INTEGER;
  ALTER TABLE deploys ADD COLUMN build_start TEXT;
  CREATE INDEX deliveries_by_time ON deliveries (received_at);
  CREATE INDEX deliveries_by_deploy ON deliveries (deploy_id);
  `,
  // Sites whose pushes and polls do not deploy until unlocked.
  `
  CREATE TABLE site_locks (
    site      TEXT PRIMARY KEY,
    locked_by TEXT NOT NULL,
    locked_at TEXT NOT NULL,
    reason    TEXT
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
  finished_at, phases, release_id, build_source, error_code, error_message, owner_pid, owner_start`;

const NEWEST_FIRST = 'ORDER BY created_at DESC, rowid DESC';

type Row = Record<string, SQLInputValue>;

export function openStateStore(dataDir: string): StateStore {
  const { db, file, guard, transaction } = openStateDatabase(dataDir, migrate);

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
       :ownerPid, :ownerStart)`,
    ),
    updateDeploy: db.prepare(
      // site and created_at are rewritten with the values read, so one parameter set serves insert and update.
      `UPDATE deploys SET site = :site, created_at = :createdAt, trigger = :trigger, forge = :forge, delivery = :delivery, ref = :ref, sha = :sha,
       author = :author, message = :message, state = :state, started_at = :startedAt, finished_at = :finishedAt,
       phases = :phases, release_id = :releaseId, build_source = :buildSource, error_code = :errorCode,
       error_message = :errorMessage, owner_pid = :ownerPid, owner_start = :ownerStart
       WHERE id = :id`,
    ),
    getDeploy: db.prepare(`SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE id = ?`),
    // An id prefix is matched with substr rather than LIKE, so `_` and `%` in it mean themselves.
    findDeploy: db.prepare(`SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6`),
    unfinished: db.prepare(
      `SELECT ${DEPLOY_COLUMNS} FROM deploys WHERE state IN (${Object.keys(UNFINISHED).map(() => '?').join(', ')})
       ORDER BY created_at, rowid`,
    ),
    // A rollback makes an older commit live without deploying it: the branch's commit is still the last one deployed.
    liveSha: db.prepare(`SELECT sha FROM deploys WHERE site = ? AND state = 'live' AND trigger <> 'rollback' ${NEWEST_FIRST} LIMIT 1`),
    servingDeploy: db.prepare(`SELECT id FROM deploys WHERE site = ? AND state = 'live' AND release_id = ? ${NEWEST_FIRST} LIMIT 1`),
    prunableDeploys: db.prepare(
      `SELECT id FROM (
         SELECT id, state, created_at,
           ROW_NUMBER() OVER (PARTITION BY site ORDER BY created_at DESC, rowid DESC) AS age_rank,
           ROW_NUMBER() OVER (PARTITION BY site, state = 'live', trigger = 'rollback' ORDER BY created_at DESC, rowid DESC) AS state_rank
         FROM deploys)
       WHERE age_rank > :keep AND created_at < :before
         AND state NOT IN (${Object.keys(UNFINISHED).map((state) => `'${state}'`).join(', ')})
         AND NOT (state = 'live' AND state_rank = 1)
       LIMIT :limit`,
    ),
    deleteDeploy: db.prepare('DELETE FROM deploys WHERE id = ?'),
    pruneDeliveries: db.prepare('DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE received_at < ? LIMIT ?)'),
    hasDeploy: db.prepare('SELECT 1 AS found FROM deploys WHERE id = ?'),
    setBuildProcess: db.prepare('UPDATE deploys SET build_pgid = :pgid, build_start = :start WHERE id = :id'),
    buildProcess: db.prepare('SELECT build_pgid, build_start FROM deploys WHERE id = ?'),
    owner: db.prepare('SELECT owner_pid, owner_start FROM deploys WHERE id = ?'),
    lockSite: db.prepare('INSERT INTO site_locks (site, locked_by, locked_at, reason) VALUES (?, ?, ?, ?) ON CONFLICT (site) DO NOTHING'),
    siteLock: db.prepare('SELECT site, locked_by, locked_at, reason FROM site_locks WHERE site = ?'),
    unlockSite: db.prepare('DELETE FROM site_locks WHERE site = ? RETURNING site, locked_by, locked_at, reason'),
  };

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
      const { site, limit = 20, states, before } = options;
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
      if (before !== undefined) {
        // The order of NEWEST_FIRST, as a row value: a page starts right after the row it continues from.
        where.push('(created_at, rowid) < (SELECT created_at, rowid FROM deploys WHERE id = ?)');
        params.push(before);
      }
      const sql = `SELECT ${DEPLOY_COLUMNS} FROM deploys ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ${NEWEST_FIRST} LIMIT ?`;
      return guard('list deploys', () => db.prepare(sql).all(...params, Math.floor(limit)).map(fromRow));
    },

    recoverInterrupted(now = new Date(), site = undefined) {
      return guard('mark interrupted deploys as failed', () =>
        transaction(() => {
          // A `berth deploy` run from the shell works without the server: its deploy is unfinished but not interrupted.
          const stopped = statements.unfinished
            .all(...Object.keys(UNFINISHED))
            .filter((row) => (site === undefined || row.site === site) && !isOwnerRunning(row))
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

    recordBuildProcess(id, pgid) {
      // The leader's start time tells this group from a later one given the same id.
      const start = pgid === undefined ? undefined : identify(pgid)?.start;
      guard(`record the build process of deploy ${id}`, () => {
        statements.setBuildProcess.run({ id, pgid: pgid ?? null, start: start ?? null });
      });
    },

    ownerRunning(id) {
      return guard(`read the process of deploy ${id}`, () => {
        const row = statements.owner.get(id);
        return row !== undefined && isOwnerRunning(row);
      });
    },

    buildProcess(id) {
      return guard(`read the build process of deploy ${id}`, () => {
        const row = statements.buildProcess.get(id);
        const pgid = row?.build_pgid;
        if (typeof pgid !== 'number' || !Number.isInteger(pgid) || pgid <= 1) return undefined;
        return { pid: pgid, start: typeof row?.build_start === 'string' ? row.build_start : undefined };
      });
    },

    pruneDeploys({ keepPerSite, before }, limit) {
      return guard('delete old deploys', () =>
        transaction(() => {
          const ids = statements.prunableDeploys
            .all({ keep: Math.max(0, Math.floor(keepPerSite)), before: before.toISOString(), limit: Math.max(0, Math.floor(limit)) })
            .map((row) => text(row.id));
          for (const id of ids) statements.deleteDeploy.run(id);
          return ids;
        }),
      );
    },

    pruneDeliveries(before, limit) {
      return guard('delete old webhook deliveries', () => Number(statements.pruneDeliveries.run(before.toISOString(), Math.max(0, Math.floor(limit))).changes));
    },

    hasDeploy(id) {
      return guard(`look up deploy ${id}`, () => statements.hasDeploy.get(id) !== undefined);
    },

    liveSha(site) {
      return guard('read the live commit', () => {
        const sha = statements.liveSha.get(site)?.sha;
        return typeof sha === 'string' ? sha : undefined;
      });
    },

    servingDeploy(site, releaseId) {
      if (releaseId === undefined) return undefined;
      return guard('read the live deploy', () => {
        const id = statements.servingDeploy.get(site, releaseId)?.id;
        return typeof id === 'string' ? id : undefined;
      });
    },

    lockSite(site, lock) {
      return guard('lock the site', () => {
        statements.lockSite.run(site, lock.by, lock.at, lock.reason ?? null);
        return lockOf(statements.siteLock.get(site)) as SiteLock;
      });
    },

    unlockSite(site) {
      return guard('unlock the site', () => lockOf(statements.unlockSite.get(site)));
    },

    siteLock(site) {
      return guard('read the site lock', () => lockOf(statements.siteLock.get(site)));
    },

    close() {
      if (db.isOpen) db.close();
    },
  };
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
    ownerPid: currentProcess.pid,
    ownerStart: currentProcess.start ?? null,
  };
}

/** Whether the process that wrote an unfinished row still runs (this one included). */
function isOwnerRunning(row: Record<string, unknown>): boolean {
  const pid = row.owner_pid;
  if (typeof pid !== 'number') return false;
  // A row with our pid but another start time (or none: written before start
  // times were kept) is an earlier process's that had the same pid, as a
  // container's pid 1 always does: isRunning says it is gone.
  return isRunning({ pid, start: typeof row.owner_start === 'string' ? row.owner_start : undefined });
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

function lockOf(row: Row | undefined): SiteLock | undefined {
  if (row === undefined) return undefined;
  return { site: String(row.site), by: String(row.locked_by), at: String(row.locked_at), reason: typeof row.reason === 'string' ? row.reason : undefined };
}
