import type { ServerResponse } from 'node:http';
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { deployLogPath } from '../deploy/deploy-log.ts';
import type { DeployRecord } from '../deploy/deploy-types.ts';
import { BerthError } from '../errors.ts';
import { ADMIN_HEADERS } from '../admin/admin-http.ts';

const ACTIVE = new Set(['queued', 'building', 'publishing']);
/** How often a running deploy's log and record are looked at. */
const POLL_MS = 250;
/** A comment this often keeps proxies and browsers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** The runner closes the log just after it records the end: its last lines are waited for this long. */
const TAIL_MS = 1_000;
/** Read per look; a deploy log is at most 20 MiB. */
const CHUNK = 64 * 1024;

export interface LogEventOptions {
  dataDir: string;
  /** The deploy as stored now; called again at each look while it runs. */
  record: () => DeployRecord | undefined;
  /** Lines already had: from `?after=` or `Last-Event-ID`; the stream starts with line after + 1. */
  after: number;
  /** For tests: the heartbeat interval. */
  heartbeatMs?: number;
}

/**
 * The position a client asks to resume after: `Last-Event-ID` (sent by
 * EventSource when it reconnects) wins over `?after=`. A whole number from 0;
 * anything else is E_API_LOG_POSITION.
 */
export function resumePosition(lastEventId: string | string[] | undefined, after: string | null): number {
  const given = typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : after;
  if (given === null || given === '') return 0;
  if (!/^\d{1,9}$/.test(given)) throw new BerthError('E_API_LOG_POSITION', `The log position ${JSON.stringify(given.slice(0, 20))} is not a line number (a whole number from 0)`);
  return Number(given);
}

/**
 * A deploy's log as Server-Sent Events: each line an `event: line` whose id
 * is its number (from 1), then, once the deploy has ended and its log is
 * closed, one `event: end` with the final state. A heartbeat comment every
 * 15 s. The log file is found from the deploy's id (checked by the caller),
 * opened without following a symlink, and read from the start, counting
 * lines, so a resumed stream goes on exactly after the last line received.
 *
 * A position past the lines written so far is refused before anything is
 * sent (E_API_LOG_POSITION): it cannot come from this stream.
 */
export async function streamLogEvents(res: ServerResponse, options: LogEventOptions): Promise<void> {
  const file = deployLogPath(options.dataDir, options.record()?.id ?? '');
  const reader = new LineReader(file);
  let record = options.record();
  try {
    await reader.read();
    if (options.after > reader.lines.length + reader.skipped) {
      throw new BerthError('E_API_LOG_POSITION', `The log has ${reader.lines.length + reader.skipped} lines so far; it cannot resume after line ${options.after}`);
    }
    res.writeHead(200, { ...ADMIN_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' });
    res.write(': log of deploy\n\n');
    let sent = options.after;
    let closed = false;
    res.on('close', () => (closed = true));
    let lastWrite = Date.now();
    const heartbeat = options.heartbeatMs ?? HEARTBEAT_MS;
    for (;;) {
      sent = flush(res, reader, sent);
      if (sent > 0) lastWrite = Date.now();
      if (closed) return;
      const ended = record === undefined || !ACTIVE.has(record.state);
      if (ended) {
        // The last lines arrive just after the record says the deploy ended.
        const until = Date.now() + TAIL_MS;
        while (Date.now() < until && !closed) {
          await sleep(POLL_MS);
          await reader.read();
          sent = flush(res, reader, sent);
        }
        res.write(`event: end\ndata: ${JSON.stringify({ state: record?.state ?? 'unknown', lines: sent })}\n\n`);
        res.end();
        return;
      }
      await sleep(POLL_MS);
      if (closed) return;
      await reader.read();
      record = options.record();
      if (Date.now() - lastWrite >= heartbeat) {
        res.write(': heartbeat\n\n');
        lastWrite = Date.now();
      }
    }
  } finally {
    await reader.close();
  }
}

/** Writes the lines after `sent`, and forgets them; returns the number of the last line written. */
function flush(res: ServerResponse, reader: LineReader, sent: number): number {
  let n = reader.skipped;
  for (const line of reader.lines) {
    n++;
    if (n <= sent) continue;
    // A line holds no newline; a carriage return would end the field early in some clients.
    res.write(`id: ${n}\nevent: line\ndata: ${line.replaceAll('\r', '')}\n\n`);
  }
  reader.skipped += reader.lines.length;
  reader.lines = [];
  return Math.max(sent, n);
}

/** Reads a growing file line by line: whole lines go to `lines`, a partial last line waits for its end. */
class LineReader {
  readonly #file: string;
  #handle: FileHandle | undefined;
  #offset = 0;
  #partial = '';
  // A character split between two reads is decoded whole.
  readonly #decoder = new StringDecoder('utf8');
  lines: string[] = [];
  /** Lines already handed out and dropped from `lines`. */
  skipped = 0;

  constructor(file: string) {
    this.#file = file;
  }

  async read(): Promise<void> {
    if (this.#handle === undefined) {
      try {
        // O_NOFOLLOW: the log is Berth's own file, never a link planted in its place.
        this.#handle = await open(this.#file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (error) {
        // No log yet (the deploy waits in the queue), or none kept.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      if (!(await this.#handle.stat()).isFile()) throw new BerthError('E_API_NOT_FOUND', 'The deploy log is not a file');
    }
    const buffer = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await this.#handle.read(buffer, 0, CHUNK, this.#offset);
      if (bytesRead === 0) return;
      this.#offset += bytesRead;
      const parts = (this.#partial + this.#decoder.write(buffer.subarray(0, bytesRead))).split('\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
    }
  }

  async close(): Promise<void> {
    await this.#handle?.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
