import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import module from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { Logger } from '../log/logger.ts';
import { lockDataDir, type DataDirLock } from '../state/data-dir-lock.ts';
import { shutdownSignal } from '../server/shutdown-signal.ts';
import { toWire } from './config-wire.ts';
import { loadConfig } from '../config/load-config.ts';
import { BerthError, isBerthError, type ErrorCode } from '../errors.ts';
import { describeConfigChanges, hasAppliedChanges, keepRestartOnly, listenChanged, type ConfigChanges } from './config-changes.ts';
import { writeReloadStatus, type ReloadStatus } from './reload-status.ts';
import { EXIT_UNUSABLE, SERVED_WAIT_MS, messageOf, type RetireMessage, type HandSocketsMessage, type SocketMessage, type ConfigMessage, type PushMessage, type PushReplyMessage, type ServedMessage, type DeployRequestMessage, type DeployReplyMessage } from './ipc-messages.ts';
import { listenDeploySocket, type DeployRequest } from './deploy-socket.ts';
import { listenMetrics, METRICS_PATH, type MetricsListener } from './metrics-listener.ts';
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
/** Deploys handed over on deploy.sock that may wait at once for the control plane (see handDeploy). */
const MAX_WAITING_DEPLOYS = 64;
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

/** A message waiting for the control plane's answer (see `relay`). */
interface Relayed {
  message: PushMessage | DeployRequestMessage;
  timer: NodeJS.Timeout;
  sent: boolean;
  deliver(reply: PushReplyMessage | DeployReplyMessage): void;
  fail(error: string): void;
}

