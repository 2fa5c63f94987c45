import { lchown, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { SITE_NAME_PATTERN } from '../config/config-schema.ts';
import { isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';

/**
 * `data_dir/deploy.sock`: where a running `berth serve` takes deploys from
 * this machine, so that a post-receive hook hands its deploy to the server
 * and only follows the log: the pusher's Ctrl-C (or a dropped connection)
 * then stops the following, never the deploy of a branch that has already
 * moved.
 *
 * One request per connection, one JSON line each way:
 *
 * ```
 * -> {"site":"blog","ref":"refs/heads/main","sha":"<40 or 64 hex>"}
 * <- {"deploy":"20261127T085500Z-1a2b3c"}   or   {"error":"…","code":"E_…"}
 * ```
 *
 * The socket is its owner's alone (0600; the service user's when Berth
 * started as root, so that root and that user can connect): whoever can
 * connect can already write the data dir, and so run `berth deploy`
 * themselves. It is still read as hostile: a request is bounded in size and
 * time, connections in number, and nothing a client sends or fails to send
 * can end the process.
 */
export function deploySocketPath(dataDir: string): string {
  return join(dataDir, 'deploy.sock');
}

/** What a client asks for: the exact commit, as `berth deploy --sha` deploys it. */
export interface DeployRequest {
  site: string;
  ref: string;
  sha?: string;
}

/** Larger than any request a client of ours sends (a site name, a ref, a commit id). */
export const MAX_REQUEST_BYTES = 4096;
/** A client that has not sent its request by then is answered with an error and dropped. */
export const REQUEST_TIMEOUT_MS = 5_000;
/** Connections served at once; Node closes any more as soon as it accepts them. */
const MAX_CONNECTIONS = 16;

// What git accepts in a ref, less what would need quoting anywhere: the deploy passes it to git and prints it.
const REF = /^refs\/[A-Za-z0-9._/-]{1,240}$/;
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The request in `text`, or the reason it is not one. */
export function parseDeployRequest(text: string): DeployRequest | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: 'the request is not JSON; send one line: {"site":"S","ref":"refs/heads/B","sha":"COMMIT"}' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'the request is not a JSON object' };
  const { site, ref, sha, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) return { error: `unknown field ${JSON.stringify(extra[0])}; the fields are site, ref and sha` };
  if (typeof site !== 'string' || !SITE_NAME_PATTERN.test(site)) return { error: `site ${JSON.stringify(site)} is not a site name` };
  if (typeof ref !== 'string' || !REF.test(ref) || ref.includes('..')) return { error: `ref ${JSON.stringify(ref)} is not a full ref such as refs/heads/main` };
  if (sha !== undefined && (typeof sha !== 'string' || !SHA.test(sha))) return { error: `sha ${JSON.stringify(sha)} is not a full commit id (40 or 64 lowercase hex digits)` };
  return sha === undefined ? { site, ref } : { site, ref, sha };
}

/** The answer to one request. */
export type DeployAnswer = { deploy: string } | { error: string; code: string };

export interface DeploySocketOptions {
  dataDir: string;
  /** The service user, when this process is root and the children are not: it gets the socket. */
  owner?: { uid: number; gid: number };
  /** Queues the deploy and resolves with its id; a rejection (a BerthError, with its code) is the client's answer. */
  submit(request: DeployRequest): Promise<string>;
  logger: Logger;
}

export interface DeploySocket {
  /** Stops taking connections, drops those open, and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Listens on `data_dir/deploy.sock`. Resolves undefined, with a warning,
 * when it cannot (something other than a socket is at that path, a data dir
 * path too long for a socket): a hook then deploys in its own process, as
 * it does with no server.
 */
export async function listenDeploySocket(options: DeploySocketOptions): Promise<DeploySocket | undefined> {
  const { logger } = options;
  const path = deploySocketPath(options.dataDir);
  const cannot = (reason: string): undefined => {
    logger.warn({ path }, `cannot take deploys on ${path}: ${reason}; post-receive hooks deploy in their own process instead`);
    return undefined;
  };
  try {
    const found = await lstat(path);
    // The supervisor holds serve.lock, so no other server listens here: a socket left by a crash is stale.
    // Anything else (a link, a file) Berth did not put there, and neither follows nor removes.
    if (!found.isSocket()) return cannot('it exists and is not a socket; remove it and restart berth serve');
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return cannot((error as Error).message);
  }

  const open = new Set<Socket>();
  // Half-open: a client may end its side after the request and still read the answer.
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => serveConnection(socket, options, open));
  server.maxConnections = MAX_CONNECTIONS;
  const listening = new Promise<Error | undefined>((resolve) => {
    server.once('listening', () => resolve(undefined));
    server.once('error', resolve);
  });
  // bind() never follows a link, and fails on any path that exists. It runs
  // in this call, so the mask applies to the socket alone: it is created
  // 0600, with no moment at which another user could connect.
  const mask = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(mask);
  }
  const failed = await listening;
  if (failed !== undefined) return cannot(failed.message);
  server.on('error', (error) => logger.warn({ err: error, path }, 'error on the deploy socket'));
  if (options.owner !== undefined) {
    try {
      await lchown(path, options.owner.uid, options.owner.gid);
    } catch (error) {
      logger.warn({ err: error, path }, 'cannot give the deploy socket to the service user; only root can hand deploys to the server');
    }
  }
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        // Node removes the socket file it bound as the server closes.
        server.close(() => resolve());
      }),
  };
}

function serveConnection(socket: Socket, options: DeploySocketOptions, open: Set<Socket>): void {
  open.add(socket);
  socket.on('close', () => open.delete(socket));
  // A client that goes away (or resets) costs its connection only.
  socket.on('error', () => socket.destroy());
  let answered = false;
  const answer = (reply: DeployAnswer): void => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    socket.removeAllListeners('data');
    if (socket.writable) socket.end(`${JSON.stringify(reply)}\n`);
    // A client that does not read its answer is not waited for.
    setTimeout(() => socket.destroy(), REQUEST_TIMEOUT_MS).unref();
  };
  const invalid = (error: string): void => answer({ error, code: 'E_HANDOFF_INVALID' });
  const timer = setTimeout(() => invalid(`no request within ${REQUEST_TIMEOUT_MS / 1000} seconds`), REQUEST_TIMEOUT_MS);
  let received = Buffer.alloc(0);
  const take = (): void => {
    const end = received.indexOf(0x0a);
    const text = (end === -1 ? received : received.subarray(0, end)).toString('utf8');
    const request = parseDeployRequest(text);
    if ('error' in request) {
      invalid(request.error);
      return;
    }
    // Read no more: one request per connection.
    socket.removeAllListeners('data');
    socket.pause();
    clearTimeout(timer);
    options.submit(request).then(
      (deploy) => {
        options.logger.info({ deploy, site: request.site, ref: request.ref, sha: request.sha }, 'deploy handed over on the deploy socket');
        answer({ deploy });
      },
      (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error), code: isBerthError(error) ? error.code : 'E_HANDOFF_FAILED' }),
    );
  };
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    if (received.length > MAX_REQUEST_BYTES && received.subarray(0, MAX_REQUEST_BYTES + 1).indexOf(0x0a) === -1) {
      invalid(`the request is longer than ${MAX_REQUEST_BYTES} bytes`);
      return;
    }
    if (received.includes(0x0a)) take();
  });
  // A client may also end its side instead of sending a newline.
  socket.on('end', () => {
    if (!answered && socket.listenerCount('data') > 0) take();
  });
}
