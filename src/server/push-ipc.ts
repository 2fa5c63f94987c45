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
  reply: PushReply;
}

const REPLY_TIMEOUT_MS = 10_000;

/** In a worker: a sink that asks the primary. */
export function workerPushSink(): PushSink {
  const waiting = new Map<string, (reply: PushReply) => void>();
  process.on('message', (message: Partial<PushReplyMessage>) => {
    if (message.berth !== 'push-reply' || message.id === undefined || message.reply === undefined) return;
    waiting.get(message.id)?.(message.reply);
    waiting.delete(message.id);
  });
  return (event) =>
    new Promise<PushReply>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('The primary process did not answer the push in time'));
      }, REPLY_TIMEOUT_MS);
      waiting.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      process.send?.({ berth: 'push', id, event } satisfies PushMessage);
    });
}

/** In the primary: answers workers' pushes from the deployer. */
export function servePushesFromWorkers(deployer: Deployer): () => void {
  const onMessage = (worker: Worker, message: Partial<PushMessage>): void => {
    if (message.berth !== 'push' || message.id === undefined || message.event === undefined) return;
    const reply = deployer.receivePush(message.event);
    worker.send({ berth: 'push-reply', id: message.id, reply } satisfies PushReplyMessage);
  };
  cluster.on('message', onMessage);
  return () => cluster.off('message', onMessage);
}
