import type { CommitStatusClient, CommitStatusUpdate, DeployStatusState, ForgeTarget } from './commit-status.ts';
import { checkToken, checkUpdate, cutDescription, ownerAndName, resolveClientOptions, subjectOf } from './client-support.ts';
import { sendStatusRequest, type StatusClientOptions } from './send-status-request.ts';

/**
 * GitHub (and GitHub Enterprise Server) commit statuses:
 * `POST {api}/repos/{owner}/{repo}/statuses/{sha}` with `state`,
 * `description`, `context` and `target_url`.
 *
 * The token needs "Commit statuses: write" (fine-grained) or the
 * `repo:status` scope (classic).
 */

/** GitHub cuts nothing itself; it refuses a longer description with a 422. */
export const GITHUB_DESCRIPTION_MAX_CHARS = 140;

type GithubState = 'pending' | 'success' | 'failure' | 'error';

const STATES: Record<DeployStatusState, GithubState> = {
  queued: 'pending',
  running: 'pending',
  succeeded: 'success',
  failed: 'failure',
  // GitHub's statuses have no neutral state: `error` is the closest that is
  // not "the commit is broken", and the description says what happened.
  cancelled: 'error',
};

export function githubState(state: DeployStatusState): GithubState {
  return STATES[state];
}

/** The description sent for an update: a cancelled deploy says so, since `error` alone would read as a failure. */
export function githubDescription(update: CommitStatusUpdate): string {
  const text = update.state === 'cancelled' && !/cancel|supersed/i.test(update.description) ? `Cancelled or superseded: ${update.description}` : update.description;
  return cutDescription(text, GITHUB_DESCRIPTION_MAX_CHARS);
}

export function createGithubStatusClient(target: ForgeTarget, token: string, options?: StatusClientOptions): CommitStatusClient {
  const resolved = resolveClientOptions(options);
  return {
    forge: 'github',
    async send(update: CommitStatusUpdate, signal?: AbortSignal): Promise<void> {
      checkToken(token, 'GitHub');
      checkUpdate(update);
      const body: Record<string, string> = {
        state: githubState(update.state),
        description: githubDescription(update),
        context: update.context,
      };
      if (update.targetUrl !== undefined) body.target_url = update.targetUrl;
      await sendStatusRequest({
        forgeLabel: 'GitHub',
        url: `${target.apiBase}/repos/${ownerAndName(target.repo)}/statuses/${update.sha}`,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/vnd.github+json',
          'content-type': 'application/json',
          'x-github-api-version': '2022-11-28',
          'user-agent': resolved.userAgent,
        },
        body: JSON.stringify(body),
        secrets: [token],
        subject: subjectOf(target, update.sha),
        hints: {
          unauthorized: 'the token is wrong, expired or revoked; make a new one and put it where [sites.status] token reads it',
          forbidden: 'give the token the "Commit statuses: write" permission on this repository (fine-grained token) or the repo:status scope (classic token)',
          notFound: 'check the repository in the site\'s repo, and that the token can see it (a fine-grained token lists the repositories it may use)',
          invalid: 'the description, context or target URL was refused; GitHub also refuses more than 1000 statuses per commit and context',
        },
        signal,
        timeoutMs: resolved.timeoutMs,
        now: resolved.now,
      });
    },
  };
}
