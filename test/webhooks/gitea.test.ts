import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import type { ResolvedSite } from '../../src/config/resolved-config.ts';
import * as forgejo from '../../src/webhooks/forgejo.ts';
import * as gitea from '../../src/webhooks/gitea.ts';
import type { WebhookOutcome } from '../../src/webhooks/push-event.ts';
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
  ZEROS,
} from './helpers.ts';

/**
 * A push as Gitea and Forgejo document it (their webhook pages, and the
 * `PushPayload` type they share): `ref`, `before`, `after`, `compare_url`,
 * `commits[]` and `head_commit` with `id`, `message`, `url`, `author` and
 * `committer` `{name, email, username}`, `timestamp`, `total_commits`,
 * `repository` with `full_name`, `pusher`, `sender`. The values are made up.
 */
const PUSH = {
  ref: 'refs/heads/main',
  before: '2d5c1f7e9a3b4c6d8e0f1a2b3c4d5e6f7a8b9c0d',
  after: SHA,
  compare_url: 'https://code.example.org/jo/blog/compare/2d5c1f7e9a3b...9fceb02d0ae5',
  commits: [
    {
      id: SHA,
      message: 'Fix the RSS feed date format\n',
      url: `https://code.example.org/jo/blog/commit/${SHA}`,
      author: { name: 'Ana Lima', email: 'ana@example.org', username: 'ana' },
      committer: { name: 'Ana Lima', email: 'ana@example.org', username: 'ana' },
      timestamp: '2026-04-11T17:03:12Z',
    },
  ],
  total_commits: 1,
  head_commit: {
    id: SHA,
    message: 'Fix the RSS feed date format\n',
    url: `https://code.example.org/jo/blog/commit/${SHA}`,
    author: { name: 'Ana Lima', email: 'ana@example.org', username: 'ana' },
    committer: { name: 'Ana Lima', email: 'ana@example.org', username: 'ana' },
    timestamp: '2026-04-11T17:03:12Z',
  },
  repository: { id: 88, name: 'blog', full_name: 'jo/blog', default_branch: 'main', private: false },
  pusher: { id: 4, login: 'ana', full_name: 'Ana Lima' },
  sender: { id: 4, login: 'ana', full_name: 'Ana Lima' },
};

const DELIVERY = '5e9c1d2a-8b7f-4e3c-a1d0-6f2b9c8e7a45';

interface Flavour {
  name: string;
  forge: 'gitea' | 'forgejo';
  receive: (site: ResolvedSite, headers: IncomingHttpHeaders, body: Buffer) => WebhookOutcome;
  /** Headers for a signed delivery. */
  headers: (body: Buffer) => IncomingHttpHeaders;
  signatureHeader: string;
}

const FLAVOURS: Flavour[] = [
  {
    name: 'Gitea',
    forge: 'gitea',
    receive: gitea.receive,
    signatureHeader: 'x-gitea-signature',
    headers: (body) => ({
      'content-type': 'application/json',
      'x-gitea-event': 'push',
      'x-gitea-delivery': DELIVERY,
      'x-gitea-signature': hmacHex(body),
    }),
  },
  {
    name: 'Forgejo',
    forge: 'forgejo',
    receive: forgejo.receive,
    signatureHeader: 'x-forgejo-signature',
    // Forgejo sends its own headers and the Gitea ones, with the same values.
    headers: (body) => ({
      'content-type': 'application/json',
      'x-forgejo-event': 'push',
      'x-forgejo-delivery': DELIVERY,
      'x-forgejo-signature': hmacHex(body),
      'x-gitea-event': 'push',
      'x-gitea-delivery': DELIVERY,
      'x-gitea-signature': hmacHex(body),
    }),
  },
];

