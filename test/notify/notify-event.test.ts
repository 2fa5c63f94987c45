import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEventId, summarize, truncate } from '../../src/notify/notify-event.ts';
import { deployFailed } from './notify-fixtures.ts';

test('summarize says what happened in one line, and the details after', () => {
  const failed = deployFailed();
  assert.deepEqual(summarize(failed), {
    title: 'Deploy of blog failed',
    text: [
      'Deploy 20261204T200000Z-abc123 (webhook, refs/heads/main): failed after 12 s',
      'Commit: 0123456789ab Add the about page by Ada',
      'Error: The build command exited with status 1 [E_BUILD_FAILED]',
      'Site: https://blog.example.com/',
      `Event ${failed.id} at 2026-12-04T20:00:00.000Z`,
    ].join('\n'),
  });
  assert.equal(summarize({ ...failed, type: 'deploy.recovered' }).title, 'Deploy of blog succeeded again');
  assert.equal(summarize({ ...failed, type: 'deploy.succeeded' }).title, 'Deployed blog');
});

test('summarize names the certificate and the days left', () => {
  const base = { id: 'evt_1', timestamp: '2026-12-04T20:00:00.000Z' };
  const expiring = summarize({ ...base, type: 'certificate.expiring', certificate: { names: ['example.com', 'www.example.com'], daysLeft: 1, notAfter: '2026-12-05T20:00:00.000Z' } });
  assert.equal(expiring.title, 'Certificate for example.com, www.example.com expires in 1 day');
  assert.match(expiring.text, /^Valid until: 2026-12-05T20:00:00.000Z$/m);
  const failed = summarize({ ...base, type: 'certificate.renewal_failed', certificate: { names: ['example.com'], errorCode: 'E_ACME_ORDER', errorMessage: 'The CA refused the order' } });
  assert.equal(failed.title, 'Certificate renewal failed for example.com');
  assert.match(failed.text, /^Error: The CA refused the order \[E_ACME_ORDER\]$/m);
});

test('event ids are evt_ and 24 hex digits, each new', () => {
  const a = createEventId();
  assert.match(a, /^evt_[0-9a-f]{24}$/);
  assert.notEqual(a, createEventId());
});

test('truncate cuts by characters, not UTF-16 units, and marks the cut', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('abcdef', 4), 'abc…');
  assert.equal(truncate('😀😀😀', 2), '😀…');
});
