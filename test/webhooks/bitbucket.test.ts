import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { receive } from '../../src/webhooks/bitbucket.ts';
import {
  assertIgnored,
  assertNoSecret,
  assertPush,
  assertRejected,
  badHexSignatures,
  edited,
  hmacHex,
  jsonBody,
  SECRET,
  SECRET_TEXT,
  SHA,
  siteFixture,
} from './helpers.ts';

/**
 * A `repo:push` as Bitbucket Cloud documents it ("Event payloads"): `actor`,
 * `repository` with `full_name`, and `push.changes[]`, each with `new` and
 * `old` ref states (`type` branch or tag, `name`, `target` commit with
 * `hash`, `author.raw`, `message`, `date`), `created`, `closed`, `forced`,
 * `commits` and `truncated`. The values are made up.
 */
const OLD_HASH = '7a1b2c3d4e5f60718293a4b5c6d7e8f901234567';

function branchState(name: string, hash: string, message: string) {
  return {
    type: 'branch',
    name,
    target: {
      type: 'commit',
      hash,
      author: { type: 'author', raw: 'Mia Chen <mia@example.net>' },
      message,
      date: '2026-05-20T10:42:31+00:00',
    },
  };
}

const CHANGE = {
  new: branchState('main', SHA, 'Tighten the footer spacing\n'),
  old: branchState('main', OLD_HASH, 'Add the footer\n'),
  created: false,
  closed: false,
  forced: false,
  truncated: false,
  commits: [{ type: 'commit', hash: SHA, message: 'Tighten the footer spacing\n' }],
};

const PUSH = {
  actor: { type: 'user', display_name: 'Mia Chen', nickname: 'mia' },
  repository: { type: 'repository', name: 'blog', full_name: 'mia/blog', is_private: true },
  push: { changes: [CHANGE] },
};

const REQUEST_UUID = '0f6b0c8e-2d4a-4c59-9e71-3a8d5b2f6c14';
const site = siteFixture('bitbucket');

function signedHeaders(body: Buffer, extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return {
    'content-type': 'application/json',
    'x-event-key': 'repo:push',
    'x-request-uuid': REQUEST_UUID,
    'x-hook-uuid': '{d1e2f3a4-b5c6-4789-8abc-def012345678}',
    'x-hub-signature': `sha256=${hmacHex(body)}`,
    ...extra,
  };
}

function deliver(payload: unknown, extra: IncomingHttpHeaders = {}) {
  const body = jsonBody(payload);
  return receive(site, signedHeaders(body, extra), body);
}

