import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import module from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { lockDataDir } from '../state/data-dir-lock.ts';
import { shutdownSignal } from '../server/shutdown-signal.ts';
import { toWire } from './config-wire.ts';
import { EXIT_UNUSABLE, SERVED_WAIT_MS, messageOf, type ConfigMessage, type PushMessage, type PushReplyMessage, type ServedMessage } from './ipc-messages.ts';
import { bindListenSockets, type ListenSockets, type PortKind, type WorkerSockets } from './listen-sockets.ts';
import { createServedReleases } from './served-releases.ts';
import { BUILD_HOST_PARENT } from '../deploy/build-host.ts';
import { serveBuildHost } from './build-host-server.ts';
import { handDataDirTo } from './service-data-dir.ts';
import { resolveServiceUser, type ServiceUser } from './service-user.ts';

/** A child that dies this soon after starting counts towards a crash loop. */
const EARLY_EXIT_MS = 5_000;
const MAX_EARLY_EXITS = 5;
/** Longest a push waits for the control plane's answer (the worker waits a little longer). */
const PUSH_TIMEOUT_MS = 10_000;
/** Connections the supervisor accepted itself (see listen-sockets.ts) kept while no worker is ready. */
const MAX_WAITING_CONNECTIONS = 1024;

export interface SupervisorOptions {
  /** The children's entry files (tests wrap them). */
  workerEntry?: string | URL;
  controlEntry?: string | URL;
  /** Tests: act as a system that refuses SO_REUSEPORT (see listen-sockets.ts). */
  refuseReusePort?: boolean;
}

type Role = 'worker' | 'control plane';

interface Child {
  role: Role;
  process: ChildProcess;
  born: number;
  /** A worker that said it serves. */
  listening: boolean;
  /** A worker whose sockets were bound for it (at start, or once it said `loaded`). */
  socketsSent: boolean;
}

/**
 * `berth serve`: the supervisor. It takes the data dir lock, binds the
 * ports (it may be root, so that nothing else needs to be; the children
 * then run as `[server] user`, and builds are run here as their sites'
 * uids on the control plane's request), forks one
 * control plane and `server.workers` serving workers, passes messages
 * between them, restarts a child that dies, forwards SIGHUP, and on SIGTERM
 * or SIGINT stops the workers first (they drain), then the control plane.
 * It holds no certificate, runs no deploy and opens no database: a fault
 * there costs a child, which is replaced. Resolves with the exit code.
 */
