import { lstat } from 'node:fs/promises';
import { connect } from 'node:net';
import { deploySocketPath, type DeployRequest } from './deploy-socket.ts';

/**
 * What became of a deploy offered to the running server on its deploy
 * socket. `unavailable`: nothing took it (no socket, or nobody listening on
 * it), so the deploy can run elsewhere. `queued`: the server has it.
 * `refused`: the server said no, or the exchange broke after the request
 * was sent: it must not run elsewhere too.
 */
export type Handoff = { kind: 'unavailable'; reason: string } | { kind: 'queued'; deploy: string } | { kind: 'refused'; error: string; code: string };

/** Longer than the server's own wait for its control plane (10 s), so its answer, even an error, comes first. */
const ANSWER_TIMEOUT_MS = 20_000;
/** Larger than any answer the server sends. */
const MAX_ANSWER_BYTES = 16_384;
const DEPLOY_ID = /^[0-9A-Za-z-]{1,64}$/;

/** Offers `request` to the `berth serve` on `dataDir`'s deploy socket (see deploy-socket.ts). Never throws. */
export async function handDeployToServer(dataDir: string, request: DeployRequest, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Handoff> {
  const path = deploySocketPath(dataDir);
  try {
    // A link or a file there is not the server's socket: connect() would follow a link.
    if (!(await lstat(path)).isSocket()) return { kind: 'unavailable', reason: `${path} is not a socket` };
  } catch (error) {
    return { kind: 'unavailable', reason: (error as NodeJS.ErrnoException).code === 'ENOENT' ? `there is no ${path}` : (error as Error).message };
  }
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    let received = Buffer.alloc(0);
    const socket = connect({ path, allowHalfOpen: true });
    const settle = (handoff: Handoff): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(handoff);
    };
    const broken = (why: string): void => settle({ kind: 'refused', error: `${why}; the deploy may or may not be queued (see berth deploys)`, code: 'E_HANDOFF_FAILED' });
    const timer = setTimeout(() => (connected ? broken(`berth serve did not answer within ${timeoutMs / 1000} seconds`) : settle({ kind: 'unavailable', reason: 'connecting timed out' })), timeoutMs);
    socket.on('connect', () => {
      connected = true;
      socket.end(`${JSON.stringify(request)}\n`);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Refused or gone before the request went out: a socket file a stopped server left, say.
      if (!connected) settle({ kind: 'unavailable', reason: error.message });
      else broken(`the connection to berth serve failed: ${error.message}`);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length > MAX_ANSWER_BYTES) broken('berth serve answered with more than an answer');
    });
    socket.on('end', () => settle(parseAnswer(received.toString('utf8')) ?? { kind: 'refused', error: 'berth serve closed the connection without a usable answer; the deploy may or may not be queued (see berth deploys)', code: 'E_HANDOFF_FAILED' }));
    socket.on('close', () => broken('berth serve closed the connection without answering'));
  });
}

function parseAnswer(text: string): Handoff | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { deploy, error, code } = value as Record<string, unknown>;
  if (typeof deploy === 'string' && DEPLOY_ID.test(deploy)) return { kind: 'queued', deploy };
  if (typeof error === 'string' && typeof code === 'string' && /^E_[A-Z0-9_]{1,40}$/.test(code)) return { kind: 'refused', error, code };
  return undefined;
}
