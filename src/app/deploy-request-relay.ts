import { BerthError } from '../errors.ts';
import { messageOf, type DeployReplyMessage, type DeployRequestMessage } from './ipc-messages.ts';

/**
 * In the control plane: queues the deploys the supervisor was handed on
 * `data_dir/deploy.sock` with `submit` (it returns the deploy's id) and
 * answers with that id, or with the error and its code. Once `taking()` is
 * false (a reload replaces this process) a request is handed back, to go to
 * the next control plane, as a webhook push is (push-relay.ts).
 */
export function answerDeployRequestsOverIpc(submit: (request: DeployRequestMessage) => string, taking: () => boolean = () => true): () => void {
  const onMessage = (message: unknown): void => {
    const request = messageOf(message, 'deploy-request');
    if (request === undefined) return;
    let answer: DeployReplyMessage;
    if (!taking()) {
      answer = { berth: 'deploy-reply', id: request.id, retry: true };
    } else {
      // A failure here (the database, say) is the client's answer, not the end of the control plane.
      try {
        answer = { berth: 'deploy-reply', id: request.id, deploy: submit(request) };
      } catch (error) {
        answer = {
          berth: 'deploy-reply',
          id: request.id,
          error: error instanceof Error ? error.message : String(error),
          code: error instanceof BerthError ? error.code : 'E_HANDOFF_FAILED',
        };
      }
    }
    if (process.connected) process.send?.(answer);
  };
  process.on('message', onMessage);
  return () => process.off('message', onMessage);
}
