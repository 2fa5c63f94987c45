import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { BuildJob, BuildSpec } from '../deploy/build-host.ts';
import type { BuildSteps } from '../deploy/build-settings.ts';
import { createLocalBuildHost } from '../deploy/local-build-host.ts';
import { BUILD_HOST_TAG, isBuildHostMessage, type BuildHostReply } from '../deploy/remote-build-host.ts';
import { isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { ServiceUser } from './service-user.ts';

export interface BuildHostServerOptions {
  /**
   * Berth's unprivileged user, which the child runs as: it owns the data dir
   * and gets each checkout back. When absent, the user the child runs as,
   * read from the kernel (/proc), else this process's.
   */
  serviceUser?: ServiceUser | undefined;
}

/**
 * The most a request may weigh, as JSON; a build's command and environment
 * fit many times over. Limit: Node's IPC channel reads a whole message
 * before this check sees it, and bounds none, so a child can make this
 * process hold one huge message in memory once; it is refused all the same.
 */
export const MAX_REQUEST_CHARS = 2 * 1024 * 1024;
const MAX_COMMAND_CHARS = 256 * 1024;
const MAX_ENV_ENTRIES = 4096;
const MAX_SITE_CHARS = 256;
/** Requests of one child in progress at once; a child asking for more is answered with an error. */
const MAX_IN_FLIGHT = 64;
const OPS = new Set(['secure', 'prepare', 'run', 'cancel', 'stop-strays', 'reclaim']);
const CACHE_KEY = /^[0-9a-f]{32}$/;

/**
 * Runs in the root parent of an unprivileged child (the control plane, or a
 * CLI command that dropped its privileges) and answers the child's build
 * host requests (deploy/remote-build-host.ts) with a local build host that
 * works for the child's user.
 *
 * The child is not trusted with anything that takes root: a request names a
 * site and a deploy id, and the uid, the checkout's path, the timeout and
 * the process limit are derived here from the config this process loaded
 * (deploy/local-build-host.ts checks the checkout: a real directory directly
 * in that site's `work/`). What the child does choose, the command and its
 * environment, is what the site's repository chooses anyway, and it only
 * ever runs as that site's build uid. A malformed request is logged and
 * answered with an error, never thrown. A build is cancelled when the child
 * asks, and when the child exits or its channel closes; its processes are
 * then killed and its checkout given back all the same.
 *
 * Returns a function that stops answering (and cancels running builds).
 */
export function serveBuildHost(child: ChildProcess, config: ResolvedConfig, logger: Logger, options: BuildHostServerOptions = {}): () => void {
  const owner = options.serviceUser ?? userOfProcess(child.pid);
  const host = createLocalBuildHost(config, owner === undefined ? {} : { owner: { uid: owner.uid, gid: owner.gid } });
  const runs = new Map<number, AbortController>();
  let inFlight = 0;

  const reply = (message: BuildHostReply): void => {
    if (!child.connected) return; // The child is gone: nobody waits for the answer.
    try {
      child.send(message, (error) => {
        if (error !== null) logger.debug({ err: error }, 'cannot answer a build host request: the channel closed');
      });
    } catch (error) {
      logger.debug({ err: error }, 'cannot answer a build host request: the channel closed');
    }
  };
  const fail = (id: number, error: unknown): void => {
    const code = isBerthError(error) ? error.code : undefined;
    const message = error instanceof Error ? error.message : String(error);
    reply({ berth: BUILD_HOST_TAG, id, kind: 'error', code, message });
  };

  const handle = async (raw: object): Promise<void> => {
    const request = parseRequest(raw);
    if (typeof request === 'string') {
      logger.warn({ child: child.pid, reason: request }, 'refused a build host request');
      fail(requestId(raw), new Error(`refused: ${request}`));
      return;
    }
    const { id } = request;
    if (request.op === 'cancel') {
      runs.get(id)?.abort("the process that asked for the build cancelled it");
      return;
    }
    if (inFlight >= MAX_IN_FLIGHT) {
      logger.warn({ child: child.pid }, 'refused a build host request: too many in progress');
      fail(id, new Error(`refused: more than ${MAX_IN_FLIGHT} requests in progress`));
      return;
    }
    inFlight += 1;
    try {
      let value: unknown;
      switch (request.op) {
        case 'secure':
          value = await host.secureDataDir();
          break;
        case 'prepare':
          value = await host.prepare(request.job);
          break;
        case 'stop-strays':
          value = await host.stopStrayProcesses(request.site);
          break;
        case 'reclaim':
          value = await host.reclaimWorkDir(request.job);
          break;
        case 'run': {
          if (runs.has(id)) throw new Error(`refused: a build with request id ${id} is already running`);
          const cancel = new AbortController();
          runs.set(id, cancel);
          try {
            await host.run(request.job, request.spec, {
              log: (stream, line) => reply({ berth: BUILD_HOST_TAG, id, kind: 'line', stream, line }),
              note: (line) => reply({ berth: BUILD_HOST_TAG, id, kind: 'line', stream: 'note', line }),
              onStart: (pgid) => reply({ berth: BUILD_HOST_TAG, id, kind: 'start', pgid }),
              signal: cancel.signal,
            });
          } finally {
            runs.delete(id);
          }
          value = null;
          break;
        }
      }
      reply({ berth: BUILD_HOST_TAG, id, kind: 'result', value });
    } catch (error) {
      if (!isBerthError(error)) logger.warn({ child: child.pid, op: request.op, err: error }, 'a build host request failed');
      fail(id, error);
    } finally {
      inFlight -= 1;
    }
  };

  const onMessage = (message: unknown): void => {
    if (!isBuildHostMessage(message)) return;
    handle(message).catch((error: unknown) => {
      logger.error({ child: child.pid, err: error }, 'build host request handling failed');
    });
  };
  const cancelAll = (why: string): void => {
    for (const cancel of runs.values()) cancel.abort(why);
  };
  const onGone = (): void => cancelAll('the process that asked for the build ended');
  child.on('message', onMessage);
  child.on('exit', onGone);
  child.on('disconnect', onGone);
  return () => {
    child.off('message', onMessage);
    child.off('exit', onGone);
    child.off('disconnect', onGone);
    cancelAll('Berth is stopping');
  };
}

type ParsedRequest = { id: number } & (
  | { op: 'secure' | 'cancel' }
  | { op: 'prepare' | 'reclaim'; job: BuildJob }
  | { op: 'run'; job: BuildJob; spec: BuildSpec }
  | { op: 'stop-strays'; site: string }
);

/** The real uid and gid of a running process, from /proc; undefined where it cannot be read. */
function userOfProcess(pid: number | undefined): { uid: number; gid: number } | undefined {
  if (pid === undefined) return undefined;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
  const gid = Number(/^Gid:\s+(\d+)/m.exec(status)?.[1]);
  return Number.isSafeInteger(uid) && Number.isSafeInteger(gid) ? { uid, gid } : undefined;
}

function requestId(raw: object): number {
  const id = (raw as { id?: unknown }).id;
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : 0;
}

/** The request, or why it is refused. Shapes and sizes only; what the names mean is the local build host's to check. */
function parseRequest(raw: object): ParsedRequest | string {
  let size: number;
  try {
    size = JSON.stringify(raw).length;
  } catch {
    return 'not serialisable';
  }
  if (size > MAX_REQUEST_CHARS) return `${size} characters, more than ${MAX_REQUEST_CHARS}`;
  const message = raw as Record<string, unknown>;
  const id = requestId(raw);
  if (id === 0) return 'no request id';
  const op = message.op;
  if (typeof op !== 'string' || !OPS.has(op)) return `unknown operation ${JSON.stringify(String(op).slice(0, 40))}`;
  switch (op) {
    case 'secure':
    case 'cancel':
      return { id, op };
    case 'stop-strays': {
      const site = message.site;
      if (!isName(site)) return 'no site name';
      return { id, op, site };
    }
    case 'prepare':
    case 'reclaim':
    case 'run': {
      const job = parseJob(message.job);
      if (typeof job === 'string') return job;
      if (op !== 'run') return { id, op, job };
      const spec = parseSpec(message.spec);
      if (typeof spec === 'string') return spec;
      return { id, op, job, spec };
    }
    default:
      return 'unknown operation';
  }
}

function isName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_SITE_CHARS;
}

