import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import type { DeployStatusState } from '../../src/status/commit-status.ts';
import { createGithubStatusClient } from '../../src/status/github-status.ts';
import { describeClientFailures, sendTo, UPDATE, type ClientSpec } from './client-cases.ts';
import { sendJson, SHA, type ReceivedRequest } from './fake-forge.ts';
import { checkValue, loadGithubDescription, matchPath, resolveRef, type Schema } from './openapi-check.ts';

/**
 * The fake GitHub holds every request against GitHub's own published
 * description of its REST API (@octokit/openapi), not against our reading
 * of the docs: the operation `POST /repos/{owner}/{repo}/statuses/{sha}`,
 * its path parameters and its request body schema, unknown properties
 * refused. The answers it sends are checked against the same description.
 */

const description = loadGithubDescription();
const TEMPLATE = '/repos/{owner}/{repo}/statuses/{sha}';
const operation = description.paths[TEMPLATE]?.post as Schema;
const requestSchema = (((operation.requestBody as Schema).content as Schema)['application/json'] as Schema).schema as Schema;
const createdSchema = ((((operation.responses as Schema)['201'] as Schema).content as Schema)['application/json'] as Schema).schema as Schema;
/** The status GitHub's own example shows for this operation. */
const createdExample = resolveRef(description, ((((operation.responses as Schema)['201'] as Schema).content as Schema)['application/json'] as Schema).examples as Schema).default as Schema;
const createdBody = resolveRef(description, createdExample).value as Record<string, unknown>;

/** GitHub's shared error answers, by status, as the description names them. */
const ERROR_RESPONSES: Record<number, string> = { 401: 'requires_authentication', 403: 'forbidden', 404: 'not_found', 422: 'validation_failed_simple' };

function errorSchema(status: number): Schema {
  const name = ERROR_RESPONSES[status] ?? 'not_found';
  const response = resolveRef(description, { $ref: `#/components/responses/${name}` });
  return ((response.content as Schema)['application/json'] as Schema).schema as Schema;
}

