import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { GITLAB_TIMESTAMP_TOLERANCE_SECONDS, receive } from '../../src/webhooks/gitlab.ts';
import {
  assertIgnored,
  assertNoSecret,
  assertPush,
  assertRejected,
  edited,
  jsonBody,
  SECRET,
  SECRET_TEXT,
  SHA,
  siteFixture,
  ZEROS,
} from './helpers.ts';

/**
 * A push as GitLab documents it ("Push events" under Webhook events):
 * `object_kind`/`event_name` "push", `before`, `after`, `ref`,
 * `checkout_sha`, the pusher (`user_*`), `project` with
 * `path_with_namespace`, `commits[]` with `id`, `message`, `timestamp` and
 * `author {name, email}`, and `total_commits_count`. The values are made up.
 */
const PUSH = {
  object_kind: 'push',
  event_name: 'push',
  before: '1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c',
  after: SHA,
  ref: 'refs/heads/main',
  ref_protected: true,
  checkout_sha: SHA,
  user_id: 31,
  user_name: 'Jo Rivera',
  user_username: 'jo',
  project_id: 1207,
  project: {
    id: 1207,
    name: 'blog',
    web_url: 'https://gitlab.example.com/jo/blog',
    git_http_url: 'https://gitlab.example.com/jo/blog.git',
    path_with_namespace: 'jo/blog',
    default_branch: 'main',
  },
  commits: [
    {
      id: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
      message: 'Draft the about page\n',
      timestamp: '2026-03-02T09:14:00+01:00',
      author: { name: 'Sam Okafor', email: 'sam@example.com' },
    },
    {
      id: SHA,
      message: 'Publish the spring post\n',
      timestamp: '2026-03-02T09:20:00+01:00',
      author: { name: 'Jo Rivera', email: 'jo@example.com' },
    },
  ],
  total_commits_count: 2,
};

const EVENT_UUID = '3c7e2b1a-6f0d-4e8b-9a51-0d2c4f6e8a13';
const site = siteFixture('gitlab');

function tokenHeaders(extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return {
    'content-type': 'application/json',
    'x-gitlab-event': 'Push Hook',
    'x-gitlab-event-uuid': EVENT_UUID,
    'x-gitlab-token': SECRET,
    ...extra,
  };
}

function deliver(payload: unknown, extra: IncomingHttpHeaders = {}) {
  return receive(site, tokenHeaders(extra), jsonBody(payload));
}

const EXPECTED = {
  site: 'blog',
  forge: 'gitlab' as const,
  delivery: EVENT_UUID,
  ref: 'refs/heads/main',
  sha: SHA,
  author: 'Jo Rivera',
  message: 'Publish the spring post\n',
  repository: 'jo/blog',
};

