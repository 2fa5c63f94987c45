import type { PushReply } from '../deploy/deployer.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import type { WireConfig } from './config-wire.ts';
import type { PortKind } from './listen-sockets.ts';

/**
 * The messages between `berth serve`'s supervisor and its children, over
 * the Node IPC channel of `child_process.fork`. Every one carries `berth`
 * naming its kind; a listener ignores kinds it does not know (the build
 * host's requests, `berth: 'build-host'`, share the channel).
 *
 * The channel joins a parent to its own child only. A child still checks
 * what it receives where it matters (the config, in `fromWire`), because a
 * mismatch of versions during an upgrade is possible.
 */

/** Supervisor -> child: the resolved config, first message of every child. */
export interface ConfigMessage {
  berth: 'config';
  wire: WireConfig;
  /** Worker: the sockets that follow, one `socket` message each. */
  sockets?: PortKind[];
  /**
   * Worker: others already serve, so this one loads its sites first and
   * gets its sockets only after it sends `loaded`; meanwhile the kernel
   * gives every connection to the workers that serve.
   */
  joining?: boolean;
  /** Control plane: the bound HTTP port, where the CA's HTTP-01 requests arrive. */
  httpPort?: number;
}

/** Supervisor -> worker, with a listening socket as the handle; worker -> supervisor when asked by `hand-sockets`. */
export interface SocketMessage {
  berth: 'socket';
  kind: PortKind;
}

/** Supervisor -> worker, with an accepted, unread connection as the handle (see listen-sockets.ts). */
export interface ConnectionMessage {
  berth: 'connection';
  kind: PortKind;
}

/** Worker -> supervisor: serving. */
export interface ListeningMessage {
  berth: 'listening';
  http: number | undefined;
  https: number | undefined;
}

/** Joining worker -> supervisor: every site's release has loaded; bind and pass my sockets. */
export interface LoadedMessage {
  berth: 'loaded';
}

/** Control plane -> supervisor: started; pushes can come (they wait in the supervisor until then). */
export interface ReadyMessage {
  berth: 'ready';
}

/** Worker -> supervisor -> control plane: a push whose signature the worker verified. */
export interface PushMessage {
  berth: 'push';
  id: string;
  event: PushEvent;
}

/** Control plane -> supervisor -> worker. */
export interface PushReplyMessage {
  berth: 'push-reply';
  id: string;
  reply?: PushReply;
  /** Set instead of `reply` when the push could not be taken. */
  error?: string;
  /**
   * Set instead of both by a control plane a reload is replacing, after it
   * said `idle`: the supervisor keeps the push for the new one.
   */
  retry?: boolean;
}

/**
 * Supervisor -> control plane: a deploy handed over on `data_dir/deploy.sock`
 * (by a post-receive hook's `berth deploy`), its fields checked by the
 * supervisor (deploy-socket.ts); the control plane checks the site.
 */
export interface DeployRequestMessage {
  berth: 'deploy-request';
  id: string;
  site: string;
  ref: string;
  sha?: string;
}

/** Control plane -> supervisor: the deploy queued, or why not. */
export interface DeployReplyMessage {
  berth: 'deploy-reply';
  id: string;
  /** The id of the deploy queued. */
  deploy?: string;
  /** Set instead of `deploy` when it could not be queued, with its error code. */
  error?: string;
  code?: string;
  /** As for a push: from a control plane a reload is replacing; the supervisor keeps it for the next one. */
  retry?: boolean;
}

/** Control plane -> supervisor -> every worker: a new certificate is in storage. */
export interface CertificatesMessage {
  berth: 'certs';
}

/** Worker -> supervisor: a site's release finished loading (ok) or failed to. */
export interface ReleaseMessage {
  berth: 'release';
  site: string;
  release: string;
  ok: boolean;
}

/** Control plane -> supervisor: tell me when every worker serves this release. */
export interface ConfirmServedMessage {
  berth: 'confirm-served';
  id: string;
  site: string;
  release: string;
}

/**
 * Longest the supervisor waits to see every worker serve a release before
 * it answers `served` with an error. Only a hung worker hits it: one that
 * dies leaves the set waited for, and one that fails to load says so. A
 * worker loads a whole release (a 100,000-file site took longer than 30 s
 * on 2 cores), so the bound is generous.
 */
export const SERVED_WAIT_MS = 10 * 60_000;

/** Supervisor -> control plane. */
export interface ServedMessage {
  berth: 'served';
  id: string;
  /** Set when a worker failed to load it, or the wait timed out. */
  error?: string;
}

/**
 * Supervisor -> control plane: a reload will replace you; say `idle` once
 * no deploy runs or waits, so that the stop that follows waits for none.
 */
export interface RetireMessage {
  berth: 'retire';
}

/**
 * Supervisor -> worker: a reload's new worker takes your place; send your
 * listening sockets (one `socket` message each, the handle attached). You
 * keep serving on them until told to stop.
 */
export interface HandSocketsMessage {
  berth: 'hand-sockets';
}

/** Supervisor -> child: a scrape of `/_berth/metrics`; answer with `metrics-snapshot` and the same id. */
export interface MetricsRequestMessage {
  berth: 'metrics';
  id: string;
}

/** Child -> supervisor: this process's counts (metrics/metrics-snapshot.ts), checked by the supervisor. */
export interface MetricsSnapshotMessage {
  berth: 'metrics-snapshot';
  id: string;
  snapshot: unknown;
}

/** Control plane -> supervisor: the answer to `retire`. */
export interface IdleMessage {
  berth: 'idle';
}

export type ToChild = ConfigMessage | SocketMessage | ConnectionMessage | PushMessage | PushReplyMessage | DeployRequestMessage | CertificatesMessage | ServedMessage | RetireMessage | HandSocketsMessage | MetricsRequestMessage;
export type FromChild = ListeningMessage | LoadedMessage | ReadyMessage | PushMessage | PushReplyMessage | DeployReplyMessage | CertificatesMessage | ReleaseMessage | ConfirmServedMessage | IdleMessage | SocketMessage | MetricsSnapshotMessage;

/** A message of ours of one kind, or undefined for anything else. */
export function messageOf<K extends (ToChild | FromChild)['berth']>(message: unknown, kind: K): Extract<ToChild | FromChild, { berth: K }> | undefined {
  if (typeof message !== 'object' || message === null || (message as { berth?: unknown }).berth !== kind) return undefined;
  return message as Extract<ToChild | FromChild, { berth: K }>;
}

/**
 * Exit code of a child that cannot run with what it was given (an unusable
 * config, a state database it cannot open): starting it again would fail
 * the same way, so the supervisor stops instead of restarting it. 78 is
 * EX_CONFIG of sysexits.h.
 */
export const EXIT_UNUSABLE = 78;
