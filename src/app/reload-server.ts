import type { ChildProcess } from 'node:child_process';
import { BUILD_HOST_PARENT } from '../deploy/build-host.ts';
import { runningServerPid } from '../state/data-dir-lock.ts';

/** Child -> root parent: send the running `berth serve` SIGHUP. Parent -> child: whether it was sent. */
interface ReloadMessage {
  berth: 'reload-server';
  /** In the answer: the pid that was signalled. */
  pid?: number;
  error?: string;
}

/** Longest the child waits for its parent's answer. */
const ANSWER_TIMEOUT_MS = 10_000;

function isReloadMessage(message: unknown): message is ReloadMessage {
  return typeof message === 'object' && message !== null && (message as { berth?: unknown }).berth === 'reload-server';
}

/**
 * Tells the `berth serve` holding `serve.lock` (pid `pid`) to load what
 * changed in storage (SIGHUP: certificates, releases). A command re-run as
 * the service user by a root parent (drop-privileges.ts) may not signal a
 * supervisor that runs as root: it asks that parent, which finds the pid in
 * `serve.lock` itself. Resolves with an error message when neither could.
 */
export async function reloadRunningServer(pid: number, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    process.kill(pid, 'SIGHUP');
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' || env.BERTH_BUILD_HOST !== BUILD_HOST_PARENT || process.send === undefined || !process.connected) return code ?? String(error);
  }
  return new Promise((resolve) => {
    const done = (error: string | undefined): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(error);
    };
    const onMessage = (message: unknown): void => {
      if (isReloadMessage(message)) done(message.error);
    };
    const timer = setTimeout(() => done('the root process that started this one did not answer'), ANSWER_TIMEOUT_MS);
    process.on('message', onMessage);
    process.send?.({ berth: 'reload-server' } satisfies ReloadMessage);
  });
}

/**
 * The root parent's side: answers a child's request to signal the running
 * `berth serve` of `dataDir`. The pid is read here from `serve.lock`, never
 * taken from the child, so the child can make root signal only that process.
 * Returns a function that stops answering.
 */
export function answerReloadRequests(child: ChildProcess, dataDir: string): () => void {
  const onMessage = (message: unknown): void => {
    if (!isReloadMessage(message)) return;
    const answer = (reply: Omit<ReloadMessage, 'berth'>): void => {
      if (child.connected) child.send({ berth: 'reload-server', ...reply } satisfies ReloadMessage);
    };
    runningServerPid(dataDir).then(
      (pid) => {
        if (pid === undefined) {
          answer({ error: 'no berth serve holds the data dir now' });
          return;
        }
        try {
          process.kill(pid, 'SIGHUP');
          answer({ pid });
        } catch (error) {
          answer({ error: (error as NodeJS.ErrnoException).code ?? String(error) });
        }
      },
      (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
    );
  };
  child.on('message', onMessage);
  return () => child.off('message', onMessage);
}
