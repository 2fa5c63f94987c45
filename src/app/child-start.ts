import { isBerthError } from '../errors.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { fromWire } from './config-wire.ts';
import { EXIT_UNUSABLE, messageOf, type ConfigMessage } from './ipc-messages.ts';
import type { PortKind } from './listen-sockets.ts';

export interface ChildStart {
  config: ResolvedConfig;
  message: ConfigMessage;
  /**
   * The listening sockets (raw handles) the supervisor passes, by port. A
   * worker that joins others already serving (`message.joining`) gets them
   * only after it has sent `loaded`.
   */
  sockets(): Promise<Map<PortKind, object>>;
}

/** Longest a child waits for its config, or a worker for its sockets once due, before deciding its parent is not a Berth supervisor. */
const START_TIMEOUT_MS = 60_000;

/**
 * The first thing a child of `berth serve` does: wait for its config from
 * the supervisor. A config it cannot use ends the process with one line on
 * standard error and exit code `EXIT_UNUSABLE`, which the supervisor takes
 * as final.
 */
export function receiveStart(role: string): Promise<ChildStart> {
  if (process.send === undefined) failStart(role, 'this program is started by `berth serve`, which passes it its configuration; run `berth serve` instead');
  const received = new Map<PortKind, object>();
  let expected: PortKind[] | undefined;
  let socketsDone: (() => void) | undefined;
  const allSockets = (): boolean => expected !== undefined && expected.every((kind) => received.has(kind));
  // The supervisor went away before the start finished: nothing to serve for.
  const orphaned = (): void => process.exit(EXIT_UNUSABLE);
  const finish = (): void => {
    process.off('message', onMessage);
    process.off('disconnect', orphaned);
  };
  let onConfig: (start: ChildStart) => void = () => undefined;
  const timer = setTimeout(() => failStart(role, `no configuration arrived from the supervisor within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
  const sockets = (): Promise<Map<PortKind, object>> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(waiting);
        finish();
        resolve(received);
      };
      const waiting = setTimeout(() => failStart(role, `the supervisor did not pass the listening sockets within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      if (allSockets()) done();
      else socketsDone = done;
    });
  const onMessage = (message: unknown, handle: unknown): void => {
    const config = messageOf(message, 'config');
    if (config !== undefined) {
      // A second config is a supervisor's bug; the first one stands.
      if (expected !== undefined) return;
      clearTimeout(timer);
      const kinds = config.sockets ?? [];
      if (!Array.isArray(kinds) || !kinds.every((kind) => kind === 'http' || kind === 'https')) {
        failStart(role, 'Cannot use the configuration the supervisor sent: its list of sockets is not a list of "http" and "https"', 'E_CONFIG_WIRE');
      }
      expected = kinds;
      // Nothing more to come (the control plane).
      if (kinds.length === 0) finish();
      try {
        onConfig({ config: fromWire(config.wire), message: config, sockets });
      } catch (error) {
        if (isBerthError(error)) failStart(role, error.message, error.code);
        throw error;
      }
      return;
    }
    const socket = messageOf(message, 'socket');
    if (socket !== undefined && typeof handle === 'object' && handle !== null && (socket.kind === 'http' || socket.kind === 'https')) {
      received.set(socket.kind, handle);
      if (allSockets()) socketsDone?.();
    }
  };
  process.on('message', onMessage);
  process.once('disconnect', orphaned);
  return new Promise((resolve) => {
    onConfig = resolve;
  });
}

/** Ends a child that cannot start, with one line saying why. */
export function failStart(role: string, message: string, code?: string): never {
  process.stderr.write(`berth serve (${role}): ${message}${code === undefined ? '' : ` [${code}]`}\n`);
  process.exit(EXIT_UNUSABLE);
}

/**
 * Resolves when the supervisor asks this child to stop (SIGTERM), or is gone
 * (the IPC channel closed: it was killed). SIGINT is ignored: Ctrl-C reaches
 * the whole process group, and the supervisor decides the order of the stop
 * (workers drain first, then the control plane). The handlers stay, so a
 * second signal during the stop does not kill the process half-way. Call
 * it first thing, before any await.
 */
export function untilStopped(): Promise<'SIGTERM' | 'supervisor gone'> {
  return new Promise((resolve) => {
    process.on('SIGINT', () => undefined);
    // Its default would end the process; a child that reloads on it adds its own listener.
    process.on('SIGHUP', () => undefined);
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.once('disconnect', () => resolve('supervisor gone'));
  });
}
