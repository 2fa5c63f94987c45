import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { BITBUCKET_KEY_MAX_CHARS, bitbucketKey, createBitbucketStatusClient } from '../../src/status/bitbucket-status.ts';
import type { DeployStatusState } from '../../src/status/commit-status.ts';
import { describeClientFailures, sendTo, UPDATE, type ClientSpec } from './client-cases.ts';
import { sendJson, SHA, type ReceivedRequest } from './fake-forge.ts';

/**
 * The fake Bitbucket Cloud checks requests as its REST reference has
 * "Create a build status for a commit": POST
 * /repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build, a
 * `commitstatus` body with `key`, `state` (INPROGRESS, SUCCESSFUL, FAILED,
 * STOPPED) and `url` required, `name`, `description`, `refname` optional;
 * Bearer for access tokens, Basic for an app password. It answers the
 * created `commitstatus`, or an `error` object.
 */

const FIELDS = new Set(['key', 'state', 'url', 'name', 'description', 'refname']);
const STATES = ['INPROGRESS', 'SUCCESSFUL', 'FAILED', 'STOPPED'];
const APP_PASSWORD = 'jo-lima:ATBBx7Rk2pQ9mZ4vW1cN8dF3hL6sY0tE';

function expectedAuthorization(token: string): string {
  return token.includes(':') ? `Basic ${Buffer.from(token).toString('base64')}` : `Bearer ${token}`;
}

function checkRequest(request: ReceivedRequest, _base: string, token: string): string[] {
  const problems: string[] = [];
  if (request.method !== 'POST') problems.push(`${request.method} is not POST`);
  if (request.url !== `/repositories/jo-team/blog/commit/${SHA}/statuses/build`) problems.push(`${request.url} is not /repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build`);
  if (request.headers.authorization !== expectedAuthorization(token)) problems.push('Authorization is not what the token calls for');
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(request.body) as Record<string, unknown>;
  } catch {
    return [...problems, 'the body is not JSON'];
  }
  for (const key of Object.keys(body)) if (!FIELDS.has(key)) problems.push(`commitstatus has no ${key}`);
  for (const key of ['key', 'state', 'url']) if (typeof body[key] !== 'string' || body[key] === '') problems.push(`${key} is required`);
  if (!STATES.includes(body.state as string)) problems.push(`state ${JSON.stringify(body.state)} is not one of ${STATES.join(', ')}`);
  if (typeof body.key === 'string' && body.key.length > 40) problems.push('key is longer than 40 characters');
  if (typeof body.url === 'string' && !/^https?:\/\//.test(body.url)) problems.push('url is not an absolute URL');
  return problems;
}

function created(request: ReceivedRequest, res: ServerResponse): void {
  const body = JSON.parse(request.body) as Record<string, string>;
  sendJson(res, 201, {
    type: 'build',
    uuid: '{6f9e1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b}',
    key: body.key,
    refname: null,
    url: body.url,
    state: body.state,
    name: body.name,
    description: body.description,
    created_on: '2026-12-04T12:00:00.000000+00:00',
    updated_on: '2026-12-04T12:00:00.000000+00:00',
    links: {
      self: { href: `https://api.bitbucket.org/2.0/repositories/jo-team/blog/commit/${SHA}/statuses/build/${body.key}` },
      commit: { href: `https://api.bitbucket.org/2.0/repositories/jo-team/blog/commit/${SHA}` },
    },
  });
}

function specFor(token: string | undefined): ClientSpec {
  return {
    label: 'Bitbucket',
    forge: 'bitbucket',
    makeClient: (base, given, options) => createBitbucketStatusClient({ forge: 'bitbucket', apiBase: base, repo: 'jo-team/blog' }, given, options),
    check: checkRequest,
    created,
    errorBody: (_status, message) => ({ type: 'error', error: { message } }),
    invalidStatus: 400,
    hints: token === undefined ? { unauthorized: /access token/, forbidden: /read access/, notFound: /workspace/ } : { unauthorized: /app password/, forbidden: /read access/, notFound: /workspace/ },
    ...(token === undefined ? {} : { token }),
  };
}

const spec = specFor(undefined);

describe('Bitbucket build statuses', () => {
  const expected: Record<DeployStatusState, string> = { queued: 'INPROGRESS', running: 'INPROGRESS', succeeded: 'SUCCESSFUL', failed: 'FAILED', cancelled: 'STOPPED' };
  for (const [state, bitbucketState] of Object.entries(expected) as Array<[DeployStatusState, string]>) {
    it(`posts ${state} as ${bitbucketState}, keyed and named by the context`, async (t) => {
      const { error, forge } = await sendTo(t, spec, created, { update: { ...UPDATE, state } });
      assert.equal(error, undefined);
      assert.deepEqual(forge.problems, []);
      const body = JSON.parse(forge.requests[0]?.body ?? '{}') as Record<string, unknown>;
      assert.equal(body.state, bitbucketState);
      assert.equal(body.key, 'berth/blog');
      assert.equal(body.name, 'berth/blog');
      assert.equal(body.url, UPDATE.targetUrl);
    });
  }

  it("links the site when the deploy has no page of its own (Bitbucket requires a url)", async (t) => {
    const update = { ...UPDATE };
    delete update.targetUrl;
    const { error, forge } = await sendTo(t, spec, created, { update });
    assert.equal(error, undefined);
    assert.equal((JSON.parse(forge.requests[0]?.body ?? '{}') as Record<string, unknown>).url, 'https://blog.example.com/');
  });

  it('sends "username:app-password" as Basic', async (t) => {
    const { error, forge } = await sendTo(t, specFor(APP_PASSWORD), created, { token: APP_PASSWORD });
    assert.equal(error, undefined);
    assert.deepEqual(forge.problems, []);
  });

  it('derives a short, stable key from a long context', () => {
    const long = 'berth/a-site-with-a-rather-long-name-indeed-2026';
    const key = bitbucketKey(long);
    assert.ok(key.length <= BITBUCKET_KEY_MAX_CHARS);
    assert.equal(bitbucketKey(long), key);
    assert.notEqual(bitbucketKey(`${long}-b`), key);
    assert.equal(bitbucketKey('berth/blog'), 'berth/blog');
  });
});

describeClientFailures(spec);
describeClientFailures(specFor(APP_PASSWORD));
