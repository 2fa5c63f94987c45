import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openDeliveryResults, type DeliveryAttempt } from '../../src/notify/delivery-results.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { tempDir } from '../helpers/temp.ts';

function attempt(overrides: Partial<DeliveryAttempt>): DeliveryAttempt {
  return { channel: 'ops', eventId: 'evt_1', eventType: 'deploy.failed', site: 'blog', attempt: 1, ok: true, at: '2026-12-04T20:00:00.000Z', willRetry: false, ...overrides };
}

test('the last result per channel, the last success and the failures since are kept', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const results = openDeliveryResults(dataDir);
  t.after(() => results.close());
  assert.deepEqual(results.list(), []);

  results.record(attempt({ at: '2026-12-04T20:00:00.000Z' }));
  results.record(attempt({ eventId: 'evt_2', ok: false, httpStatus: 503, error: 'hooks.example.com answered 503', willRetry: true, at: '2026-12-04T20:01:00.000Z' }));
  results.record(attempt({ eventId: 'evt_2', attempt: 2, ok: false, error: 'Sending to hooks.example.com timed out after 10000 ms', willRetry: false, at: '2026-12-04T20:02:00.000Z' }));
  results.record(attempt({ channel: 'chat', eventId: 'evt_3', ok: false, site: undefined, eventType: 'certificate.expiring', error: 'refused', at: '2026-12-04T20:03:00.000Z' }));

  assert.deepEqual(results.list(), [
    {
      channel: 'chat',
      last: { channel: 'chat', eventId: 'evt_3', eventType: 'certificate.expiring', site: undefined, attempt: 1, ok: false, error: 'refused', at: '2026-12-04T20:03:00.000Z', willRetry: false },
      lastSuccessAt: undefined,
      failuresSinceSuccess: 1,
    },
    {
      channel: 'ops',
      last: { channel: 'ops', eventId: 'evt_2', eventType: 'deploy.failed', site: 'blog', attempt: 2, ok: false, error: 'Sending to hooks.example.com timed out after 10000 ms', at: '2026-12-04T20:02:00.000Z', willRetry: false },
      lastSuccessAt: '2026-12-04T20:00:00.000Z',
      failuresSinceSuccess: 2,
    },
  ]);

  results.record(attempt({ eventId: 'evt_4', at: '2026-12-04T20:05:00.000Z' }));
  const ops = results.list().find((result) => result.channel === 'ops');
  assert.equal(ops?.failuresSinceSuccess, 0);
  assert.equal(ops?.lastSuccessAt, '2026-12-04T20:05:00.000Z');
});

test('results live in state.db beside the deploy history, readable by another opener, the file 0600', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  const writer = openDeliveryResults(dataDir);
  t.after(() => writer.close());
  writer.record(attempt({}));

  // The state store opens the same file, with its own tables, before and after.
  const store = openStateStore(dataDir);
  t.after(() => store.close());
  assert.equal(store.file, join(dataDir, 'state.db'));
  store.createDeploy({ site: 'blog', trigger: 'cli', ref: 'refs/heads/main' });

  const reader = openDeliveryResults(dataDir);
  t.after(() => reader.close());
  assert.equal(reader.list()[0]?.channel, 'ops');
  assert.equal(store.listDeploys().length, 1);
  assert.equal((await stat(join(dataDir, 'state.db'))).mode & 0o777, 0o600);
});