describe('GitLab webhooks with a secret token', () => {
  it('turns a push to the site branch into a push event, author and message from the head commit', () => {
    assertPush(deliver(PUSH), EXPECTED);
  });

  it('reads checkout_sha when after is absent', () => {
    assertPush(deliver(edited(PUSH, (copy) => delete (copy as Partial<typeof PUSH>).after)), EXPECTED);
  });

  it('finds the delivery id in Idempotency-Key, then X-Gitlab-Webhook-UUID, then the body hash', () => {
    const noUuid = { 'x-gitlab-event-uuid': undefined };
    const idem = deliver(PUSH, { ...noUuid, 'idempotency-key': 'idem-1', 'x-gitlab-webhook-uuid': 'hook-1' });
    assert.equal(idem.kind === 'push' && idem.event.delivery, 'idem-1');
    const hook = deliver(PUSH, { ...noUuid, 'x-gitlab-webhook-uuid': 'hook-1' });
    assert.equal(hook.kind === 'push' && hook.event.delivery, 'hook-1');
    const none = deliver(PUSH, noUuid);
    assert.match(none.kind === 'push' ? none.event.delivery : '', /^sha256:[0-9a-f]{64}$/);
  });

  describe('refuses a request without the right token (401)', () => {
    const cases: Array<[string, string | undefined]> = [
      ['no X-Gitlab-Token header', undefined],
      ['an empty token', ''],
      ['another token', 'not-the-secret'],
      ['a truncated token', SECRET.slice(0, -1)],
      ['the token with a character more', `${SECRET}x`],
      ['the token in upper case', SECRET.toUpperCase()],
      ['the token with spaces around it', ` ${SECRET} `],
      ['the HMAC of the body instead of the token', createHmac('sha256', SECRET).update(jsonBody(PUSH)).digest('hex')],
    ];
    for (const [name, token] of cases) {
      it(`given ${name}`, () => {
        assertRejected(deliver(PUSH, { 'x-gitlab-token': token }), 401, 'E_WEBHOOK_SIGNATURE', /X-Gitlab-Token/);
      });
    }

    it('whatever the body and content type', () => {
      const outcome = receive(site, tokenHeaders({ 'x-gitlab-token': 'nope', 'content-type': 'text/plain' }), Buffer.from('garbage'));
      assertRejected(outcome, 401, 'E_WEBHOOK_SIGNATURE');
    });
  });

  describe('ignores what is not a push to the site branch (202)', () => {
    it('a tag push event', () => {
      const tag = edited(PUSH, (copy) => {
        copy.object_kind = 'tag_push';
        copy.ref = 'refs/tags/v2.0.0';
      });
      assertIgnored(deliver(tag, { 'x-gitlab-event': 'Tag Push Hook' }), 'tag push; site blog deploys branch main, not tags', EVENT_UUID);
    });

    it('other events, naming them', () => {
      assertIgnored(deliver({ object_kind: 'note' }, { 'x-gitlab-event': 'Note Hook' }), 'event Note Hook is not a push; nothing to deploy');
    });

    it('a push to another branch, naming both', () => {
      assertIgnored(deliver(edited(PUSH, (copy) => (copy.ref = 'refs/heads/drafts'))), 'push to branch drafts; site blog deploys branch main');
    });

    it('the deletion of the site branch', () => {
      const deletion = edited(PUSH, (copy) => {
        copy.after = ZEROS;
        (copy as { checkout_sha: string | null }).checkout_sha = null;
        copy.commits = [];
        copy.total_commits_count = 0;
      });
      assertIgnored(deliver(deletion), 'branch main was deleted; nothing to deploy');
    });
  });

  describe('refuses a body it cannot read (400)', () => {
    it('malformed JSON and JSON that is not an object', () => {
      const send = (text: string) => receive(site, tokenHeaders(), Buffer.from(text));
      assertRejected(send('{"ref": '), 400, 'E_WEBHOOK_MALFORMED', /^the body is not valid JSON/);
      assertRejected(send('[]'), 400, 'E_WEBHOOK_MALFORMED', /not.*an array|but an array/);
    });

    it('a push without ref, or without after and checkout_sha', () => {
      assertRejected(deliver(edited(PUSH, (copy) => delete (copy as Partial<typeof PUSH>).ref)), 400, 'E_WEBHOOK_MALFORMED', /^field ref is missing/);
      const noSha = edited(PUSH, (copy) => {
        delete (copy as Partial<typeof PUSH>).after;
        delete (copy as Partial<typeof PUSH>).checkout_sha;
      });
      assertRejected(deliver(noSha), 400, 'E_WEBHOOK_MALFORMED', /^field after \(or checkout_sha\) is missing/);
    });

    it('a push whose after is not a commit id', () => {
      assertRejected(deliver(edited(PUSH, (copy) => (copy.after = 'main'))), 400, 'E_WEBHOOK_MALFORMED', /^field after is a string of 4 characters/);
    });

    it('a request without X-Gitlab-Event', () => {
      assertRejected(deliver(PUSH, { 'x-gitlab-event': undefined }), 400, 'E_WEBHOOK_MALFORMED', /X-Gitlab-Event/);
    });
  });

  it('refuses anything but JSON (415)', () => {
    assertRejected(deliver(PUSH, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'E_WEBHOOK_CONTENT_TYPE', /expected application\/json/);
  });

  it('never puts the secret into a message', () => {
    const carrying = edited(PUSH, (copy) => {
      copy.after = SECRET;
      copy.project.name = SECRET_TEXT;
    });
    assertNoSecret(deliver(carrying));
    assertNoSecret(deliver(carrying, { 'x-gitlab-event': 'Issue Hook' }));
    assertNoSecret(receive(site, tokenHeaders(), Buffer.from(`{"token": "${SECRET}"`)));
  });
});

describe('GitLab webhooks with a signing token', () => {
  const token = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;
  const signingSite = siteFixture('gitlab', { secret: token });
  const NOW = Date.UTC(2026, 2, 2, 8, 20, 5);
  const timestamp = String(Math.floor(NOW / 1000));
  const id = 'c0a3e8d4-51b9-4f6e-8d2a-7b4f1e9c3a60';

  function sign(body: Buffer, key = Buffer.from(token.slice('whsec_'.length), 'base64'), signedId = id, signedAt = timestamp): string {
    const mac = createHmac('sha256', key).update(`${signedId}.${signedAt}.`).update(body).digest('base64');
    return `v1,${mac}`;
  }

  function signedHeaders(body: Buffer, extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
    return {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': EVENT_UUID,
      'idempotency-key': id,
      'webhook-id': id,
      'webhook-timestamp': timestamp,
      'webhook-signature': sign(body),
      ...extra,
    };
  }

  const body = jsonBody(PUSH);

  it('accepts a delivery signed with the token, without X-Gitlab-Token', () => {
    assertPush(receive(signingSite, signedHeaders(body), body, NOW), EXPECTED);
  });

  it('accepts any of several signatures (during a token rotation)', () => {
    const other = `v1,${createHmac('sha256', 'old key').update('x').digest('base64')}`;
    assert.equal(receive(signingSite, signedHeaders(body, { 'webhook-signature': `${other} ${sign(body)}` }), body, NOW).kind, 'push');
  });

  it('accepts a timestamp within the tolerance either way', () => {
    const edge = GITLAB_TIMESTAMP_TOLERANCE_SECONDS * 1000;
    assert.equal(receive(signingSite, signedHeaders(body), body, NOW + edge).kind, 'push');
    assert.equal(receive(signingSite, signedHeaders(body), body, NOW - edge).kind, 'push');
  });

  describe('refuses (401)', () => {
    const key = Buffer.from(token.slice('whsec_'.length), 'base64');
    const valid = sign(body);
    const cases: Array<[string, IncomingHttpHeaders, RegExp]> = [
      ['a request without webhook-signature', { 'webhook-signature': undefined }, /no webhook-signature header/],
      ['a request without webhook-timestamp', { 'webhook-timestamp': undefined }, /no webhook-timestamp header/],
      ['a request without webhook-id', { 'webhook-id': undefined }, /no webhook-id header/],
      ['only the secret token, however right', { 'webhook-signature': undefined, 'x-gitlab-token': token }, /signing token/],
      ['an empty signature', { 'webhook-signature': '' }, /does not match/],
      ['a signature with another key', { 'webhook-signature': sign(body, Buffer.alloc(32, 1)) }, /does not match/],
      ['the signature of another body', { 'webhook-signature': sign(Buffer.from('{}')) }, /does not match/],
      ['the signature of another webhook-id', { 'webhook-signature': sign(body, key, 'other-id') }, /does not match/],
      ['the signature of another timestamp', { 'webhook-signature': sign(body, key, id, String(Number(timestamp) - 1)) }, /does not match/],
      ['a truncated signature', { 'webhook-signature': valid.slice(0, -4) }, /does not match/],
      ['a signature under another version', { 'webhook-signature': valid.replace('v1,', 'v2,') }, /does not match/],
      ['a signature without its version', { 'webhook-signature': valid.slice(3) }, /does not match/],
      ['a signature in upper case', { 'webhook-signature': valid.toUpperCase() }, /does not match/],
      ['a timestamp that is not a number', { 'webhook-timestamp': '2026-03-02T08:20:05Z' }, /not a Unix time/],
    ];
    for (const [name, extra, message] of cases) {
      it(name, () => {
        assertRejected(receive(signingSite, signedHeaders(body, extra), body, NOW), 401, 'E_WEBHOOK_SIGNATURE', message);
      });
    }

    it('a delivery replayed after the tolerance', () => {
      const later = NOW + (GITLAB_TIMESTAMP_TOLERANCE_SECONDS + 1) * 1000;
      assertRejected(receive(signingSite, signedHeaders(body), body, later), 401, 'E_WEBHOOK_SIGNATURE', /301 seconds away/);
    });

    it('everything when the configured token is not base64', () => {
      const broken = siteFixture('gitlab', { secret: 'whsec_not*base64' });
      assertRejected(receive(broken, signedHeaders(body), body, NOW), 401, 'E_WEBHOOK_SIGNATURE', /whsec_ but the rest is not base64/);
    });
  });

  it('checks the signature before the content type and the body', () => {
    const junk = Buffer.from('not json');
    assertRejected(receive(signingSite, signedHeaders(junk, { 'content-type': 'text/plain', 'webhook-signature': 'v1,AAAA' }), junk, NOW), 401, 'E_WEBHOOK_SIGNATURE');
    assertRejected(receive(signingSite, signedHeaders(junk, { 'content-type': 'text/plain' }), junk, NOW), 415, 'E_WEBHOOK_CONTENT_TYPE');
    assertRejected(receive(signingSite, signedHeaders(junk), junk, NOW), 400, 'E_WEBHOOK_MALFORMED');
  });

  it('never puts the token into a message', () => {
    for (const outcome of [
      receive(signingSite, signedHeaders(body, { 'webhook-signature': token }), body, NOW),
      receive(siteFixture('gitlab', { secret: 'whsec_!!' }), signedHeaders(body), body, NOW),
    ]) {
      assertNoSecret(outcome, token);
      assertNoSecret(outcome, 'whsec_!!');
    }
  });
});