interface Child {
  role: Role;
  process: ChildProcess;
  born: number;
  /** A worker that said it serves. */
  listening: boolean;
  /** A worker whose sockets were bound for it (at start, or once it said `loaded`). */
  socketsSent: boolean;
  /** Being stopped by a reload, which replaced it: its exit is expected, and it gets no new work. */
  retiring: boolean;
  /** Started by a reload: told whether it came up (`listening`, `ready`) or exited first. */
  started?: (ok: boolean) => void;
  /** A reload's worker: the worker whose sockets it takes over, for the ports that stay. */
  takeOver?: { from: Child; kinds: ReadonlySet<PortKind> };
  /** A worker handing its sockets to `target`: the kinds still to come. */
  handingTo?: { target: Child; left: Set<PortKind> };
  /** A worker a failed reload replaces with one of the running config: not counted among the workers wanted. */
  replacing?: boolean;
  /** The control plane: called once it says `ready`. */
  onReady?: () => void;
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
export async function runSupervisor(startConfig: ResolvedConfig, logger: Logger, options: SupervisorOptions = {}): Promise<number> {
  // Replaced by `berth reload` (see reloadConfig below); what a child is started with.
  let config = startConfig;
  // At once: SIGUSR2's default action ends the process. Until the reload below is wired, a request waits for it.
  let reloadWanted = false;
  let onReloadSignal = (): void => {
    reloadWanted = true;
  };
  const reloadSignal = (): void => onReloadSignal();
  process.on('SIGUSR2', reloadSignal);
  // Started as root: the children run as the service user, and only this process keeps root.
  const user = resolveServiceUser(config, logger);
  let lock: DataDirLock;
  try {
    lock = await lockDataDir(config.dataDir);
  } catch (error) {
    process.off('SIGUSR2', reloadSignal);
    throw error;
  }
  if (user !== undefined) {
    try {
      await handDataDirTo(config, user, logger);
    } catch (error) {
      process.off('SIGUSR2', reloadSignal);
      await lock.release();
      throw error;
    }
  }
  const children = new Map<ChildProcess, Child>();
  const waitingConnections: Array<[PortKind, Socket]> = [];
  let turn = 0;
  const workersReady = (): Child[] => [...children.values()].filter((child) => child.role === 'worker' && child.listening && !child.retiring);
  const handOver = (kind: PortKind, socket: Socket, tries = 0): void => {
    const ready = workersReady();
    if (ready.length === 0) {
      if (waitingConnections.length >= MAX_WAITING_CONNECTIONS) socket.destroy();
      else waitingConnections.push([kind, socket]);
      return;
    }
    const target = ready[turn++ % ready.length] as Child;
    target.process.send({ berth: 'connection', kind }, socket, (error) => {
      if (error === null) return;
      // Not sent (that worker has just gone, in a reload say): the connection is still ours; another worker takes it.
      if (tries < 3 && !socket.destroyed) handOver(kind, socket, tries + 1);
      else socket.destroy();
    });
  };
  let sockets: ListenSockets;
  try {
    sockets = await bindListenSockets(config.server, logger, handOver, options.refuseReusePort === true);
  } catch (error) {
    process.off('SIGUSR2', reloadSignal);
    await lock.release();
    throw error;
  }
  /** Every set of listening sockets still open: the running one, and one a reload left until the workers using it have gone. */
  const socketSets = new Set<ListenSockets>([sockets]);
  const signal = shutdownSignal();
  let wire = toWire(config);
  const served = createServedReleases();
  /**
   * What waits for the control plane's answer: webhook pushes from the
   * workers, deploys handed over on deploy.sock. `sent` once the control
   * plane has it; `deliver` passes its answer on, `fail` answers an error.
   */
  const pushes = new Map<string, Relayed>();
  let control: Child | undefined;
  let controlReady = false;
  /** Sends `message` to the control plane, or keeps it until one is ready (within PUSH_TIMEOUT_MS). */
  const relay = (message: PushMessage | DeployRequestMessage, answer: Pick<Relayed, 'deliver' | 'fail'>): void => {
    const timer = setTimeout(() => {
      pushes.delete(message.id);
      answer.fail('the control plane did not answer in time');
    }, PUSH_TIMEOUT_MS);
    const sent = controlReady && control?.process.connected === true;
    pushes.set(message.id, { message, timer, sent, ...answer });
    if (sent) control?.process.send(message);
  };
  /** A deploy handed over on deploy.sock: queued by the control plane, as a push is. Resolves with its id. */
  const handDeploy = (request: DeployRequest): Promise<string> =>
    new Promise((resolve, reject) => {
      if (stopping) {
        reject(new BerthError('E_HANDOFF_FAILED', 'berth serve is stopping and queues no deploy'));
        return;
      }
      // A client may close and connect again at will: what waits here for a control plane is bounded apart from connections.
      if ([...pushes.values()].filter((waiting) => waiting.message.berth === 'deploy-request').length >= MAX_WAITING_DEPLOYS) {
        reject(new BerthError('E_HANDOFF_FAILED', `${MAX_WAITING_DEPLOYS} handed-over deploys already wait for the control plane; try again in a few seconds`));
        return;
      }
      relay({ berth: 'deploy-request', id: randomUUID(), ...request }, {
        deliver: (reply) => {
          const { deploy, error, code } = reply as DeployReplyMessage;
          if (typeof deploy === 'string') resolve(deploy);
          // Only codes of ours pass: the control plane's, from a BerthError.
          else reject(new BerthError(typeof code === 'string' && /^E_[A-Z0-9_]+$/.test(code) ? (code as ErrorCode) : 'E_HANDOFF_FAILED', error ?? 'the control plane gave no reason'));
        },
        fail: (error) => reject(new BerthError('E_HANDOFF_FAILED', `berth serve could not queue the deploy: ${error}`)),
      });
    });

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
    const record: Child = { role, process: child, born: Date.now(), listening: false, socketsSent: false, retiring: false };
    children.set(child, record);
    // The control plane runs as the service user: its builds' privileged steps are asked of this process.
    if (role === 'control plane' && user !== undefined) {
      const stopBuildHost = serveBuildHost(child, controlConfig, logger, { serviceUser: user });
      child.once('exit', stopBuildHost);
    }
    child.on('message', (message: unknown, handle: unknown) => route(record, message, handle));
    child.on('error', (error) => logger.error({ err: error, pid: child.pid, role }, 'cannot talk to a child process'));
    child.on('exit', (code, killedBy) => onExit(record, code, killedBy));
    child.send(message);
    return record;
  };

