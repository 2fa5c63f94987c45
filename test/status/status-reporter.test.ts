import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import type { CommitStatusUpdate } from '../../src/status/commit-status.ts';
import { createGiteaStatusClient } from '../../src/status/gitea-status.ts';
import { createStatusReporter } from '../../src/status/status-reporter.ts';
import { captureLogs, sendJson, SHA, startFakeForge, TOKEN, type ReceivedRequest } from './fake-forge.ts';

/**
 * The reporter drives real clients against a fake forge on a socket; only
 * the waits between attempts are replaced, by a `sleep` that records what it
 * was asked to wait and returns at once (or when the test lets it).
 */

const OTHER_SHA = '1d3f5a7c9e0b2d4f6a8c0e1b3d5f7a9c2e4b6d8f';
const THIRD_SHA = '2e4a6c8e0f1b3d5f7a9c1e3b5d7f9a0c2e4b6d8f';

function update(sha: string, state: CommitStatusUpdate['state']): CommitStatusUpdate {
  return { sha, state, context: 'berth/blog', description: `${state} ${sha.slice(0, 7)}`, siteUrl: 'https://blog.example.com/' };
}

/** What a request asked for: `<sha7> <state>`. */
function asked(request: ReceivedRequest): string {
  const sha = /statuses\/([0-9a-f]+)/.exec(request.url)?.[1] ?? '?';
  return `${sha.slice(0, 7)} ${(JSON.parse(request.body) as { state: string }).state}`;
}

function created(res: ServerResponse): void {
  sendJson(res, 201, { id: 1, status: 'pending', context: 'berth/blog' });
}

/** A fake Gitea answering with `answers[n]` for its n-th request (the last one from then on). */
async function scriptedForge(t: TestContext, answers: Array<(res: ServerResponse) => void>) {
  let count = 0;
  const forge = await startFakeForge(
    t,
    () => [],
    (_request, res) => {
      const answer = answers[Math.min(count, answers.length - 1)] as (res: ServerResponse) => void;
      count += 1;
      answer(res);
    },
  );
  const client = createGiteaStatusClient({ forge: 'gitea', apiBase: forge.base, repo: 'jo/blog' }, TOKEN, { timeoutMs: 5_000 });
  return { forge, client };
}

function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