function parseJob(value: unknown): BuildJob | string {
  if (typeof value !== 'object' || value === null) return 'no job';
  const { site, deployId } = value as Record<string, unknown>;
  if (!isName(site)) return 'no site name';
  if (typeof deployId !== 'string' || deployId.length > 100) return 'no deploy id';
  return { site, deployId };
}

function parseSpec(value: unknown): BuildSpec | string {
  if (typeof value !== 'object' || value === null) return 'no build spec';
  const { command, env, cacheKey, steps } = value as Record<string, unknown>;
  if (!isCommand(command)) return 'no usable command';
  let split: BuildSteps | undefined;
  if (steps !== undefined) {
    if (typeof steps !== 'object' || steps === null || Array.isArray(steps)) return 'build steps that are not an object';
    const { install, build } = steps as Record<string, unknown>;
    if (!isCommand(build) || (install !== undefined && !isCommand(install))) return 'a build step that is not a usable command';
    split = { install, build };
  }
  if (cacheKey !== undefined && (typeof cacheKey !== 'string' || !CACHE_KEY.test(cacheKey))) return 'a cache key that is not 32 hex digits';
  if (typeof env !== 'object' || env === null || Array.isArray(env)) return 'no environment';
  const entries = Object.entries(env);
  if (entries.length > MAX_ENV_ENTRIES) return `more than ${MAX_ENV_ENTRIES} environment variables`;
  const clean: Record<string, string> = {};
  for (const [name, text] of entries) {
    if (name === '' || name.includes('=') || name.includes('\0') || typeof text !== 'string' || text.includes('\0')) return 'an environment variable that cannot be set';
    clean[name] = text;
  }
  return { command, env: clean, cacheKey, ...(split === undefined ? {} : { steps: split }) };
}

function isCommand(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_COMMAND_CHARS && !value.includes('\0');
}
