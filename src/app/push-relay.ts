import { randomUUID } from 'node:crypto';
import type { PushReply } from '../deploy/deployer.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import { messageOf, type PushMessage, type PushReplyMessage } from './ipc-messages.ts';

/**
 * Webhooks arrive at any serving worker, but deploys run in the control
 * plane (one queue, one database writer). A worker verifies the signature
 * itself, then hands the push to its supervisor, which passes it to the
 * control plane and the answer back.
 */

/** Longer than the supervisor's own wait for the control plane, so its answer (even an error) comes first. */
const REPLY_TIMEOUT_MS = 15_000;

/** In a worker: a push sink that asks the control plane through the supervisor. */
export function pushSinkOverIpc(): (event: PushEvent) => Promise<PushReply> {
  const waiting = new Map<string, (message: PushReplyMessage) => void>();
  process.on('message', (message: unknown) => {
    const reply = messageOf(message, 'push-reply');
    if (reply === undefined) return;
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
  });
  return (event) =>
    new Promise<PushReply>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('The control plane did not answer the push in time'));
      }, REPLY_TIMEOUT_MS);
      waiting.set(id, (message) => {
        clearTimeout(timer);
        if (message.reply !== undefined) resolve(message.reply);
        else reject(new Error(`The control plane could not take the push: ${message.error ?? 'no reason given'}`));
      });
      if (process.send === undefined || !process.connected) {
        clearTimeout(timer);
        waiting.delete(id);
        reject(new Error('The supervisor is gone; the push cannot be handed on'));
        return;
      }
      process.send({ berth: 'push', id, event } satisfies PushMessage);
    });
}

/**
 * In the control plane: answers pushes from `receive` (the deployer's
 * `receivePush`). Once `taking()` is false (a reload replaces this process)
 * a push is handed back, to go to the next control plane.
 */
export function answerPushesOverIpc(receive: (event: PushEvent) => PushReply, taking: () => boolean = () => true): () => void {
  const onMessage = (message: unknown): void => {
    const push = messageOf(message, 'push');
    if (push === undefined) return;
    if (!taking()) {
      if (process.connected) process.send?.({ berth: 'push-reply', id: push.id, retry: true } satisfies PushReplyMessage);
      return;
    }
    // A failure here (the database, say) must reach the worker as a 500, not take the control plane down.
    let answer: PushReplyMessage;
    try {
      answer = { berth: 'push-reply', id: push.id, reply: receive(push.event) };
    } catch (error) {
      answer = { berth: 'push-reply', id: push.id, error: error instanceof Error ? error.message : String(error) };
    }
    if (process.connected) process.send?.(answer);
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}