  /** The control plane's config, apart from the workers': a reload whose new control plane cannot start puts back the previous one. */
  let controlWire = wire;
  let controlConfig = config;
  const startControlPlane = (): Child => {
    return (control = forkChild('control plane', options.controlEntry ?? new URL('./control-plane-main.ts', import.meta.url), {
      berth: 'config',
      wire: controlWire,
      ...(sockets.ports.http === undefined ? {} : { httpPort: sockets.ports.http }),
    }));
  };

  let starting = 0;
  /** The ports listened on now (a reload may change them). */
  const portKinds = (): PortKind[] => (['http', 'https'] as const).filter((kind) => sockets.ports[kind] !== undefined);
  /** Binds a worker's own sockets (or takes the shared ones) and passes them; once per worker. */
  const sendSockets = async (worker: Child): Promise<void> => {
    if (worker.socketsSent) return;
    worker.socketsSent = true;
    const takeOver = worker.takeOver;
    worker.takeOver = undefined;
    const wanted = new Set(portKinds());
    // A reload's worker takes the sockets of the one it replaces, for the
    // ports that stay: the same sockets, so the connections waiting in their
    // queues are kept (closing a socket of its own would reset them).
    const source = takeOver?.from;
    if (sockets.ownSockets && source !== undefined && source.listening && source.process.connected && children.has(source.process)) {
      const taken = new Set([...(takeOver?.kinds ?? [])].filter((kind) => wanted.has(kind)));
      if (taken.size > 0) {
        source.handingTo = { target: worker, left: taken };
        source.process.send({ berth: 'hand-sockets' } satisfies HandSocketsMessage);
        for (const kind of taken) wanted.delete(kind);
      }
    }
    if (wanted.size > 0) await bindAndSend(worker, wanted);
  };
  /** Binds sockets of its own for a worker and passes those of `kinds`. */
  const bindAndSend = async (worker: Child, kinds: ReadonlySet<PortKind>): Promise<void> => {
    const set = sockets;
    let handles: WorkerSockets;
    starting++;
    try {
      handles = await set.forWorker();
    } catch (error) {
      giveUp(`cannot bind the ports for a new worker: ${error instanceof Error ? error.message : String(error)}`);
      return;
    } finally {
      starting--;
    }
    if (stopping || !worker.process.connected) {
      set.handedOver(handles);
      return;
    }
    const sending = [...handles].filter(([kind]) => kinds.has(kind));
    let left = sending.length;
    if (left === 0) set.handedOver(handles);
    for (const [kind, socket] of sending) {
      // The raw handle: a net.Server would start accepting in the child the
      // moment it arrives, before the child's HTTP server is there to answer.
      worker.process.send({ berth: 'socket', kind }, rawHandle(socket), () => {
        // Sent (or the child is gone): this copy is no longer needed either way.
        if (--left === 0) set.handedOver(handles);
      });
    }
  };
  /** A socket a replaced worker handed over (see sendSockets): passed on to its replacement, then this copy closed. */
  const passOn = (from: Child, kind: PortKind, handle: object): void => {
    const handing = from.handingTo;
    const close = (): void => (handle as { close?: () => void }).close?.();
    if (handing === undefined || !handing.left.delete(kind)) {
      close();
      return;
    }
    if (handing.left.size === 0) from.handingTo = undefined;
    if (!handing.target.process.connected) {
      close();
      return;
    }
    handing.target.process.send({ berth: 'socket', kind } satisfies SocketMessage, handle as Parameters<ChildProcess['send']>[1], close);
  };
  const startWorker = (): Child => {
    // With a worker serving, a new one (the second, a replacement) loads its
    // sites before it has a socket: until then the kernel gives its share of
    // connections to the workers that serve, instead of to one answering 503.
    // The first one listens at once (ACME challenges and health answer while
    // the sites load).
    const joining = workersReady().length > 0;
    const message: ConfigMessage = { berth: 'config', wire, sockets: portKinds(), ...(joining ? { joining: true } : {}) };
    const worker = forkChild('worker', options.workerEntry ?? new URL('./worker-main.ts', import.meta.url), message);
    if (worker.process.pid !== undefined) served.add(worker.process.pid);
    if (!joining) void sendSockets(worker);
    return worker;
  };

