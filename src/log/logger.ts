import { pino, type Logger, type DestinationStream } from 'pino';
import { readableLine } from './readable-line.ts';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where lines go; standard output when absent. */
  destination?: DestinationStream;
  /** `json` (the default): one JSON object a line. `text`: one readable line an event, for a terminal (readable-line.ts). */
  format?: LogFormat;
}

export type LogFormat = 'json' | 'text';

/** The format `berth serve` chose for its processes: its children read it from their environment. */
export const LOG_FORMAT_ENV = 'BERTH_LOG_FORMAT';

export function logFormatFromEnv(env: NodeJS.ProcessEnv): LogFormat {
  return env[LOG_FORMAT_ENV] === 'text' ? 'text' : 'json';
}

/**
 * The one logger: JSON lines, one per event, on standard output. Writes are
 * asynchronous (buffered) so a request never waits on the terminal or a pipe;
 * `flushLogger` runs at shutdown so nothing buffered is lost.
 */
export function createLogger(options: LoggerOptions): Logger {
  // Lines are written as soon as the previous write finished, batched while
  // one is in flight; a batch stays within PIPE_BUF so lines from several
  // worker processes sharing one pipe never interleave.
  const json = options.destination ?? pino.destination({ dest: 1, sync: false, maxWrite: 4096 });
  const destination = options.format === 'text' ? readable(json) : json;
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['secret', '*.secret', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    },
    destination,
  );
}

/** Resolves once every buffered line is written. */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

/** Each line turned readable on its way to `to`; flushing reaches `to` (pino asks the destination to flush). */
function readable(to: DestinationStream): DestinationStream {
  const target = to as DestinationStream & { flush?: (callback?: (error?: Error) => void) => void };
  const stream: DestinationStream & { flush?: (callback?: (error?: Error) => void) => void } = {
    write: (line: string) => target.write(readableLine(line)),
  };
  if (typeof target.flush === 'function') stream.flush = (callback) => (target.flush as (callback?: (error?: Error) => void) => void)(callback);
  return stream;
}
