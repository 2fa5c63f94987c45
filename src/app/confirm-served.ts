import { randomUUID } from 'node:crypto';
import type { ConfirmServed } from '../deploy/run-deploy.ts';
import { SERVED_WAIT_MS, messageOf, type ConfirmServedMessage } from './ipc-messages.ts';

/** Longer than the supervisor's own wait, so that its answer (a timeout naming the workers behind) comes first. */
const ANSWER_TIMEOUT_MS = SERVED_WAIT_MS + 60_000;

/**
 * In the control plane: `confirmServed` for the deployer. The supervisor
 * knows which release each live worker has loaded (they report every one)
 * and answers once all of them serve this one, or says which failed or
 * stayed behind.
 */
export function confirmServedOverIpc(): ConfirmServed {
  const waiting = new Map<string, (error: string | undefined) => void>();
  process.on('message', (message: unknown) => {
    const served = messageOf(message, 'served');
    if (served === undefined) return;
    waiting.get(served.id)?.(typeof served.error === 'string' ? served.error : undefined);
    waiting.delete(served.id);
  });
  return (site, release) =>
    new Promise<void>((resolve, reject) => {
      if (process.send === undefined || !process.connected) {
        reject(new Error('the supervisor is gone, so no worker can be asked'));
        return;
      }
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the supervisor did not say whether the workers serve it'));
      }, ANSWER_TIMEOUT_MS);
      waiting.set(id, (error) => {
        clearTimeout(timer);
        if (error === undefined) resolve();
        else reject(new Error(error));
      });
      process.send({ berth: 'confirm-served', id, site, release } satisfies ConfirmServedMessage);
    });
}