export async function runSupervisor(config: ResolvedConfig, logger: Logger, options: SupervisorOptions = {}): Promise<number> {
  // Started as root: the children run as the service user, and only this process keeps root.
  const user = resolveServiceUser(config, logger);
  const lock = await lockDataDir(config.dataDir);
  if (user !== undefined) {
    try {
      await handDataDirTo(config, user, logger);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }
  const children = new Map<ChildProcess, Child>();
  const waitingConnections: Array<[PortKind, Socket]> = [];
  let turn = 0;
  const workersReady = (): Child[] => [...children.values()].filter((child) => child.role === 'worker' && child.listening);
  const handOver = (kind: PortKind, socket: Socket): void => {
    const ready = workersReady();
    if (ready.length === 0) {
      if (waitingConnections.length >= MAX_WAITING_CONNECTIONS) socket.destroy();
      else waitingConnections.push([kind, socket]);
      return;
    }
    const target = ready[turn++ % ready.length] as Child;
    target.process.send({ berth: 'connection', kind }, socket, (error) => {
      if (error !== null) socket.destroy();
    });
  };
  let sockets: ListenSockets;
  try {
    sockets = await bindListenSockets(config.server, logger, handOver, options.refuseReusePort === true);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const signal = shutdownSignal();
  const wire = toWire(config);
  const served = createServedReleases();
  /** Pushes in flight: id -> the worker to answer; `sent` once the control plane has it. */
  const pushes = new Map<string, { worker: ChildProcess; timer: NodeJS.Timeout; message: PushMessage; sent: boolean }>();
  let control: Child | undefined;
  let controlReady = false;

  let stopping = false;
  let exitCode = 0;
  let earlyExits = 0;
  let lastEarlyExit = 0;
  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const giveUp = (message: string): void => {
    if (stopping) return;
    stopping = true;
    logger.fatal(message);
    exitCode = 1;
    resolveStopped();
  };

  const forkChild = (role: Role, entry: string | URL, message: ConfigMessage): Child => {
    const child = fork(entry, [], forkOptions(role, config, user));
    const record: Child = { role, process: child, born: Date.now(), listening: false, socketsSent: false };
    children.set(child, record);
    // The control plane runs as the service user: its builds' privileged steps are asked of this process.
    if (role === 'control plane' && user !== undefined) {
      const stopBuildHost = serveBuildHost(child, config, logger, { serviceUser: user });
      child.once('exit', stopBuildHost);
    }
    child.on('message', (message: unknown) => route(record, message));
    child.on('error', (error) => logger.error({ err: error, pid: child.pid, role }, 'cannot talk to a child process'));
    child.on('exit', (code, killedBy) => onExit(record, code, killedBy));
    child.send(message);
    return record;
  };

  const startControlPlane = (): void => {
    control = forkChild('control plane', options.controlEntry ?? new URL('./control-plane-main.ts', import.meta.url), {
      berth: 'config',
      wire,
      ...(sockets.ports.http === undefined ? {} : { httpPort: sockets.ports.http }),
    });
  };

  let starting = 0;
  const portKinds = (['http', 'https'] as const).filter((kind) => sockets.ports[kind] !== undefined);
  /** Binds a worker's own sockets (or takes the shared ones) and passes them; once per worker. */
  const sendSockets = async (worker: Child): Promise<void> => {
    if (worker.socketsSent) return;
    worker.socketsSent = true;
    let handles: WorkerSockets;
    starting++;
    try {
      handles = await sockets.forWorker();
    } catch (error) {
      giveUp(`cannot bind the ports for a new worker: ${error instanceof Error ? error.message : String(error)}`);
      return;
    } finally {
      starting--;
    }
    if (stopping || !worker.process.connected) {
      sockets.handedOver(handles);
      return;
    }
    let left = handles.size;
    for (const [kind, socket] of handles) {
      // The raw handle: a net.Server would start accepting in the child the
      // moment it arrives, before the child's HTTP server is there to answer.
      worker.process.send({ berth: 'socket', kind }, rawHandle(socket), () => {
        // Sent (or the child is gone): this copy is no longer needed either way.
        if (--left === 0) sockets.handedOver(handles);
      });
    }
  };
  const startWorker = (): void => {
    // With a worker serving, a new one (the second, a replacement) loads its
    // sites before it has a socket: until then the kernel gives its share of
    // connections to the workers that serve, instead of to one answering 503.
    // The first one listens at once (ACME challenges and health answer while
    // the sites load).
    const joining = workersReady().length > 0;
    const message: ConfigMessage = { berth: 'config', wire, sockets: [...portKinds], ...(joining ? { joining: true } : {}) };
    const worker = forkChild('worker', options.workerEntry ?? new URL('./worker-main.ts', import.meta.url), message);
    if (worker.process.pid !== undefined) served.add(worker.process.pid);
    if (!joining) void sendSockets(worker);
  };

  /** Workers beyond the first start once it serves: it makes the stand-in certificate, so that all present the same one. */
  const startMissingWorkers = (): void => {
    const workers = [...children.values()].filter((child) => child.role === 'worker');
    const wanted = workers.some((child) => child.listening) ? config.server.workers : 1;
    for (let i = workers.length; i < wanted; i++) startWorker();
  };

  const route = (from: Child, message: unknown): void => {
    const listening = messageOf(message, 'listening');
    if (listening !== undefined && from.role === 'worker') {
      const first = workersReady().length === 0;
      from.listening = true;
      for (const [kind, socket] of waitingConnections.splice(0)) handOver(kind, socket);
      if (first) startMissingWorkers();
      return;
    }
    if (messageOf(message, 'loaded') !== undefined && from.role === 'worker') {
      void sendSockets(from);
      return;
    }
    const push = messageOf(message, 'push');
    if (push !== undefined && from.role === 'worker') {
      const answer = (reply: Omit<PushReplyMessage, 'berth' | 'id'>): void => {
        if (from.process.connected) from.process.send({ berth: 'push-reply', id: push.id, ...reply } satisfies PushReplyMessage);
      };
      if (pushes.has(push.id)) {
        answer({ error: 'a push with this id is already waiting' });
        return;
      }
      // While the control plane starts (or restarts), the push waits here.
      const timer = setTimeout(() => {
        pushes.delete(push.id);
        answer({ error: 'the control plane did not answer in time' });
      }, PUSH_TIMEOUT_MS);
      const sent = controlReady && control?.process.connected === true;
      pushes.set(push.id, { worker: from.process, timer, message: push, sent });
      if (sent) control?.process.send(push);
      return;
    }
    if (messageOf(message, 'ready') !== undefined && from === control) {
      controlReady = true;
      for (const waiting of pushes.values()) {
        if (waiting.sent) continue;
        waiting.sent = true;
        from.process.send(waiting.message);
      }
      return;
    }
    const reply = messageOf(message, 'push-reply');
    if (reply !== undefined && from.role === 'control plane') {
      const waiting = pushes.get(reply.id);
      if (waiting === undefined) return;
      pushes.delete(reply.id);
      clearTimeout(waiting.timer);
      if (waiting.worker.connected) waiting.worker.send(reply);
      return;
    }
    if (messageOf(message, 'certs') !== undefined && from.role === 'control plane') {
      for (const child of children.values()) if (child.role === 'worker' && child.process.connected) child.process.send({ berth: 'certs' });
      return;
    }
    const release = messageOf(message, 'release');
    if (release !== undefined && from.role === 'worker' && from.process.pid !== undefined) {
      served.report(from.process.pid, String(release.site), String(release.release), release.ok === true);
      return;
    }
    const confirm = messageOf(message, 'confirm-served');
    if (confirm !== undefined && from.role === 'control plane') {
      const answer = (error?: Error): void => {
        if (from.process.connected) from.process.send({ berth: 'served', id: confirm.id, ...(error === undefined ? {} : { error: error.message }) } satisfies ServedMessage);
      };
      served.confirm(String(confirm.site), String(confirm.release), SERVED_WAIT_MS).then(() => answer(), answer);
    }
  };

  const onExit = (child: Child, code: number | null, killedBy: NodeJS.Signals | null): void => {
    children.delete(child.process);
    if (child.process.pid !== undefined) served.remove(child.process.pid);
    if (child.role === 'control plane') {
      // Pushes it had and did not answer may have been recorded: the worker
      // answers 500 and the forge delivers again (a duplicate is recognised).
      for (const [id, waiting] of pushes) {
        if (!waiting.sent) continue;
        clearTimeout(waiting.timer);
        pushes.delete(id);
        if (waiting.worker.connected) waiting.worker.send({ berth: 'push-reply', id, error: 'the control plane stopped before answering' } satisfies PushReplyMessage);
      }
      control = undefined;
      controlReady = false;
    }
    if (stopping) return;
    if (code === EXIT_UNUSABLE) {
      giveUp(`the ${child.role} (pid ${String(child.process.pid)}) cannot run with the configuration it was given, and would fail the same way again; stopping (its message is above)`);
      return;
    }
    logger.error({ pid: child.process.pid, role: child.role, code, signal: killedBy }, `${child.role === 'worker' ? 'worker' : 'control plane'} exited; starting another`);
    if (Date.now() - child.born < EARLY_EXIT_MS) {
      // Early exits count towards giving up only when they come in a run.
      if (Date.now() - lastEarlyExit > 10 * EARLY_EXIT_MS) earlyExits = 0;
      lastEarlyExit = Date.now();
      earlyExits++;
    }
    if (earlyExits >= MAX_EARLY_EXITS) {
      giveUp('processes keep exiting right after start; giving up (see the errors above)');
      return;
    }
    if (child.role === 'control plane') startControlPlane();
    else startMissingWorkers();
  };

  const onHup = (): void => {
    for (const child of children.values()) child.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHup);

  startControlPlane();
  startMissingWorkers();
  logger.info({ workers: config.server.workers, sockets: sockets.ownSockets ? 'one per worker (SO_REUSEPORT)' : 'shared' }, 'started the control plane and the serving workers');

  const outcome = await Promise.race([signal.received, stopped]);
  stopping = true;
  // Workers still being set up would otherwise escape the stop.
  while (starting > 0) await new Promise((resolve) => setImmediate(resolve));
  if (typeof outcome === 'string') logger.info({ signal: outcome }, 'shutting down: workers first, then the control plane');
  process.off('SIGHUP', onHup);
  for (const [, socket] of waitingConnections.splice(0)) socket.destroy();
  await stopChildren([...children.values()].filter((child) => child.role === 'worker'));
  await stopChildren([...children.values()]);
  sockets.close();
  await lock.release();
  signal.dispose();
  logger.info('stopped');
  return exitCode;
}

/** Sends SIGTERM and waits for the exits (each child bounds its own drain by the shutdown timeout). */
async function stopChildren(children: Child[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.process.exitCode !== null || child.process.signalCode !== null) {
            resolve();
            return;
          }
          child.process.once('exit', () => resolve());
          child.process.kill('SIGTERM');
        }),
    ),
  );
}

