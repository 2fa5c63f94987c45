import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { Deployer, PushReply } from '../deploy/deployer.ts';
import type { PushEvent } from '../webhooks/push-event.ts';
import type { PushSink } from './webhook-route.ts';

/**
 * With several workers, webhooks arrive at any of them but deploys run in
 * the primary (one queue, one database writer). A worker verifies the
 * signature itself, then hands the push to the primary over the cluster
 * channel and relays its answer.
 */
interface PushMessage {
  berth: 'push';
  id: string;
  event: PushEvent;
}

interface PushReplyMessage {
  berth: 'push-reply';
  id: string;
  reply?: PushReply;
  /** Set instead of `reply` when the primary failed to take the push. */
  error?: string;
}

const REPLY_TIMEOUT_MS = 10_000;

/** In a worker: a sink that asks the primary. */
export function workerPushSink(): PushSink {
  const waiting = new Map<string, (message: PushReplyMessage) => void>();
  process.on('message', (message: Partial<PushReplyMessage>) => {
    if (message.berth !== 'push-reply' || message.id === undefined) return;
    waiting.get(message.id)?.(message as PushReplyMessage);
    waiting.delete(message.id);
  });
  return (event) =>
    new Promise<PushReply>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('The primary process did not answer the push in time'));
      }, REPLY_TIMEOUT_MS);
      waiting.set(id, (message) => {
        clearTimeout(timer);
        if (message.reply !== undefined) resolve(message.reply);
        else reject(new Error(`The primary process could not take the push: ${message.error ?? 'no reason given'}`));
      });
      process.send?.({ berth: 'push', id, event } satisfies PushMessage);
    });
}

/** In the primary: answers workers' pushes from the deployer. */
export function servePushesFromWorkers(deployer: Deployer): () => void {
  const onMessage = (worker: Worker, message: Partial<PushMessage>): void => {
    if (message.berth !== 'push' || message.id === undefined || message.event === undefined) return;
    // A failure here (the database, say) must reach the worker as a 500, not take the primary down.
    let answer: PushReplyMessage;
    try {
      answer = { berth: 'push-reply', id: message.id, reply: deployer.receivePush(message.event) };
    } catch (error) {
      answer = { berth: 'push-reply', id: message.id, error: error instanceof Error ? error.message : String(error) };
    }
    worker.send(answer);
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}
