import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { StatusSendError, type CommitStatusClient, type CommitStatusUpdate } from '../../src/status/commit-status.ts';
import type { StatusClientOptions } from '../../src/status/send-status-request.ts';
import { createStatusReporter } from '../../src/status/status-reporter.ts';
import { captureLogs, sendJson, SHA, startFakeForge, TOKEN, type FakeForge, type ReceivedRequest } from './fake-forge.ts';

/**
 * The answers every forge client must handle the same way, run against
 * each forge's fake: refusals that need the operator, answers that mean
 * "later", a forge that never answers, a redirect, and the token kept out
 * of every message and log line.
 */

export interface ClientSpec {
  /** As the client names its forge in messages. */
  label: string;
  forge: string;
  makeClient: (base: string, token: string, options: StatusClientOptions) => CommitStatusClient;
  /** The forge's documented request shape: what is wrong with a request, if anything. */
  check: (request: ReceivedRequest, base: string, token: string) => string[];
  /** A success answer, as the forge sends it. */
  created: (request: ReceivedRequest, res: ServerResponse) => void;
  /** An error body in the forge's own shape. */
  errorBody: (status: number, message: string) => unknown;
  /** Its status for content it refuses: 422 (GitHub, Gitea) or 400. */
  invalidStatus: number;
  /** Words the message for each refusal must carry: what to fix. */
  hints: { unauthorized: RegExp; forbidden: RegExp; notFound: RegExp };
  token?: string;
}

export const UPDATE: CommitStatusUpdate = {
  sha: SHA,
  state: 'running',
  context: 'berth/blog',
  description: 'Building 9fceb02',
  targetUrl: 'https://berth.example.com/deploys/01J9',
  siteUrl: 'https://blog.example.com/',
};

/** Runs `update` against a fake that answers with `answer`; returns the error, or undefined when it went through. */
export async function sendTo(
  t: TestContext,
  spec: ClientSpec,
  answer: (request: ReceivedRequest, res: ServerResponse) => void,
  options: { update?: CommitStatusUpdate; timeoutMs?: number; token?: string } = {},
): Promise<{ error: StatusSendError | undefined; forge: FakeForge }> {
  const token = options.token ?? spec.token ?? TOKEN;
  let base = '';
  const forge = await startFakeForge(t, (request) => spec.check(request, base, token), answer);
  base = forge.base;
  const client = spec.makeClient(forge.base, token, { timeoutMs: options.timeoutMs ?? 5_000, now: () => Date.parse('2026-12-04T12:00:00Z') });
  try {
    await client.send(options.update ?? UPDATE);
    return { error: undefined, forge };
  } catch (error) {
    assert.ok(error instanceof StatusSendError, `expected a StatusSendError, got ${String(error)}`);
    assertNoToken(error, token);
    return { error, forge };
  }
}

export function assertNoToken(error: StatusSendError, token: string): void {
  const secret = token.includes(':') ? token.slice(token.indexOf(':') + 1) : token;
  const seen = `${error.message}\n${error.forgeMessage}\n${String(error.cause)}\n${JSON.stringify(error)}`;
  assert.ok(!seen.includes(secret), `the token leaked into: ${seen}`);
  if (token.includes(':')) assert.ok(!seen.includes(Buffer.from(token).toString('base64')), 'the encoded credentials leaked');
}

function refusal(spec: ClientSpec, status: number, message: string, headers: Record<string, string> = {}) {
  return (_request: ReceivedRequest, res: ServerResponse): void => sendJson(res, status, spec.errorBody(status, message), headers);
}

