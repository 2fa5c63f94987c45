import { BerthError, type ErrorCode } from '../errors.ts';
import type { SecureDataDirResult } from '../state/data-dir-modes.ts';
import type { BuildEvents, BuildHost, BuildJob, BuildSpec, PreparedBuild } from './build-host.ts';

/** The tag of every build host message; other listeners of the IPC channel ignore messages that carry it. */
export const BUILD_HOST_TAG = 'build-host';

/** What the child asks. `id` is the child's own number for the request; `cancel` names the `run` to stop. */
export type BuildHostRequest = { berth: typeof BUILD_HOST_TAG; id: number } & RequestBody;

type RequestBody =
  | { op: 'secure' }
  | { op: 'prepare'; job: BuildJob }
  | { op: 'run'; job: BuildJob; spec: BuildSpec }
  | { op: 'cancel' }
  | { op: 'stop-strays'; site: string }
  | { op: 'reclaim'; job: BuildJob };

/** Request ids are unique in the process, however many remote hosts it makes: replies are matched by id alone. */
let nextId = 1;

/** What the parent answers: output lines and the start of a `run` as they happen, then one result or error. */
export type BuildHostReply = { berth: typeof BUILD_HOST_TAG; id: number } & (
  | { kind: 'result'; value: unknown }
  | { kind: 'error'; code: string | undefined; message: string }
  | { kind: 'line'; stream: 'stdout' | 'stderr' | 'note'; line: string }
  | { kind: 'start'; pgid: number }
);

export function isBuildHostMessage(message: unknown): message is { berth: typeof BUILD_HOST_TAG } {
  return typeof message === 'object' && message !== null && (message as { berth?: unknown }).berth === BUILD_HOST_TAG;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  events?: BuildEvents;
}

/** The IPC end of a child process (`process`), or a stand-in with the same shape. */
export interface IpcEnd {
  send?: (message: unknown, callback?: (error: Error | null) => void) => boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
}

/**
 * The build host of an unprivileged child: each step is a request to the
 * root parent over the IPC channel, answered by app/build-host-server.ts.
 * The channel listeners are attached only while a request is pending, so an
 * idle channel does not keep the process alive. When the parent goes away,
 * every pending request fails.
 */
export function createRemoteBuildHost(end: IpcEnd = process as IpcEnd): BuildHost {
  const pending = new Map<number, Pending>();

  const onMessage = (message: unknown): void => {
    if (!isBuildHostMessage(message)) return;
    const reply = message as BuildHostReply;
    const waiting = pending.get(reply.id);
    if (waiting === undefined) return;
    switch (reply.kind) {
      case 'line':
        if (reply.stream === 'note') waiting.events?.note(reply.line);
        else waiting.events?.log(reply.stream, reply.line);
        return;
      case 'start':
        waiting.events?.onStart?.(reply.pgid);
        return;
      case 'result':
        settle(reply.id);
        waiting.resolve(reply.value);
        return;
      case 'error':
        settle(reply.id);
        waiting.reject(new BerthError((reply.code ?? 'E_BUILD_FAILED') as ErrorCode, reply.message));
        return;
    }
  };
  const onDisconnect = (): void => {
    const lost = [...pending.values()];
    for (const id of [...pending.keys()]) settle(id);
    for (const waiting of lost) waiting.reject(new BerthError('E_BUILD_FAILED', "the build host (Berth's root parent process) went away; the build's state is unknown"));
  };
  const settle = (id: number): void => {
    pending.delete(id);
    if (pending.size === 0) {
      end.off('message', onMessage);
      end.off('disconnect', onDisconnect);
    }
  };

  const ask = <T>(request: RequestBody, events?: BuildEvents): { id: number; answer: Promise<T> } => {
    const id = nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      const send = end.send;
      if (send === undefined) {
        reject(new BerthError('E_BUILD_FAILED', 'this process has no IPC channel to its parent, yet BERTH_BUILD_HOST=parent'));
        return;
      }
      if (pending.size === 0) {
        end.on('message', onMessage);
        end.on('disconnect', onDisconnect);
      }
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject, events });
      send.call(end, { ...request, berth: BUILD_HOST_TAG, id }, (error) => {
        if (error === null || !pending.has(id)) return;
        settle(id);
        reject(new BerthError('E_BUILD_FAILED', `cannot reach the build host (Berth's root parent process): ${error.message}`));
      });
    });
    return { id, answer };
  };

  return {
    secureDataDir: () => ask<SecureDataDirResult>({ op: 'secure' }).answer,
    prepare: (job) => ask<PreparedBuild>({ op: 'prepare', job }).answer,
    async run(job, spec, events) {
      const { id, answer } = ask<null>({ op: 'run', job, spec }, events);
      const cancel = (): void => {
        end.send?.call(end, { berth: BUILD_HOST_TAG, id, op: 'cancel' }, () => undefined);
      };
      if (events.signal?.aborted === true) cancel();
      events.signal?.addEventListener('abort', cancel, { once: true });
      try {
        await answer;
      } finally {
        events.signal?.removeEventListener('abort', cancel);
      }
    },
    stopStrayProcesses: (site) => ask<number[]>({ op: 'stop-strays', site }).answer,
    reclaimWorkDir: (job) => ask<boolean>({ op: 'reclaim', job }).answer,
  };
}