function checkRequest(request: ReceivedRequest, _base: string, token: string): string[] {
  const problems: string[] = [];
  if (request.method.toLowerCase() !== 'post' || description.paths[TEMPLATE]?.[request.method.toLowerCase()] === undefined) {
    problems.push(`${request.method} is not an operation of ${TEMPLATE}`);
  }
  const params = matchPath(TEMPLATE, new URL(request.url, 'http://fake').pathname);
  if (params === undefined) return [...problems, `${request.url} does not match ${TEMPLATE}`];
  for (const ref of operation.parameters as Schema[]) {
    const parameter = resolveRef(description, ref);
    if (parameter.in !== 'path') continue;
    const value = params[parameter.name as string];
    if (value === undefined || value === '') problems.push(`path parameter ${parameter.name as string} is missing`);
    else problems.push(...checkValue(description, parameter.schema as Schema, value, `path parameter ${parameter.name as string}`, true));
  }
  if (request.headers.authorization !== `Bearer ${token}`) problems.push('Authorization is not Bearer and the token');
  if (request.headers.accept !== 'application/vnd.github+json') problems.push(`Accept is ${request.headers.accept ?? 'missing'}`);
  if (request.headers['x-github-api-version'] !== '2022-11-28') problems.push('X-GitHub-Api-Version is not 2022-11-28');
  if ((request.headers['user-agent'] ?? '') === '') problems.push('no User-Agent (GitHub refuses requests without one)');
  if (!/^application\/json\b/.test(request.headers['content-type'] ?? '')) problems.push('the body is not declared as JSON');
  let body: unknown;
  try {
    body = JSON.parse(request.body);
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  problems.push(...checkValue(description, requestSchema, body, 'body', true));
  const text = (body as Record<string, unknown>).description;
  if (typeof text === 'string' && Array.from(text).length > 140) problems.push('description is longer than 140 characters');
  return problems;
}

function errorBody(_status: number, message: string): unknown {
  return { message, documentation_url: 'https://docs.github.com/rest/commits/statuses#create-a-commit-status' };
}

const spec: ClientSpec = {
  label: 'GitHub',
  forge: 'github',
  makeClient: (base, token, options) => createGithubStatusClient({ forge: 'github', apiBase: base, repo: 'octo-org/blog' }, token, options),
  check: checkRequest,
  created: (_request, res) => sendJson(res, 201, createdBody, { location: `https://api.github.com/repos/octo-org/blog/statuses/${SHA}` }),
  errorBody,
  invalidStatus: 422,
  hints: { unauthorized: /expired or revoked/, forbidden: /Commit statuses: write/, notFound: /token can see it/ },
};

function bodyOf(request: ReceivedRequest | undefined): Record<string, unknown> {
  assert.ok(request, 'a request reached the fake');
  return JSON.parse(request.body) as Record<string, unknown>;
}

const created = (request: ReceivedRequest, res: ServerResponse): void => spec.created(request, res);

describe('GitHub commit statuses', () => {
  it("the fake's answers are the ones GitHub's description lists", () => {
    assert.deepEqual(checkValue(description, createdSchema, createdBody, '201 body', true), []);
    for (const status of [401, 403, 404, 422]) {
      assert.deepEqual(checkValue(description, errorSchema(status), errorBody(status, 'Bad credentials'), `${status} body`, true), []);
    }
  });

  it('the check refuses what GitHub would: an unknown state, an unknown property, a missing state, a bad path', () => {
    const request = (url: string, body: unknown): ReceivedRequest => ({
      method: 'POST',
      url,
      headers: { authorization: 'Bearer t', accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'berth', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const path = `/repos/octo-org/blog/statuses/${SHA}`;
    assert.deepEqual(checkRequest(request(path, { state: 'success', context: 'berth/blog' }), '', 't'), []);
    assert.match(checkRequest(request(path, { state: 'cancelled' }), '', 't').join(), /not one of/);
    assert.match(checkRequest(request(path, { state: 'success', name: 'berth' }), '', 't').join(), /does not list/);
    assert.match(checkRequest(request(path, { context: 'berth/blog' }), '', 't').join(), /required property state/);
    assert.match(checkRequest(request(path, { state: 'success', description: 7 }), '', 't').join(), /should be a string/);
    assert.match(checkRequest(request('/repos/octo-org/statuses/x', { state: 'success' }), '', 't').join(), /does not match/);
  });

  const expected: Record<DeployStatusState, string> = { queued: 'pending', running: 'pending', succeeded: 'success', failed: 'failure', cancelled: 'error' };
  for (const [state, githubState] of Object.entries(expected) as Array<[DeployStatusState, string]>) {
    it(`posts ${state} as ${githubState}, in the shape GitHub describes`, async (t) => {
      const { error, forge } = await sendTo(t, spec, created, { update: { ...UPDATE, state } });
      assert.equal(error, undefined);
      assert.deepEqual(forge.problems, []);
      assert.equal(forge.requests[0]?.url, `/repos/octo-org/blog/statuses/${SHA}`);
      const body = bodyOf(forge.requests[0]);
      assert.equal(body.state, githubState);
      assert.equal(body.context, 'berth/blog');
      assert.equal(body.target_url, UPDATE.targetUrl);
    });
  }

  it('says a cancelled deploy was cancelled or superseded, since error alone reads as a failure', async (t) => {
    const { forge } = await sendTo(t, spec, created, { update: { ...UPDATE, state: 'cancelled', description: 'A newer push is deploying' } });
    assert.match(String(bodyOf(forge.requests[0]).description), /^Cancelled or superseded: A newer push is deploying$/);
  });

  it('cuts the description to 140 characters and leaves target_url out when there is none', async (t) => {
    const withoutTarget = { ...UPDATE };
    delete withoutTarget.targetUrl;
    const { error, forge } = await sendTo(t, spec, created, { update: { ...withoutTarget, description: 'é'.repeat(300) } });
    assert.equal(error, undefined);
    const body = bodyOf(forge.requests[0]);
    assert.equal(Array.from(String(body.description)).length, 140);
    assert.ok(String(body.description).endsWith('…'));
    assert.equal('target_url' in body, false);
  });

  it("a rate limit GitHub's way (403, x-ratelimit-remaining 0) is retried at the reset time", async (t) => {
    const reset = Date.parse('2026-12-04T12:05:00Z') / 1000;
    const { error } = await sendTo(t, spec, (_request, res) =>
      sendJson(res, 403, errorBody(403, 'API rate limit exceeded for user ID 1.'), { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }),
    );
    assert.ok(error);
    assert.equal(error.retryable, true);
    assert.equal(error.retryAfterMs, 5 * 60_000);
  });

  it('refuses a commit id that is not a full one before sending anything', async (t) => {
    const { error, forge } = await sendTo(t, spec, created, { update: { ...UPDATE, sha: '9fceb02' } });
    assert.ok(error);
    assert.equal(error.retryable, false);
    assert.equal(forge.requests.length, 0);
  });
});

describeClientFailures(spec);
