import { openStateDatabase } from '../state/state-database.ts';
import type { NotifyEventType } from './notify-event.ts';

/** One delivery attempt, as the dispatcher reports it. */
export interface DeliveryAttempt {
  channel: string;
  eventId: string;
  eventType: NotifyEventType;
  site: string | undefined;
  /** 1 for the first try of an event. */
  attempt: number;
  ok: boolean;
  httpStatus?: number;
  /** The failure's message: it names a host at most, never a URL path or a secret. */
  error?: string;
  /** ISO 8601. */
  at: string;
  willRetry: boolean;
}

/** What `berth notify status` shows for a channel. */
export interface ChannelResult {
  channel: string;
  /** The latest attempt. */
  last: DeliveryAttempt;
  /** When a delivery last succeeded, ISO 8601. */
  lastSuccessAt: string | undefined;
  /** Failed attempts since the last success (all of them if none ever succeeded). */
  failuresSinceSuccess: number;
}

export interface DeliveryResults {
  record(attempt: DeliveryAttempt): void;
  list(): ChannelResult[];
  close(): void;
}

const TABLE = `CREATE TABLE IF NOT EXISTS notify_results (
  channel TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  site TEXT,
  attempt INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  http_status INTEGER,
  error TEXT,
  at TEXT NOT NULL,
  will_retry INTEGER NOT NULL,
  last_success_at TEXT,
  failures_since_success INTEGER NOT NULL
)`;

/**
 * The latest result per channel, in `<dataDir>/state.db` beside the deploy
 * history, so `berth notify status` can read what `berth serve` saw. The
 * table is this module's own, created if missing; the state store's schema
 * versions do not cover it and need not know of it.
 */
export function openDeliveryResults(dataDir: string): DeliveryResults {
  const { db, guard } = openStateDatabase(dataDir, (opened) => opened.exec(TABLE), { purpose: 'for notification results' });
  const upsert = db.prepare(
    `INSERT INTO notify_results (channel, event_id, event_type, site, attempt, ok, http_status, error, at, will_retry, last_success_at, failures_since_success)
     VALUES (:channel, :eventId, :eventType, :site, :attempt, :ok, :httpStatus, :error, :at, :willRetry,
             CASE WHEN :ok = 1 THEN :at END, CASE WHEN :ok = 1 THEN 0 ELSE 1 END)
     ON CONFLICT (channel) DO UPDATE SET
       event_id = excluded.event_id, event_type = excluded.event_type, site = excluded.site, attempt = excluded.attempt,
       ok = excluded.ok, http_status = excluded.http_status, error = excluded.error, at = excluded.at, will_retry = excluded.will_retry,
       last_success_at = CASE WHEN excluded.ok = 1 THEN excluded.at ELSE notify_results.last_success_at END,
       failures_since_success = CASE WHEN excluded.ok = 1 THEN 0 ELSE notify_results.failures_since_success + 1 END`,
  );
  const all = db.prepare('SELECT * FROM notify_results ORDER BY channel');
  return {
    record(attempt) {
      guard('record a notification result', () =>
        upsert.run({
          channel: attempt.channel,
          eventId: attempt.eventId,
          eventType: attempt.eventType,
          site: attempt.site ?? null,
          attempt: attempt.attempt,
          ok: attempt.ok ? 1 : 0,
          httpStatus: attempt.httpStatus ?? null,
          error: attempt.error ?? null,
          at: attempt.at,
          willRetry: attempt.willRetry ? 1 : 0,
        }),
      );
    },
    list() {
      return guard('read notification results', () => all.all().map(fromRow));
    },
    close() {
      if (db.isOpen) db.close();
    },
  };
}

function fromRow(row: Record<string, unknown>): ChannelResult {
  const optional = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const last: DeliveryAttempt = {
    channel: String(row.channel),
    eventId: String(row.event_id),
    eventType: String(row.event_type) as NotifyEventType,
    site: optional(row.site),
    attempt: Number(row.attempt),
    ok: row.ok === 1,
    at: String(row.at),
    willRetry: row.will_retry === 1,
  };
  if (typeof row.http_status === 'number') last.httpStatus = row.http_status;
  if (typeof row.error === 'string') last.error = row.error;
  return { channel: last.channel, last, lastSuccessAt: optional(row.last_success_at), failuresSinceSuccess: Number(row.failures_since_success) };
}
