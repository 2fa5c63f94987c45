import { createBitbucketStatusClient } from './bitbucket-status.ts';
import type { CommitStatusClient, ForgeTarget } from './commit-status.ts';
import { createGiteaStatusClient } from './gitea-status.ts';
import { createGithubStatusClient } from './github-status.ts';
import { createGitlabStatusClient } from './gitlab-status.ts';
import type { StatusClientOptions } from './send-status-request.ts';

/** The client for the target's forge. */
export function createStatusClient(target: ForgeTarget, token: string, options?: StatusClientOptions): CommitStatusClient {
  switch (target.forge) {
    case 'github':
      return createGithubStatusClient(target, token, options);
    case 'gitlab':
      return createGitlabStatusClient(target, token, options);
    case 'gitea':
    case 'forgejo':
      return createGiteaStatusClient(target, token, options);
    case 'bitbucket':
      return createBitbucketStatusClient(target, token, options);
  }
}