export function describeClientFailures(spec: ClientSpec): void {
  describe(`${spec.label} client: answers other than success`, () => {
    const token = spec.token ?? TOKEN;

    it('401 is not retried and says the token is refused', async (t) => {
      const { error, forge } = await sendTo(t, spec, refusal(spec, 401, 'Bad credentials'));
      assert.deepEqual(forge.problems, []);
      assert.ok(error);
      assert.equal(error.httpStatus, 401);
      assert.equal(error.retryable, false);
      assert.equal(error.forgeMessage, 'Bad credentials');
      assert.match(error.message, spec.hints.unauthorized);
    });

    it('403 without a rate limit is not retried and names the permission to give', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 403, 'Resource not accessible by personal access token'));
      assert.ok(error);
      assert.equal(error.httpStatus, 403);
      assert.equal(error.retryable, false);
      assert.match(error.message, spec.hints.forbidden);
    });

    it('404 is not retried and says to check the repository', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 404, 'Not Found'));
      assert.ok(error);
      assert.equal(error.httpStatus, 404);
      assert.equal(error.retryable, false);
      assert.match(error.message, spec.hints.notFound);
    });

    it(`${spec.invalidStatus} (content refused) is not retried and carries the forge's message`, async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, spec.invalidStatus, 'Validation Failed'));
      assert.ok(error);
      assert.equal(error.httpStatus, spec.invalidStatus);
      assert.equal(error.retryable, false);
      assert.match(error.message, /Validation Failed/);
    });

    it('429 with Retry-After in seconds is retried after that wait', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 429, 'Too Many Requests', { 'retry-after': '7' }));
      assert.ok(error);
      assert.equal(error.httpStatus, 429);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 7_000);
    });

    it('429 with Retry-After as an HTTP date is retried after the time left until then', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 429, 'Too Many Requests', { 'retry-after': 'Fri, 04 Dec 2026 12:01:30 GMT' }));
      assert.ok(error);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 90_000);
    });

    it('403 with Retry-After is a rate limit: retried', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 403, 'You have exceeded a secondary rate limit', { 'retry-after': '60' }));
      assert.ok(error);
      assert.equal(error.httpStatus, 403);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 60_000);
    });

    it('500 is retried', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 500, 'Internal Server Error'));
      assert.ok(error);
      assert.equal(error.httpStatus, 500);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, undefined);
    });

    it('503 with Retry-After (maintenance) is retried after that wait', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 503, 'Service Unavailable', { 'retry-after': '120' }));
      assert.ok(error);
      assert.equal(error.retryable, true);
      assert.equal(error.retryAfterMs, 120_000);
    });

    it("a proxy's HTML error page is retried and not quoted", async (t) => {
      const { error } = await sendTo(t, spec, (_request, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      });
      assert.ok(error);
      assert.equal(error.httpStatus, 502);
      assert.equal(error.retryable, true);
      assert.equal(error.forgeMessage, '');
    });

    it('a forge that never answers times out, and that is retried', async (t) => {
      const { error, forge } = await sendTo(t, spec, () => undefined, { timeoutMs: 300 });
      assert.equal(forge.requests.length, 1);
      assert.ok(error);
      assert.equal(error.httpStatus, undefined);
      assert.equal(error.retryable, true);
      assert.match(error.message, /did not answer within 0\.3 s/);
    });

    it('a forge that cannot be reached is retried', async () => {
      const client = spec.makeClient('http://127.0.0.1:1', token, { timeoutMs: 2_000 });
      const error = await client.send(UPDATE).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof StatusSendError);
      assert.equal(error.retryable, true);
      assert.match(error.message, /cannot reach/);
      assertNoToken(error, token);
    });

    it('a redirect is not followed; the error names where it pointed, without its query', async (t) => {
      const { error, forge } = await sendTo(t, spec, (_request, res) => {
        res.writeHead(301, { location: 'https://elsewhere.example/api/moved?token=abc' });
        res.end();
      });
      assert.equal(forge.requests.length, 1, 'one request: the redirect was not followed');
      assert.ok(error);
      assert.equal(error.httpStatus, 301);
      assert.equal(error.retryable, false);
      assert.match(error.message, /https:\/\/elsewhere\.example\/api\/moved/);
      assert.doesNotMatch(error.message, /token=abc/);
    });

    it('a forge that echoes the token back does not put it in the error', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 401, `Bad credentials: ${token} is not a token we know`));
      assert.ok(error);
      assert.match(error.forgeMessage, /\[token\]/);
    });

    it('reads at most 64 KiB of an answer and cuts the message to 200 characters', async (t) => {
      const { error } = await sendTo(t, spec, refusal(spec, 422, 'x'.repeat(200_000)));
      assert.ok(error);
      assert.ok(Array.from(error.forgeMessage).length <= 200, `${error.forgeMessage.length} characters`);
    });

    it('a failure is logged once with site, commit, forge, status and message, and never the token', async (t) => {
      const forge = await startFakeForge(t, () => [], refusal(spec, 401, `Bad credentials: ${token}`));
      const { logger, lines, text } = captureLogs();
      const reporter = createStatusReporter({ logger, sleep: async () => undefined });
      reporter.report('blog', spec.makeClient(forge.base, token, {}), UPDATE);
      await reporter.flush(5_000);
      const warnings = lines.filter((line) => line.level === 'warn');
      assert.equal(warnings.length, 1);
      const warning = warnings[0] as Record<string, unknown>;
      assert.equal(warning.site, 'blog');
      assert.equal(warning.sha, SHA);
      assert.equal(warning.forge, spec.forge);
      assert.equal(warning.httpStatus, 401);
      assert.equal(warning.retrying, false);
      assert.match(String(warning.forgeMessage), /Bad credentials/);
      const secret = token.includes(':') ? token.slice(token.indexOf(':') + 1) : token;
      assert.ok(!text().includes(secret), 'the token is not in the log');
    });
  });
}