describe('Bitbucket Cloud webhooks', () => {
  it('turn the change to the site branch into a push event', () => {
    assertPush(deliver(PUSH), {
      site: 'blog',
      forge: 'bitbucket',
      delivery: REQUEST_UUID,
      ref: 'refs/heads/main',
      sha: SHA,
      author: 'Mia Chen',
      message: 'Tighten the footer spacing\n',
      repository: 'mia/blog',
    });
  });

  it('pick the site branch out of a push that updates several refs', () => {
    const several = edited(PUSH, (copy) => {
      copy.push.changes = [
        { ...CHANGE, new: branchState('drafts', OLD_HASH, 'Other work\n') },
        CHANGE,
        { ...CHANGE, new: { ...branchState('v1', OLD_HASH, 'Tag'), type: 'tag' }, old: null as never },
      ];
    });
    const outcome = deliver(several);
    assert.equal(outcome.kind === 'push' && outcome.event.sha, SHA);
  });

  it('never take X-Hook-UUID, which names the webhook, for the delivery id', () => {
    const outcome = deliver(PUSH, { 'x-request-uuid': undefined });
    assert.match(outcome.kind === 'push' ? outcome.event.delivery : '', /^sha256:[0-9a-f]{64}$/);
  });

  describe('refuse a request not signed with the secret (401)', () => {
    const body = jsonBody(PUSH);
    const valid = `sha256=${hmacHex(body)}`;
    it('when there is no X-Hub-Signature', () => {
      assertRejected(receive(site, signedHeaders(body, { 'x-hub-signature': undefined }), body), 401, 'E_WEBHOOK_SIGNATURE', /no X-Hub-Signature header/);
    });
    it('when signed with another secret', () => {
      assertRejected(receive(site, signedHeaders(body, { 'x-hub-signature': `sha256=${hmacHex(body, 'x')}` }), body), 401, 'E_WEBHOOK_SIGNATURE', /does not match/);
    });
    it('when the signature is of another body', () => {
      const other = jsonBody(edited(PUSH, (copy) => (copy.repository.name = 'other')));
      assertRejected(receive(site, signedHeaders(other), body), 401, 'E_WEBHOOK_SIGNATURE');
    });
    it('when GitHub\'s header name is used instead', () => {
      const headers = signedHeaders(body, { 'x-hub-signature': undefined, 'x-hub-signature-256': valid });
      assertRejected(receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE');
    });
    for (const [name, value] of badHexSignatures(valid, 'sha256=')) {
      it(`when the header holds ${name}`, () => {
        assertRejected(receive(site, signedHeaders(body, { 'x-hub-signature': value }), body), 401, 'E_WEBHOOK_SIGNATURE');
      });
    }
  });

  describe('ignore what is not a push to the site branch (202)', () => {
    it('a ping', () => {
      assertIgnored(deliver({ test: true }, { 'x-event-key': 'diagnostics:ping' }), 'ping', REQUEST_UUID);
    });
    it('other events', () => {
      assertIgnored(deliver({ pullrequest: {} }, { 'x-event-key': 'pullrequest:created' }), 'event pullrequest:created is not a push; nothing to deploy');
    });
    it('a push to another branch, naming both', () => {
      const other = edited(PUSH, (copy) => (copy.push.changes[0] = { ...CHANGE, new: branchState('drafts', SHA, 'x'), old: branchState('drafts', OLD_HASH, 'y') }));
      assertIgnored(deliver(other), 'push to branch drafts; site blog deploys branch main');
    });
    it('a tag push', () => {
      const tag = edited(PUSH, (copy) => (copy.push.changes[0] = { ...CHANGE, new: { ...branchState('v3.1', SHA, 'x'), type: 'tag' }, old: null as never }));
      assertIgnored(deliver(tag), 'push to tag v3.1; site blog deploys branch main, not tags');
    });
    it('the deletion of the site branch (new is null)', () => {
      const deletion = edited(PUSH, (copy) => (copy.push.changes[0] = { ...CHANGE, new: null as never, closed: true }));
      assertIgnored(deliver(deletion), 'branch main was deleted; nothing to deploy');
    });
    it('a push with no changes', () => {
      assertIgnored(deliver(edited(PUSH, (copy) => (copy.push.changes = []))), 'push with no changes; nothing to deploy');
    });
  });

  describe('refuse a body they cannot read (400)', () => {
    const send = (text: string) => receive(site, signedHeaders(Buffer.from(text)), Buffer.from(text));
    it('malformed JSON', () => assertRejected(send('{{'), 400, 'E_WEBHOOK_MALFORMED', /not valid JSON/));
    it('JSON that is not an object', () => assertRejected(send('true'), 400, 'E_WEBHOOK_MALFORMED', /but a boolean/));
    it('a push without push.changes', () => {
      assertRejected(deliver({ repository: {} }), 400, 'E_WEBHOOK_MALFORMED', /^field push is missing/);
      assertRejected(deliver({ push: { changes: 'main' } }), 400, 'E_WEBHOOK_MALFORMED', /^field push.changes is a string/);
    });
    it('a change without a name or a commit hash', () => {
      const noName = edited(PUSH, (copy) => delete (copy.push.changes[0]?.new as Partial<ReturnType<typeof branchState>>).name);
      assertRejected(deliver(noName), 400, 'E_WEBHOOK_MALFORMED', /^field push.changes\[0\].new.name is missing/);
      const noHash = edited(PUSH, (copy) => delete (copy.push.changes[0]?.new.target as Partial<ReturnType<typeof branchState>['target']>).hash);
      assertRejected(deliver(noHash), 400, 'E_WEBHOOK_MALFORMED', /^field push.changes\[0\].new.target.hash is missing/);
    });
    it('a change whose hash is not a commit id', () => {
      const bad = edited(PUSH, (copy) => ((copy.push.changes[0] as typeof CHANGE).new.target.hash = 'abc'));
      assertRejected(deliver(bad), 400, 'E_WEBHOOK_MALFORMED', /hash is a string of 3 characters; expected a commit SHA/);
    });
    it('a change with neither new nor old', () => {
      assertRejected(deliver({ push: { changes: [{ new: null, old: null }] } }), 400, 'E_WEBHOOK_MALFORMED', /neither new nor old/);
    });
  });

  it('refuse anything but JSON (415)', () => {
    assertRejected(deliver(PUSH, { 'content-type': 'text/json' }), 415, 'E_WEBHOOK_CONTENT_TYPE', /Content-Type text\/json/);
  });

  it('never put the secret into a message', () => {
    const carrying = edited(PUSH, (copy) => {
      (copy.push.changes[0] as typeof CHANGE).new.target.message = SECRET_TEXT;
      (copy.push.changes[0] as typeof CHANGE).new.target.hash = SECRET;
    });
    assertNoSecret(deliver(carrying));
    assertNoSecret(receive(site, signedHeaders(Buffer.from(SECRET), { 'x-hub-signature': SECRET }), Buffer.from(SECRET)));
  });
});
