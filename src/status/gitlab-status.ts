import type { CommitStatusClient, CommitStatusUpdate, DeployStatusState, ForgeTarget } from './commit-status.ts';
import { checkToken, checkUpdate, cutDescription, resolveClientOptions, subjectOf } from './client-support.ts';
import { sendStatusRequest, type StatusClientOptions } from './send-status-request.ts';

/**
 * GitLab (gitlab.com and self-managed) commit statuses:
 * `POST {api}/projects/:id/statuses/:sha`, the project given by its
 * URL-encoded path (`group%2Fsub%2Fproject`), with `state`, `name`,
 * `description` and `target_url`. The token (personal, project or group
 * access token) needs the `api` scope and at least the Developer role.
 */

/** GitLab keeps descriptions in a 255-character column. */
export const GITLAB_DESCRIPTION_MAX_CHARS = 255;

type GitlabState = 'pending' | 'running' | 'success' | 'failed' | 'canceled';

const STATES: Record<DeployStatusState, GitlabState> = {
  queued: 'pending',
  running: 'running',
  succeeded: 'success',
  failed: 'failed',
  cancelled: 'canceled',
};

export function gitlabState(state: DeployStatusState): GitlabState {
  return STATES[state];
}

/**
 * GitLab keeps one status per name while it is pending or running, and
 * moves it through a state machine; asking for the state it is already in
 * is answered 400, "Cannot transition status via :run from :running"
 * (gitlab-org/gitlab-foss#25807, and the reports in CI plugins that met it).
 * The status then shows what was asked for, so that answer means done. Any
 * other refused transition is still an error.
 */
export function isAlreadyInState(httpStatus: number, forgeMessage: string, wanted: GitlabState): boolean {
  if (httpStatus !== 400) return false;
  const from = /Cannot transition status via :\w+ from :(\w+)/.exec(forgeMessage)?.[1];
  return from === wanted;
}

export function createGitlabStatusClient(target: ForgeTarget, token: string, options?: StatusClientOptions): CommitStatusClient {
  const resolved = resolveClientOptions(options);
  return {
    forge: 'gitlab',
    async send(update: CommitStatusUpdate, signal?: AbortSignal): Promise<void> {
      checkToken(token, 'GitLab');
      checkUpdate(update);
      const state = gitlabState(update.state);
      const body: Record<string, string> = {
        state,
        name: update.context,
        description: cutDescription(update.description, GITLAB_DESCRIPTION_MAX_CHARS),
      };
      if (update.targetUrl !== undefined) body.target_url = update.targetUrl;
      await sendStatusRequest({
        forgeLabel: 'GitLab',
        url: `${target.apiBase}/projects/${encodeURIComponent(target.repo)}/statuses/${update.sha}`,
        headers: {
          'private-token': token,
          accept: 'application/json',
          'content-type': 'application/json',
          'user-agent': resolved.userAgent,
        },
        body: JSON.stringify(body),
        secrets: [token],
        subject: subjectOf(target, update.sha),
        hints: {
          unauthorized: 'the token is wrong, expired or revoked; make a new access token with the api scope and put it where [sites.status] token reads it',
          forbidden: 'the token needs the api scope and at least the Developer role in the project',
          notFound: 'check the project path in the site\'s repo, and that the token\'s user or bot is a member of the project',
          invalid: 'the state, name, description or target URL was refused',
        },
        alreadySet: (httpStatus, forgeMessage) => isAlreadyInState(httpStatus, forgeMessage, state),
        signal,
        timeoutMs: resolved.timeoutMs,
        now: resolved.now,
      });
    },
  };
}