/**
 * How a child is started: same Node, same flags, standard output and error
 * shared (JSON lines stay whole: each write is below PIPE_BUF), an IPC
 * channel for the messages; as the service user when Berth started as root,
 * the control plane then asking this process for its builds.
 */
function forkOptions(role: Role, config: ResolvedConfig, user: ServiceUser | undefined): ForkOptions {
  const options: ForkOptions = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' };
  if (user === undefined) return { ...options, env: { ...process.env, ...compileCacheFor(undefined, config) } };
  // Node drops the supplementary groups with the change of uid, so root's groups do not follow.
  return {
    ...options,
    uid: user.uid,
    gid: user.gid,
    env: {
      ...process.env,
      HOME: config.dataDir,
      USER: user.name,
      LOGNAME: user.name,
      ...compileCacheFor(user, config),
      ...(role === 'control plane' ? { BERTH_BUILD_HOST: BUILD_HOST_PARENT } : {}),
    },
  };
}

/**
 * Where a child keeps Node's compile cache. With it, a child's TypeScript is
 * not stripped again at each start, so Node never loads its TypeScript
 * compiler (about 17 MiB of each process's memory, and half of its start).
 * The cache named in the environment (the image's) is kept: Node keeps each
 * uid's files in a directory of their own. Otherwise a child of the same
 * user shares this process's cache, and a service user's children keep
 * theirs in the data dir, which only that user can write (a cache another
 * user could write would be code Berth runs).
 */
function compileCacheFor(user: ServiceUser | undefined, config: ResolvedConfig): NodeJS.ProcessEnv {
  if (process.env.NODE_COMPILE_CACHE !== undefined && process.env.NODE_COMPILE_CACHE !== '') return {};
  if (user !== undefined) return { NODE_COMPILE_CACHE: join(config.dataDir, 'node-compile-cache') };
  const own = module.getCompileCacheDir();
  // Node's own directory is <cache>/<version, arch, uid>: a child given <cache> finds it.
  return own === undefined ? {} : { NODE_COMPILE_CACHE: dirname(own) };
}

/** The listening socket's own handle, which `child.send` passes as it is (see listeners.ts `ListenHandle`). */
function rawHandle(server: WorkerSockets extends Map<PortKind, infer S> ? S : never): Parameters<ChildProcess['send']>[1] {
  return (server as unknown as { _handle: Parameters<ChildProcess['send']>[1] })._handle;
}