describe('status reporter', () => {
  it('sends the updates of a site in the order reported, one at a time', async (t) => {
    let inFlight = 0;
    let most = 0;
    const forge = await startFakeForge(
      t,
      () => [],
      (_request, res) => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        setImmediate(() => {
          inFlight -= 1;
          created(res);
        });
      },
    );
    const client = createGiteaStatusClient({ forge: 'gitea', apiBase: forge.base, repo: 'jo/blog' }, TOKEN);
    const { logger } = captureLogs();
    const reporter = createStatusReporter({ logger, sleep: recordingSleep().sleep });
    reporter.report('blog', client, update(SHA, 'queued'));
    reporter.report('blog', client, update(OTHER_SHA, 'queued'));
    reporter.report('blog', client, update(THIRD_SHA, 'queued'));
    await reporter.flush(10_000);
    assert.deepEqual(forge.requests.map(asked), ['9fceb02 pending', '1d3f5a7 pending', '2e4a6c8 pending']);
    assert.equal(most, 1);
  });

  it('a newer update for a commit replaces the one still waiting behind the one being sent', async (t) => {
    const { forge, client } = await scriptedForge(t, [created]);
    const { logger } = captureLogs();
    const reporter = createStatusReporter({ logger });
    reporter.report('blog', client, update(SHA, 'queued'));
    reporter.report('blog', client, update(SHA, 'running'));
    reporter.report('blog', client, update(SHA, 'succeeded'));
    await reporter.flush(10_000);
    assert.deepEqual(forge.requests.map(asked), ['9fceb02 pending', '9fceb02 success']);
  });

  it('retries after a 503 and logs the failure once', async (t) => {
    const { forge, client } = await scriptedForge(t, [(res) => sendJson(res, 503, { message: 'maintenance' }), created]);
    const { logger, lines } = captureLogs();
    const { sleep, waits } = recordingSleep();
    const reporter = createStatusReporter({ logger, sleep });
    reporter.report('blog', client, update(SHA, 'running'));
    await reporter.flush(10_000);
    assert.equal(forge.requests.length, 2);
    assert.deepEqual(waits, [2_000]);
    const warnings = lines.filter((line) => line.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.retrying, true);
    assert.equal(warnings[0]?.httpStatus, 503);
    assert.ok(lines.some((line) => line.msg === 'commit status sent after retrying'));
  });

  it("waits as long as the forge's Retry-After says, up to 5 minutes", async (t) => {
    const { forge, client } = await scriptedForge(t, [
      (res) => sendJson(res, 429, { message: 'slow down' }, { 'retry-after': '42' }),
      (res) => sendJson(res, 429, { message: 'slow down' }, { 'retry-after': '3600' }),
      created,
    ]);
    const { sleep, waits } = recordingSleep();
    const reporter = createStatusReporter({ logger: captureLogs().logger, sleep });
    reporter.report('blog', client, update(SHA, 'running'));
    await reporter.flush(10_000);
    assert.equal(forge.requests.length, 3);
    assert.deepEqual(waits, [42_000, 300_000]);
  });

  it('a Retry-After of 0 still waits the backoff, so the retries cannot run in a loop', async (t) => {
    const { forge, client } = await scriptedForge(t, [(res) => sendJson(res, 429, { message: 'slow down' }, { 'retry-after': '0' }), created]);
    const { sleep, waits } = recordingSleep();
    const reporter = createStatusReporter({ logger: captureLogs().logger, sleep });
    reporter.report('blog', client, update(SHA, 'running'));
    await reporter.flush(10_000);
    assert.equal(forge.requests.length, 2);
    assert.deepEqual(waits, [2_000]);
  });

  it('gives up once the waits would pass 15 minutes, and logs once', async (t) => {
    const { forge, client } = await scriptedForge(t, [(res) => sendJson(res, 502, { message: 'bad gateway' })]);
    const { logger, lines } = captureLogs();
    const { sleep, waits } = recordingSleep();
    const reporter = createStatusReporter({ logger, sleep });
    reporter.report('blog', client, update(SHA, 'failed'));
    await reporter.flush(10_000);
    // 2 s doubling to 256 s (510 s in all), then the 5-minute cap once (810 s); one more would pass 900 s.
    assert.deepEqual(waits, [2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000]);
    assert.equal(forge.requests.length, waits.length + 1);
    assert.equal(lines.filter((line) => line.level === 'warn').length, 1);
    assert.ok(lines.some((line) => line.msg === 'commit status given up'));
  });

  it('does not retry a refusal that needs the operator', async (t) => {
    const { forge, client } = await scriptedForge(t, [(res) => sendJson(res, 403, { message: 'token does not have at least one of required scope(s): [write:repository]' })]);
    const { sleep, waits } = recordingSleep();
    const { logger, lines } = captureLogs();
    const reporter = createStatusReporter({ logger, sleep });
    reporter.report('blog', client, update(SHA, 'running'));
    await reporter.flush(10_000);
    assert.equal(forge.requests.length, 1);
    assert.deepEqual(waits, []);
    assert.equal(lines.filter((line) => line.level === 'warn')[0]?.retrying, false);
  });

  it('drops a retry when a newer update for the same commit came in during the wait', async (t) => {
    const { forge, client } = await scriptedForge(t, [(res) => sendJson(res, 503, { message: 'maintenance' }), created]);
    let wake: () => void = () => undefined;
    let sleeping: () => void = () => undefined;
    const asleep = new Promise<void>((resolve) => (sleeping = resolve));
    const sleep = (): Promise<void> =>
      new Promise<void>((resolve) => {
        wake = resolve;
        sleeping();
      });
    const reporter = createStatusReporter({ logger: captureLogs().logger, sleep });
    reporter.report('blog', client, update(SHA, 'running'));
    await asleep;
    reporter.report('blog', client, update(SHA, 'succeeded'));
    wake();
    await reporter.flush(10_000);
    assert.deepEqual(forge.requests.map(asked), ['9fceb02 pending', '9fceb02 success']);
  });

  it('flush returns after its timeout while a send is still unanswered', async (t) => {
    let received: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    const forge = await startFakeForge(
      t,
      () => [],
      () => received(),
    );
    const client = createGiteaStatusClient({ forge: 'gitea', apiBase: forge.base, repo: 'jo/blog' }, TOKEN, { timeoutMs: 60_000 });
    // The retry after the test's end never comes: its wait never ends.
    const reporter = createStatusReporter({ logger: captureLogs().logger, sleep: () => new Promise<void>(() => undefined) });
    reporter.report('blog', client, update(SHA, 'running'));
    await arrived;
    let flushed = false;
    await reporter.flush(50).then(() => (flushed = true));
    assert.equal(flushed, true);
    assert.equal(forge.requests.length, 1);
  });

  it('flush returns at once when nothing was reported', async () => {
    await createStatusReporter({ logger: captureLogs().logger }).flush(60_000);
  });

  it('report never throws, even when a client does at once', async () => {
    const { logger, lines } = captureLogs();
    const reporter = createStatusReporter({ logger });
    const broken = {
      send(): Promise<void> {
        throw new TypeError('broken client');
      },
    };
    assert.doesNotThrow(() => reporter.report('blog', broken, update(SHA, 'running')));
    await reporter.flush(10_000);
    assert.equal(lines.filter((line) => line.level === 'warn').length, 1);
  });
});
