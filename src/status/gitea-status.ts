import type { CommitStatusClient, CommitStatusUpdate, DeployStatusState, ForgeTarget } from './commit-status.ts';
import { checkToken, checkUpdate, cutDescription, ownerAndName, resolveClientOptions, subjectOf } from './client-support.ts';
import { sendStatusRequest, type StatusClientOptions } from './send-status-request.ts';

/**
 * Gitea and Forgejo (its fork, which keeps the same API) commit statuses:
 * `POST {api}/repos/{owner}/{repo}/statuses/{sha}` with `state`,
 * `context`, `description` and `target_url` (their `CreateStatusOption`).
 * The token needs the `write:repository` scope.
 */

/** Neither forge documents a limit; this keeps the line readable in their lists. */
export const GITEA_DESCRIPTION_MAX_CHARS = 255;

type GiteaState = 'pending' | 'success' | 'error' | 'failure' | 'warning';

const STATES: Record<DeployStatusState, GiteaState> = {
  queued: 'pending',
  running: 'pending',
  succeeded: 'success',
  failed: 'failure',
  // `warning` is shown in yellow: not a broken commit, not a good one either.
  cancelled: 'warning',
};

export function giteaState(state: DeployStatusState): GiteaState {
  return STATES[state];
}

export function createGiteaStatusClient(target: ForgeTarget, token: string, options?: StatusClientOptions): CommitStatusClient {
  const resolved = resolveClientOptions(options);
  const label = target.forge === 'forgejo' ? 'Forgejo' : 'Gitea';
  return {
    forge: target.forge === 'forgejo' ? 'forgejo' : 'gitea',
    async send(update: CommitStatusUpdate, signal?: AbortSignal): Promise<void> {
      checkToken(token, label);
      checkUpdate(update);
      const body: Record<string, string> = {
        state: giteaState(update.state),
        context: update.context,
        description: cutDescription(update.description, GITEA_DESCRIPTION_MAX_CHARS),
      };
      if (update.targetUrl !== undefined) body.target_url = update.targetUrl;
      await sendStatusRequest({
        forgeLabel: label,
        url: `${target.apiBase}/repos/${ownerAndName(target.repo)}/statuses/${update.sha}`,
        headers: {
          authorization: `token ${token}`,
          accept: 'application/json',
          'content-type': 'application/json',
          'user-agent': resolved.userAgent,
        },
        body: JSON.stringify(body),
        secrets: [token],
        subject: subjectOf(target, update.sha),
        hints: {
          unauthorized: `the token is wrong, expired or revoked; make a new access token on ${label} with the write:repository scope`,
          forbidden: 'the token needs the write:repository scope, and its user write access to the repository',
          notFound: 'check the repository in the site\'s repo, and that the token\'s user can see it',
          invalid: 'the state, context, description or target URL was refused',
        },
        signal,
        timeoutMs: resolved.timeoutMs,
        now: resolved.now,
      });
    },
  };
}
