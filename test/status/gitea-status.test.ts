import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import type { DeployStatusState } from '../../src/status/commit-status.ts';
import { createGiteaStatusClient } from '../../src/status/gitea-status.ts';
import { describeClientFailures, sendTo, UPDATE, type ClientSpec } from './client-cases.ts';
import { sendJson, SHA, type ReceivedRequest } from './fake-forge.ts';

/**
 * The fake Gitea (and Forgejo, which keeps its API) checks requests as their
 * swagger description has the operation `repoCreateStatus`: POST
 * /repos/{owner}/{repo}/statuses/{sha}, a `CreateStatusOption` body with
 * `context`, `description`, `state` (CommitStatusState: pending, success,
 * error, failure, warning) and `target_url`, the token as
 * `Authorization: token …`; it answers a `CommitStatus`, or an `APIError`
 * `{message, url}`.
 */

const OPTION_FIELDS = new Set(['context', 'description', 'state', 'target_url']);
const STATES = ['pending', 'success', 'error', 'failure', 'warning'];

function checkRequest(request: ReceivedRequest, _base: string, token: string): string[] {
  const problems: string[] = [];
  if (request.method !== 'POST') problems.push(`${request.method} is not POST`);
  if (request.url !== `/repos/jo/blog/statuses/${SHA}`) problems.push(`${request.url} is not /repos/{owner}/{repo}/statuses/{sha}`);
  if (request.headers.authorization !== `token ${token}`) problems.push('Authorization is not "token" and the token');
  if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) problems.push('the body is not declared as JSON');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(request.body) as Record<string, unknown>;
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  for (const key of Object.keys(body)) if (!OPTION_FIELDS.has(key)) problems.push(`CreateStatusOption has no ${key}`);
  if (!STATES.includes(body.state as string)) problems.push(`state ${JSON.stringify(body.state)} is not a CommitStatusState`);
  for (const key of OPTION_FIELDS) if (key in body && typeof body[key] !== 'string') problems.push(`${key} is not a string`);
  return problems;
}

function created(request: ReceivedRequest, res: ServerResponse): void {
  const body = JSON.parse(request.body) as Record<string, string>;
  sendJson(res, 201, {
    id: 12,
    status: body.state,
    target_url: body.target_url ?? '',
    description: body.description ?? '',
    url: `https://code.example.org/api/v1/repos/jo/blog/statuses/${SHA}`,
    context: body.context,
    creator: { id: 4, login: 'berth', full_name: 'Berth', email: 'berth@noreply.code.example.org', avatar_url: '', username: 'berth' },
    created_at: '2026-12-04T12:00:00Z',
    updated_at: '2026-12-04T12:00:00Z',
  });
}

for (const flavour of [
  { forge: 'gitea', label: 'Gitea' },
  { forge: 'forgejo', label: 'Forgejo' },
] as const) {
  const spec: ClientSpec = {
    label: flavour.label,
    forge: flavour.forge,
    makeClient: (base, token, options) => createGiteaStatusClient({ forge: flavour.forge, apiBase: base, repo: 'jo/blog' }, token, options),
    check: checkRequest,
    created,
    errorBody: (_status, message) => ({ message, url: 'https://code.example.org/api/swagger' }),
    invalidStatus: 422,
    hints: { unauthorized: /write:repository/, forbidden: /write:repository/, notFound: /can see it/ },
  };

  describe(`${flavour.label} commit statuses`, () => {
    const expected: Record<DeployStatusState, string> = { queued: 'pending', running: 'pending', succeeded: 'success', failed: 'failure', cancelled: 'warning' };
    for (const [state, giteaState] of Object.entries(expected) as Array<[DeployStatusState, string]>) {
      it(`posts ${state} as ${giteaState}`, async (t) => {
        const { error, forge } = await sendTo(t, spec, created, { update: { ...UPDATE, state } });
        assert.equal(error, undefined);
        assert.deepEqual(forge.problems, []);
        const body = JSON.parse(forge.requests[0]?.body ?? '{}') as Record<string, unknown>;
        assert.equal(body.state, giteaState);
        assert.equal(body.context, 'berth/blog');
        assert.equal(body.target_url, UPDATE.targetUrl);
      });
    }

    it(`names ${flavour.label} in its messages`, async (t) => {
      const { error } = await sendTo(t, spec, (_request, res) => sendJson(res, 404, { message: 'GetRepositoryByName', url: '' }));
      assert.ok(error);
      assert.match(error.message, new RegExp(`^Cannot set the ${flavour.label} commit status of jo/blog@9fceb02`));
    });
  });

  describeClientFailures(spec);
}
