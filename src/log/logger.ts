import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where lines go; standard output when absent. */
  destination?: DestinationStream;
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
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, maxWrite: 4096 });
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