for (const flavour of FLAVOURS) {
  const site = siteFixture(flavour.forge);
  const deliver = (payload: unknown, extra: IncomingHttpHeaders = {}) => {
    const body = jsonBody(payload);
    return flavour.receive(site, { ...flavour.headers(body), ...extra }, body);
  };

  describe(`${flavour.name} webhooks`, () => {
    it('turn a push to the site branch into a push event', () => {
      assertPush(deliver(PUSH), {
        site: 'blog',
        forge: flavour.forge,
        delivery: DELIVERY,
        ref: 'refs/heads/main',
        sha: SHA,
        author: 'Ana Lima',
        message: 'Fix the RSS feed date format\n',
        repository: 'jo/blog',
      });
    });

    it('find author and message in commits when head_commit is absent', () => {
      const outcome = deliver(edited(PUSH, (copy) => delete (copy as Partial<typeof PUSH>).head_commit));
      assert.equal(outcome.kind === 'push' && outcome.event.author, 'Ana Lima');
    });

    describe('refuse a request not signed with the secret (401)', () => {
      const body = jsonBody(PUSH);
      const valid = hmacHex(body);
      it('when no signature header is sent', () => {
        const headers = flavour.headers(body);
        delete headers['x-gitea-signature'];
        delete headers['x-forgejo-signature'];
        assertRejected(flavour.receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /sent no X-/);
      });
      it('when signed with another secret', () => {
        const headers = { ...flavour.headers(body), [flavour.signatureHeader]: hmacHex(body, 'other') };
        assertRejected(flavour.receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /does not match the body/);
      });
      it('when the signature is of a different body', () => {
        const headers = flavour.headers(jsonBody(edited(PUSH, (copy) => (copy.ref = 'refs/heads/x'))));
        assertRejected(flavour.receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE');
      });
      for (const [name, value] of badHexSignatures(valid, '')) {
        it(`when the header holds ${name}`, () => {
          const headers = { ...flavour.headers(body), [flavour.signatureHeader]: value };
          assertRejected(flavour.receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE');
        });
      }
    });

    describe('ignore what is not a push to the site branch (202)', () => {
      it('other events', () => {
        const extra = flavour.forge === 'gitea' ? { 'x-gitea-event': 'create' } : { 'x-forgejo-event': 'create' };
        assertIgnored(deliver(PUSH, extra), 'event create is not a push; nothing to deploy', DELIVERY);
      });
      it('a push to another branch, naming both', () => {
        assertIgnored(deliver(edited(PUSH, (copy) => (copy.ref = 'refs/heads/next'))), 'push to branch next; site blog deploys branch main');
      });
      it('a tag push', () => {
        assertIgnored(deliver(edited(PUSH, (copy) => (copy.ref = 'refs/tags/2026.04'))), 'push to tag 2026.04; site blog deploys branch main, not tags');
      });
      it('the deletion of the site branch', () => {
        const deletion = edited(PUSH, (copy) => {
          copy.after = ZEROS;
          copy.commits = [];
          (copy as { head_commit: unknown }).head_commit = null;
        });
        assertIgnored(deliver(deletion), 'branch main was deleted; nothing to deploy');
      });
    });

    describe('refuse a body they cannot read (400)', () => {
      const send = (text: string) => flavour.receive(site, flavour.headers(Buffer.from(text)), Buffer.from(text));
      it('malformed JSON', () => assertRejected(send('{"ref":'), 400, 'E_WEBHOOK_MALFORMED', /not valid JSON/));
      it('JSON that is not an object', () => assertRejected(send('42'), 400, 'E_WEBHOOK_MALFORMED', /but a number/));
      it('a push without ref or after', () => {
        assertRejected(deliver(edited(PUSH, (copy) => delete (copy as Partial<typeof PUSH>).ref)), 400, 'E_WEBHOOK_MALFORMED', /^field ref is missing/);
        assertRejected(deliver(edited(PUSH, (copy) => delete (copy as Partial<typeof PUSH>).after)), 400, 'E_WEBHOOK_MALFORMED', /^field after is missing/);
      });
      it('a push whose after is not a commit id', () => {
        assertRejected(deliver(edited(PUSH, (copy) => (copy.after = SHA.slice(0, 39)))), 400, 'E_WEBHOOK_MALFORMED', /^field after is a string of 39 characters/);
      });
    });

    it('refuse anything but JSON (415), even the form encoding they can be set to', () => {
      assertRejected(deliver(PUSH, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'E_WEBHOOK_CONTENT_TYPE', /application\/json/);
    });

    it('never put the secret into a message', () => {
      const carrying = edited(PUSH, (copy) => {
        copy.head_commit.message = SECRET_TEXT;
        copy.after = SECRET;
      });
      assertNoSecret(deliver(carrying));
    });
  });
}

describe('Forgejo webhooks, signature headers', () => {
  const site = siteFixture('forgejo');
  const body = jsonBody(PUSH);

  it('accept the X-Gitea-* headers alone', () => {
    const headers = { 'content-type': 'application/json', 'x-gitea-event': 'push', 'x-gitea-delivery': DELIVERY, 'x-gitea-signature': hmacHex(body) };
    assert.equal(forgejo.receive(site, headers, body).kind, 'push');
  });

  it('check X-Forgejo-Signature when present, not rescued by a good X-Gitea-Signature', () => {
    const headers = { 'content-type': 'application/json', 'x-forgejo-event': 'push', 'x-forgejo-signature': hmacHex(body, 'wrong'), 'x-gitea-signature': hmacHex(body) };
    assertRejected(forgejo.receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /X-Forgejo-Signature/);
  });

  it('are not accepted by the Gitea adapter', () => {
    const headers = { 'content-type': 'application/json', 'x-forgejo-event': 'push', 'x-forgejo-signature': hmacHex(body) };
    assertRejected(gitea.receive(siteFixture('gitea'), headers, body), 401, 'E_WEBHOOK_SIGNATURE', /no X-Gitea-Signature/);
  });

  it('never echo the secret when it is sent as the signature', () => {
    const headers = { 'content-type': 'application/json', 'x-forgejo-signature': SECRET };
    assertNoSecret(forgejo.receive(site, headers, body));
  });
});
