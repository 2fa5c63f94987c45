import { createHash } from 'node:crypto';
import type { CommitStatusClient, CommitStatusUpdate, DeployStatusState, ForgeTarget } from './commit-status.ts';
import { checkToken, checkUpdate, cutDescription, ownerAndName, resolveClientOptions, subjectOf } from './client-support.ts';
import { sendStatusRequest, type StatusClientOptions } from './send-status-request.ts';

/**
 * Bitbucket Cloud build statuses:
 * `POST {api}/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build`
 * with `key`, `state`, `name`, `url` (required) and `description`. A status
 * is replaced by the next one with the same key, and since 2021 only by its
 * creator (or a repository admin): keep using the same token.
 *
 * The token is a repository, project or workspace access token (sent as
 * Bearer), or `username:app-password` (sent as Basic) when it holds a colon.
 * Writing a status needs only read access to the repository.
 */

/** Bitbucket refuses a longer key. */
export const BITBUCKET_KEY_MAX_CHARS = 40;
export const BITBUCKET_TEXT_MAX_CHARS = 255;

type BitbucketState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED';

const STATES: Record<DeployStatusState, BitbucketState> = {
  queued: 'INPROGRESS',
  running: 'INPROGRESS',
  succeeded: 'SUCCESSFUL',
  failed: 'FAILED',
  cancelled: 'STOPPED',
};

export function bitbucketState(state: DeployStatusState): BitbucketState {
  return STATES[state];
}

/**
 * The status key for a context: the context itself when it fits, else its
 * start and a hash of the whole, so two long contexts that share a start
 * still get different keys, and the same context always gets the same one.
 */
export function bitbucketKey(context: string): string {
  if (context.length <= BITBUCKET_KEY_MAX_CHARS && /^[\x21-\x7e]+$/.test(context)) return context;
  const hash = createHash('sha256').update(context).digest('hex').slice(0, 10);
  const start = context.replace(/[^A-Za-z0-9._/-]+/g, '-').slice(0, BITBUCKET_KEY_MAX_CHARS - hash.length - 1);
  return `${start}-${hash}`;
}

export function createBitbucketStatusClient(target: ForgeTarget, token: string, options?: StatusClientOptions): CommitStatusClient {
  const resolved = resolveClientOptions(options);
  const basic = token.includes(':');
  const credentials = basic ? Buffer.from(token, 'utf8').toString('base64') : token;
  // An app password could show up alone, without its user name.
  const secrets = basic ? [token, credentials, token.slice(token.indexOf(':') + 1)] : [token];
  return {
    forge: 'bitbucket',
    async send(update: CommitStatusUpdate, signal?: AbortSignal): Promise<void> {
      checkToken(token, 'Bitbucket');
      checkUpdate(update);
      const body = {
        key: bitbucketKey(update.context),
        state: bitbucketState(update.state),
        name: cutDescription(update.context, BITBUCKET_TEXT_MAX_CHARS),
        url: update.targetUrl ?? update.siteUrl,
        description: cutDescription(update.description, BITBUCKET_TEXT_MAX_CHARS),
      };
      await sendStatusRequest({
        forgeLabel: 'Bitbucket',
        url: `${target.apiBase}/repositories/${ownerAndName(target.repo)}/commit/${update.sha}/statuses/build`,
        headers: {
          authorization: basic ? `Basic ${credentials}` : `Bearer ${token}`,
          accept: 'application/json',
          'content-type': 'application/json',
          'user-agent': resolved.userAgent,
        },
        body: JSON.stringify(body),
        secrets,
        subject: subjectOf(target, update.sha),
        hints: {
          unauthorized: basic
            ? 'the user name or app password is wrong or revoked; token must be "username:app-password"'
            : 'the access token is wrong, expired or revoked; make a new repository or workspace access token',
          forbidden: 'the token needs read access to the repository (a repository access token with Repositories: Read), and a status made by another user can only be replaced by that user or an admin',
          notFound: 'check the workspace and repository in the site\'s repo, and that the token can see it',
          invalid: 'the key, state, name, url or description was refused (url must be an absolute http(s) URL)',
        },
        signal,
        timeoutMs: resolved.timeoutMs,
        now: resolved.now,
      });
    },
  };
}
