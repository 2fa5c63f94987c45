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
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
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

export function flushLogger(logger: Logger): void {
  logger.flush();
}
