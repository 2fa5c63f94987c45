import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import type { DeployStatusState } from '../../src/status/commit-status.ts';
import { createGitlabStatusClient } from '../../src/status/gitlab-status.ts';
import { describeClientFailures, sendTo, UPDATE, type ClientSpec } from './client-cases.ts';
import { sendJson, SHA, type ReceivedRequest } from './fake-forge.ts';

/**
 * The fake GitLab checks requests as GitLab's commit status API documents
 * them ("Set the pipeline status of a commit"): POST
 * /projects/:id/statuses/:sha, the project as its URL-encoded path, the
 * PRIVATE-TOKEN header, and the attributes `state` (required; pending,
 * running, success, failed, canceled), `ref`, `name` or `context`,
 * `target_url`, `description`, `coverage`, `pipeline_id`.
 */

const PROJECT = 'octo-group/web/blog';
const ATTRIBUTES = new Set(['state', 'ref', 'name', 'context', 'target_url', 'description', 'coverage', 'pipeline_id']);
const STATES = ['pending', 'running', 'success', 'failed', 'canceled'];

function checkRequest(request: ReceivedRequest, _base: string, token: string): string[] {
  const problems: string[] = [];
  if (request.method !== 'POST') problems.push(`${request.method} is not POST`);
  // The id is one path segment: the slashes of the path are encoded.
  if (request.url !== `/projects/${encodeURIComponent(PROJECT)}/statuses/${SHA}`) problems.push(`${request.url} is not /projects/:id/statuses/:sha`);
  if (request.headers['private-token'] !== token) problems.push('PRIVATE-TOKEN is not the token');
  if (request.headers.authorization !== undefined) problems.push('an Authorization header was sent as well');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(request.body) as Record<string, unknown>;
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  for (const key of Object.keys(body)) if (!ATTRIBUTES.has(key)) problems.push(`unknown attribute ${key}`);
  if (!STATES.includes(body.state as string)) problems.push(`state ${JSON.stringify(body.state)} is not one of ${STATES.join(', ')}`);
  for (const key of ['name', 'description', 'target_url']) if (key in body && typeof body[key] !== 'string') problems.push(`${key} is not a string`);
  if (typeof body.description === 'string' && Array.from(body.description).length > 255) problems.push('description is longer than 255 characters');
  return problems;
}

/** A status as GitLab answers it (the documented example's fields). */
function created(request: ReceivedRequest, res: ServerResponse): void {
  const body = JSON.parse(request.body) as Record<string, string>;
  sendJson(res, 201, {
    id: 93,
    sha: SHA,
    ref: 'main',
    status: body.state,
    name: body.name,
    target_url: body.target_url ?? null,
    description: body.description ?? null,
    created_at: '2026-12-04T12:00:00.000Z',
    started_at: null,
    finished_at: null,
    allow_failure: false,
    coverage: null,
    author: { id: 28, username: 'berth-bot', name: 'Berth', state: 'active', avatar_url: null, web_url: 'https://gitlab.example.com/berth-bot' },
  });
}

const spec: ClientSpec = {
  label: 'GitLab',
  forge: 'gitlab',
  makeClient: (base, token, options) => createGitlabStatusClient({ forge: 'gitlab', apiBase: base, repo: PROJECT }, token, options),
  check: checkRequest,
  created,
  errorBody: (_status, message) => ({ message }),
  invalidStatus: 400,
  hints: { unauthorized: /api scope/, forbidden: /Developer role/, notFound: /project path/ },
};

function bodyOf(request: ReceivedRequest | undefined): Record<string, unknown> {
  assert.ok(request, 'a request reached the fake');
  return JSON.parse(request.body) as Record<string, unknown>;
}

describe('GitLab commit statuses', () => {
  const expected: Record<DeployStatusState, string> = { queued: 'pending', running: 'running', succeeded: 'success', failed: 'failed', cancelled: 'canceled' };
  for (const [state, gitlabState] of Object.entries(expected) as Array<[DeployStatusState, string]>) {
    it(`posts ${state} as ${gitlabState}, named by the context`, async (t) => {
      const { error, forge } = await sendTo(t, spec, created, { update: { ...UPDATE, state } });
      assert.equal(error, undefined);
      assert.deepEqual(forge.problems, []);
      const body = bodyOf(forge.requests[0]);
      assert.equal(body.state, gitlabState);
      assert.equal(body.name, 'berth/blog');
      assert.equal(body.target_url, UPDATE.targetUrl);
      assert.equal(body.description, UPDATE.description);
    });
  }

  it('takes the 400 for a status already in the asked state as done', async (t) => {
    const { error, forge } = await sendTo(t, spec, (_request, res) =>
      sendJson(res, 400, { message: 'Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")' }),
    );
    assert.deepEqual(forge.problems, []);
    assert.equal(error, undefined);
  });

  it('a refused transition to another state is still an error, not retried', async (t) => {
    const { error } = await sendTo(
      t,
      spec,
      (_request, res) => sendJson(res, 400, { message: 'Cannot transition status via :enqueue from :running (Reason(s): Status cannot transition via "enqueue")' }),
      { update: { ...UPDATE, state: 'queued' } },
    );
    assert.ok(error);
    assert.equal(error.httpStatus, 400);
    assert.equal(error.retryable, false);
    assert.match(error.forgeMessage, /from :running/);
  });

  it("quotes GitLab's field errors, which come as an object", async (t) => {
    const { error } = await sendTo(t, spec, (_request, res) => sendJson(res, 400, { message: { target_url: ['is blocked: Only allowed schemes are http, https'] } }));
    assert.ok(error);
    assert.match(error.forgeMessage, /target_url.*is blocked/);
  });
});

describeClientFailures(spec);