  /** While a reload replaces the workers it alone starts them; it tops them up when it ends. */
  let reloadingWorkers = false;
  /** Workers beyond the first start once it serves: it makes the stand-in certificate, so that all present the same one. */
  const startMissingWorkers = (): Child[] => {
    if (stopping || reloadingWorkers) return [];
    const workers = [...children.values()].filter((child) => child.role === 'worker' && !child.retiring && child.replacing !== true);
    const wanted = workers.some((child) => child.listening) ? config.server.workers : 1;
    const started: Child[] = [];
    for (let i = workers.length; i < wanted; i++) started.push(startWorker());
    return started;
  };

  /** Set once the children have started (see startMetrics); asks them for their counts on a scrape. */
  let metricsListener: MetricsListener | undefined = undefined;
  const route = (from: Child, message: unknown, handle?: unknown): void => {
    const snapshot = messageOf(message, 'metrics-snapshot');
    if (snapshot !== undefined) {
      metricsListener?.deliver(snapshot);
      return;
    }
    const handed = messageOf(message, 'socket');
    if (handed !== undefined && from.role === 'worker' && typeof handle === 'object' && handle !== null && (handed.kind === 'http' || handed.kind === 'https')) {
      passOn(from, handed.kind, handle);
      return;
    }
    const listening = messageOf(message, 'listening');
    if (listening !== undefined && from.role === 'worker') {
      const first = workersReady().length === 0;
      from.listening = true;
      from.started?.(true);
      from.started = undefined;
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
      relay(push, {
        deliver: (reply) => {
          if (from.process.connected) from.process.send(reply);
        },
        fail: (error) => answer({ error }),
      });
      return;
    }
    if (messageOf(message, 'idle') !== undefined && from === control) {
      // From now on pushes wait here for the next control plane (this one hands back any it gets).
      controlReady = false;
      whenIdle?.();
      whenIdle = undefined;
      return;
    }
    if (messageOf(message, 'ready') !== undefined && from === control) {
      controlReady = true;
      from.started?.(true);
      from.started = undefined;
      from.onReady?.();
      from.onReady = undefined;
      for (const waiting of pushes.values()) {
        if (waiting.sent) continue;
        waiting.sent = true;
        from.process.send(waiting.message);
      }
      return;
    }
    const reply = messageOf(message, 'push-reply') ?? messageOf(message, 'deploy-reply');
    if (reply !== undefined && from.role === 'control plane') {
      const waiting = pushes.get(reply.id);
      if (waiting === undefined) return;
      if (reply.retry === true) {
        // From a control plane a reload is replacing: kept for the next one (within the push's time).
        waiting.sent = false;
        return;
      }
      pushes.delete(reply.id);
      clearTimeout(waiting.timer);
      waiting.deliver(reply);
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
    // It died before handing all its sockets to its replacement: that one gets sockets of its own for the rest.
    const handing = child.handingTo;
    child.handingTo = undefined;
    if (handing !== undefined && !stopping && handing.target.process.connected) void bindAndSend(handing.target, handing.left);
    if (child.process.pid !== undefined) served.remove(child.process.pid);
    if (child.role === 'control plane' && control === child) {
      // Pushes it had and did not answer may have been recorded: the worker
      // answers 500 and the forge delivers again (a duplicate is recognised).
      for (const [id, waiting] of pushes) {
        if (!waiting.sent) continue;
        clearTimeout(waiting.timer);
        pushes.delete(id);
        waiting.fail('the control plane stopped before answering');
      }
      control = undefined;
      controlReady = false;
    }
    // One started by a reload, with the new config: the reload puts things back as they were.
    const started = child.started;
    child.started = undefined;
    started?.(false);
    if (stopping || child.retiring || started !== undefined) return;
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

  // --- berth reload -------------------------------------------------------
  let reloads = 0;
  let reloading = false;
  let reloadAgain = false;
  let whenIdle: (() => void) | undefined;
  const writeStatus = async (status: Pick<ReloadStatus, 'state'> & Partial<ReloadStatus>): Promise<void> => {
    if (stopping) return;
    try {
      await writeReloadStatus(config.dataDir, { pid: process.pid, configPath: config.configPath, generation: reloads, ...status }, user);
    } catch (error) {
      logger.warn({ err: error }, 'cannot write reload.json in the data dir: berth reload cannot hear from this server');
    }
  };
  /** Resolves true once a child started by a reload serves (or is ready), false if it exits first or hangs. */
  const cameUp = (child: Child): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.started = undefined;
        // Its exit is then expected: nothing starts another in its place.
        child.retiring = true;
        child.process.kill('SIGKILL');
        resolve(false);
      }, SERVED_WAIT_MS).unref();
      child.started = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
    });
  /** Stops a child a reload replaced; it drains as on any stop. Resolves when it has exited. */
  const retire = (child: Child): Promise<void> => {
    child.retiring = true;
    return new Promise((resolve) => {
      if (child.process.exitCode !== null || child.process.signalCode !== null) {
        resolve();
        return;
      }
      child.process.once('exit', () => resolve());
      child.process.kill('SIGTERM');
    });
  };
  /**
   * Resolves once the control plane has no deploy running or waiting (or
   * has exited). Asked once it is ready (it listens for `retire` only
   * then). Bounded like a worker's start: past that, the stop that follows
   * waits for its deploys instead.
   */
  const idle = (plane: Child): Promise<void> =>
    new Promise((resolve) => {
      if (plane.process.exitCode !== null || plane.process.signalCode !== null || !plane.process.connected) {
        resolve();
        return;
      }
      const timer = setTimeout(done, SERVED_WAIT_MS).unref();
      function done(): void {
        clearTimeout(timer);
        if (whenIdle === done) whenIdle = undefined;
        resolve();
      }
      plane.process.once('exit', done);
      whenIdle = done;
      const ask = (): void => {
        if (plane.process.connected) plane.process.send({ berth: 'retire' } satisfies RetireMessage);
      };
      if (control === plane && controlReady) ask();
      else plane.onReady = ask;
    });

  /**
   * Re-reads the config file this server started from, with this process's
   * environment (where its secrets are), and applies it the way nginx
   * does: new processes start with it while the old ones serve, then the old
   * ones drain and stop. A config that is not valid, or that a new process
   * cannot start with, is refused and the running one kept. Keys that need
   * a restart (config-changes.ts) keep their running values and are named.
   */
  const reloadConfig = async (): Promise<void> => {
    reloads++;
    const running = config;
    let next: ResolvedConfig;
    try {
      next = await loadConfig(running.configPath, process.env, { writableDataDir: true });
    } catch (error) {
      const code = isBerthError(error) ? error.code : 'E_RELOAD_FAILED';
      const message = error instanceof Error ? error.message : String(error);
      logger.error({ code, config: running.configPath }, `reload refused; the running config is kept. ${message}`);
      await writeStatus({ state: 'refused', code, message });
      return;
    }
    const changes = describeConfigChanges(running, next);
    const moves = listenChanged(running, next);
    const reloadFailed = async (message: string, code = 'E_RELOAD_FAILED'): Promise<void> => {
      logger.error({ config: running.configPath }, `reload failed: ${message}`);
      await writeStatus({ state: 'failed', code, message, changes });
    };
    for (const change of changes.restartOnly) {
      logger.warn({ key: change.key, running: change.running, wanted: change.wanted }, `${change.key} changed; it takes effect when berth serve restarts`);
    }
    const workersChange = hasAppliedChanges(running, next);
    // A control plane left on an earlier config by a failed reload is replaced even when the file has not changed since.
    const controlBehind = controlWire !== wire;
    if (!workersChange && !controlBehind) {
      // What a reload did before it read the config, and what systemd's reload still means to a user: storage again.
      onHup();
      logger.info({ config: running.configPath }, 'reload: nothing to apply');
      await writeStatus({ state: 'unchanged', changes });
      return;
    }
    if (workersChange) {
      const outcome = await replaceWorkers(running, next, moves, changes);
      if (outcome !== 'replaced') {
        if (outcome !== 'stopping') await reloadFailed(outcome.message, outcome.code);
        return;
      }
    }
    if (stopping) return;

    // The control plane: replaced between deploys; pushes wait in this process meanwhile.
    const previousControl = { wire: controlWire, config: controlConfig };
    controlWire = wire;
    controlConfig = config;
    const current = control;
    if (current !== undefined) {
      current.retiring = true;
      await writeStatus({ state: 'applying', step: 'the control plane takes the new config once no deploy runs or waits', changes });
      await idle(current);
      controlReady = false;
      await retire(current);
    }
    if (stopping) return;
    if (!(await cameUp(startControlPlane()))) {
      if (stopping) return;
      controlWire = previousControl.wire;
      controlConfig = previousControl.config;
      startControlPlane();
      await reloadFailed('the control plane could not start with the new config (its error is in the server log); it runs the previous config, the serving workers the new one; fix berth.toml and reload again');
      return;
    }
    logger.info({ config: running.configPath, workers: config.server.workers }, 'reloaded: every process runs the new config');
    await writeStatus({ state: 'applied', changes });
  };

  /**
   * The workers' part of a reload: `replaced` when every worker runs the new
   * config, else the failure to report, with the running config put back
   * (or `stopping`: `berth serve` is stopping).
   */
  const replaceWorkers = async (
    running: ResolvedConfig,
    next: ResolvedConfig,
    moves: boolean,
    changes: ConfigChanges,
  ): Promise<'replaced' | 'stopping' | { code?: string; message: string }> => {
    const previousSockets = sockets;
    if (moves) {
      try {
        sockets = await previousSockets.rebind(next.server);
        socketSets.add(sockets);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const message = `${reason}. The running config is kept; if this server's own listeners hold that port (the same port on another address), restart berth serve to apply it`;
        return { code: isBerthError(error) ? error.code : 'E_LISTEN', message };
      }
    }
    const nextSockets = sockets;
    // The ports that stay: a new worker takes the sockets of the one it replaces.
    const kept = new Set(
      (['http', 'https'] as const).filter((kind) => {
        const port = (of: ResolvedConfig): number | false => (kind === 'http' ? of.server.httpPort : of.server.httpsPort);
        return port(next) !== false && port(next) === port(running) && next.server.host === running.server.host;
      }),
    );
    const previousWire = wire;
    config = keepRestartOnly(running, next);
    wire = toWire(config);
    logger.info(
      { config: running.configPath, sitesAdded: changes.sitesAdded, sitesRemoved: changes.sitesRemoved, sitesChanged: changes.sitesChanged, sections: changes.sectionsChanged },
      'reloading: starting the serving workers and the control plane again with the new config',
    );
    await writeStatus({ state: 'applying', step: 'serving workers with the new config are loading their sites', changes });

    // Each new worker loads every site before it gets sockets, then one old worker drains and stops.
    // Meanwhile a worker that exits is not replaced at once: the top-up below counts the new ones.
    reloadingWorkers = true;
    const old = [...children.values()].filter((child) => child.role === 'worker' && !child.retiring);
    const fresh: Child[] = [];
    const retired: Array<Promise<void>> = [];
    const closeWhenRetired = (set: ListenSockets): void => {
      void Promise.all(retired).then(() => {
        set.close();
        socketSets.delete(set);
      });
    };
    try {
      for (let i = 0; i < config.server.workers; i++) {
        if (stopping) return 'stopping';
        const replaced = old.shift();
        const worker = startWorker();
        if (replaced !== undefined) worker.takeOver = { from: replaced, kinds: kept };
        fresh.push(worker);
        if (await cameUp(worker)) {
          if (replaced !== undefined) retired.push(retire(replaced));
          continue;
        }
        if (stopping) return 'stopping';
        // Back to the running config: workers of it start (and load) while the new ones serve, then those stop.
        config = running;
        wire = previousWire;
        sockets = previousSockets;
        for (const child of fresh) child.replacing = true;
        reloadingWorkers = false;
        const replacements = startMissingWorkers();
        // Each takes the sockets of a new worker, for the ports that stay, as in the other direction.
        const donors = fresh.filter((child) => child.listening && children.has(child.process));
        replacements.forEach((replacement, index) => {
          const from = donors[index];
          if (from !== undefined) replacement.takeOver = { from, kinds: kept };
        });
        await Promise.all(replacements.map(cameUp));
        retired.push(...fresh.map(retire));
        if (nextSockets !== previousSockets) closeWhenRetired(nextSockets);
        return { message: 'a serving worker could not start with the new config (its error is in the server log); the running config is kept' };
      }
      for (const rest of old) retired.push(retire(rest));
      // The sockets of ports no longer listened on close once the workers that used them have gone.
      if (nextSockets !== previousSockets) closeWhenRetired(previousSockets);
      return 'replaced';
    } finally {
      reloadingWorkers = false;
      // Workers that exited during the reload are replaced now, with whichever config runs.
      startMissingWorkers();
    }
  };
  const onReload = (): void => {
    if (stopping) return;
    // A request during a reload is answered by one more reload after it: the file may have changed again.
    if (reloading) {
      reloadAgain = true;
      return;
    }
    reloading = true;
    void (async () => {
      do {
        reloadAgain = false;
        try {
          await reloadConfig();
        } catch (error) {
          logger.error({ err: error }, 'reload failed');
          await writeStatus({ state: 'failed', code: 'E_RELOAD_FAILED', message: error instanceof Error ? error.message : String(error) });
        }
      } while (reloadAgain && !stopping);
      reloading = false;
    })();
  };
  onReloadSignal = onReload;

  const onHup = (): void => {
    for (const child of children.values()) child.process.kill('SIGHUP');
  };
  process.on('SIGHUP', onHup);

  /**
   * The metrics listener ([metrics] listen), bound once for the life of this
   * process (a reload applies the token, not the address). One that cannot
   * bind leaves metrics off, logged: serving never waits on it.
   */
  async function startMetrics(): Promise<MetricsListener | undefined> {
    const address = config.metrics.listen;
    if (address === undefined) return undefined;
    try {
      const listener = await listenMetrics({
        address,
        token: () => config.metrics.token,
        // The processes that can answer: workers that serve (a reload's old ones too: their counts are real) and a ready control plane.
        processes: () => [...children.values()].filter((child) => (child.role === 'worker' ? child.listening : child === control && controlReady)).map((child) => child.process),
        logger,
      });
      logger.info({ host: address.host, port: listener.port, path: METRICS_PATH, token: config.metrics.token !== undefined }, 'metrics listening');
      return listener;
    } catch (error) {
      logger.warn({ err: error, host: address.host, port: address.port }, `cannot listen for metrics on ${address.host}:${address.port}; berth serve runs without them. Pick another [metrics] listen, or listen = false`);
      return undefined;
    }
  }

  startControlPlane();
  startMissingWorkers();
  // Hooks hand their deploys to this process from now on (they wait here for the control plane's start).
  const deploySocket = await listenDeploySocket({ dataDir: config.dataDir, owner: user, submit: handDeploy, logger });
  metricsListener = await startMetrics();
  logger.info({ workers: config.server.workers, sockets: sockets.ownSockets ? 'one per worker (SO_REUSEPORT)' : 'shared' }, 'started the control plane and the serving workers');
  // From here on `berth reload` signals this process (it looks for this file first).
  await writeStatus({ state: 'serving' });
  if (reloadWanted) onReload();

  const outcome = await Promise.race([signal.received, stopped]);
  stopping = true;
  // Workers still being set up would otherwise escape the stop.
  while (starting > 0) await new Promise((resolve) => setImmediate(resolve));
  if (typeof outcome === 'string') logger.info({ signal: outcome }, 'shutting down: workers first, then the control plane');
  process.off('SIGHUP', onHup);
  // Kept until the end: the default action of SIGUSR2 would end this process in the middle of its stop.
  onReloadSignal = () => undefined;
  for (const [, socket] of waitingConnections.splice(0)) socket.destroy();
  await deploySocket?.close();
  await metricsListener?.close();
  await stopChildren([...children.values()].filter((child) => child.role === 'worker'));
  await stopChildren([...children.values()]);
  for (const set of socketSets) set.close();
  // Their askers are gone with the workers and the deploy socket.
  for (const waiting of pushes.values()) clearTimeout(waiting.timer);
  pushes.clear();
  await lock.release();
  process.off('SIGUSR2', reloadSignal);
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
