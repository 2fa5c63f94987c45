import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { receive } from '../../src/webhooks/github.ts';
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
 * GitHub's payloads are not written here: they come from
 * @octokit/webhooks-examples, the examples GitHub's own documentation is
 * built from, for github.com and each GitHub Enterprise Server release.
 */

interface Definition {
  name: string;
  examples: unknown[];
}

function examplesOf(event: string): Array<Record<string, unknown>> {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@octokit/webhooks-examples/package.json'));
  const seen = new Set<string>();
  const examples: Array<Record<string, unknown>> = [];
  for (const entry of readdirSync(root).sort()) {
    const file = join(root, entry, 'index.json');
    if (!statSync(join(root, entry)).isDirectory()) continue;
    const definitions = JSON.parse(readFileSync(file, 'utf8')) as Definition[];
    for (const example of definitions.find((definition) => definition.name === event)?.examples ?? []) {
      const text = JSON.stringify(example);
      if (seen.has(text)) continue;
      seen.add(text);
      examples.push(example as Record<string, unknown>);
    }
  }
  assert.ok(examples.length > 0, `@octokit/webhooks-examples has ${event} examples`);
  return examples;
}

const PUSHES = examplesOf('push');
/** The github.com example of a push to a branch: Codertocat's first commit to master. */
const BRANCH_PUSH = PUSHES.find((example) => example.ref === 'refs/heads/master' && example.deleted === false) as Record<string, unknown>;
const PING = examplesOf('ping')[0] as Record<string, unknown>;
const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

const site = siteFixture('github', { branch: 'master' });

function signedHeaders(body: Buffer, event = 'push', extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': DELIVERY,
    'x-hub-signature-256': `sha256=${hmacHex(body)}`,
    ...extra,
  };
}

function deliver(payload: unknown, event = 'push', extra: IncomingHttpHeaders = {}) {
  const body = jsonBody(payload);
  return receive(site, signedHeaders(body, event, extra), body);
}

describe('GitHub webhooks', () => {
  it('turns a push to the site branch into a push event', () => {
    assert.ok(BRANCH_PUSH !== undefined);
    assertPush(deliver(BRANCH_PUSH), {
      site: 'blog',
      forge: 'github',
      delivery: DELIVERY,
      ref: 'refs/heads/master',
      sha: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
      author: 'Codertocat',
      message: 'Initial commit',
      repository: 'Codertocat/Hello-World',
    });
  });

  it('answers every push example of @octokit/webhooks-examples as GitHub means it', () => {
    assert.ok(PUSHES.length >= 3);
    for (const example of PUSHES) {
      const outcome = deliver(example);
      const ref = example.ref as string;
      const label = `${ref} after ${String(example.after)}`;
      if (ref.startsWith('refs/tags/')) {
        assertIgnored(outcome, /^push to tag .+; site blog deploys branch master, not tags$/, DELIVERY);
      } else if (example.deleted === true) {
        assertIgnored(outcome, /was deleted/, DELIVERY);
      } else {
        assert.equal(outcome.kind, 'push', label);
        assert.equal(outcome.kind === 'push' && outcome.event.sha, example.after, label);
        assert.equal(outcome.kind === 'push' && outcome.event.ref, ref, label);
      }
    }
  });

  it('accepts the form-encoded variant, signed over the form body', () => {
    const body = Buffer.from(new URLSearchParams({ payload: JSON.stringify(BRANCH_PUSH) }).toString());
    const headers = signedHeaders(body, 'push', { 'content-type': 'application/x-www-form-urlencoded' });
    const outcome = receive(site, headers, body);
    assert.equal(outcome.kind, 'push');
    assert.equal(outcome.kind === 'push' && outcome.event.sha, '6113728f27ae82c7b1a177c8d03f9e96e0adf246');

    // Signed over the JSON inside instead of the bytes sent: refused.
    const wrong = signedHeaders(body, 'push', {
      'content-type': 'application/x-www-form-urlencoded',
      'x-hub-signature-256': `sha256=${hmacHex(JSON.stringify(BRANCH_PUSH))}`,
    });
    assertRejected(receive(site, wrong, body), 401, 'E_WEBHOOK_SIGNATURE');
  });

  it('refuses a form body without exactly one payload field', () => {
    for (const form of ['other=1', `payload=${encodeURIComponent('{}')}&payload=${encodeURIComponent('{}')}`]) {
      const body = Buffer.from(form);
      const headers = signedHeaders(body, 'push', { 'content-type': 'application/x-www-form-urlencoded' });
      assertRejected(receive(site, headers, body), 400, 'E_WEBHOOK_MALFORMED', /payload field/);
    }
  });

  it('takes a charset parameter on the content type', () => {
    assert.equal(deliver(BRANCH_PUSH, 'push', { 'content-type': 'application/json; charset=utf-8' }).kind, 'push');
  });

  it('falls back to a hash of the body when there is no delivery id', () => {
    const body = jsonBody(BRANCH_PUSH);
    const headers = signedHeaders(body);
    delete headers['x-github-delivery'];
    const outcome = receive(site, headers, body);
    assert.equal(outcome.kind === 'push' && outcome.event.delivery, `sha256:${createHash('sha256').update(body).digest('hex')}`);
  });

  it('refuses a delivery id it could not store, naming the header', () => {
    assertRejected(deliver(BRANCH_PUSH, 'push', { 'x-github-delivery': 'two words' }), 400, 'E_WEBHOOK_MALFORMED', /^the X-GitHub-Delivery header is not a usable delivery id/);
  });

  describe('refuses a request that is not signed with the secret (401)', () => {
    const body = jsonBody(BRANCH_PUSH);
    const valid = `sha256=${hmacHex(body)}`;

    it('when the signature header is missing', () => {
      const headers = signedHeaders(body);
      delete headers['x-hub-signature-256'];
      assertRejected(receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /no X-Hub-Signature-256 header/);
    });

    it('when only the SHA-1 X-Hub-Signature is sent', () => {
      const headers = signedHeaders(body);
      delete headers['x-hub-signature-256'];
      headers['x-hub-signature'] = `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`;
      assertRejected(receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE');
    });

    it('when signed with another secret', () => {
      const headers = signedHeaders(body, 'push', { 'x-hub-signature-256': `sha256=${hmacHex(body, 'another-secret')}` });
      assertRejected(receive(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /does not match the body/);
    });

    it('when the signature is of a different body', () => {
      const other = jsonBody(edited(BRANCH_PUSH, (copy) => (copy.after = SHA)));
      assertRejected(receive(site, signedHeaders(other), body), 401, 'E_WEBHOOK_SIGNATURE');
    });

    for (const [name, value] of badHexSignatures(valid, 'sha256=')) {
      it(`when the header holds ${name}`, () => {
        assertRejected(receive(site, signedHeaders(body, 'push', { 'x-hub-signature-256': value }), body), 401, 'E_WEBHOOK_SIGNATURE');
      });
    }

    it('whatever the body is, before looking at it', () => {
      for (const bad of ['not json', '[]', '']) {
        const headers = signedHeaders(Buffer.from(bad), 'push', { 'content-type': 'text/plain', 'x-hub-signature-256': 'sha256=00' });
        assertRejected(receive(site, headers, Buffer.from(bad)), 401, 'E_WEBHOOK_SIGNATURE');
      }
    });

    it('when the site has no secret to check against', () => {
      const bare = { ...site, webhook: undefined };
      assertRejected(receive(bare, signedHeaders(body), body), 401, 'E_WEBHOOK_SIGNATURE', /^site has no webhook configured$/);
    });
  });

  describe('ignores what is not a push to the site branch (202)', () => {
    it('a ping, with the delivery id', () => {
      assertIgnored(deliver(PING, 'ping'), 'ping', DELIVERY);
    });

    it('other events, naming them', () => {
      assertIgnored(deliver({ action: 'opened' }, 'issues'), 'event issues is not a push; nothing to deploy');
    });

    it('a push to another branch, naming both branches', () => {
      const payload = edited(BRANCH_PUSH, (copy) => (copy.ref = 'refs/heads/feature/login'));
      assertIgnored(deliver(payload), 'push to branch feature/login; site blog deploys branch master');
    });

    it('a tag push', () => {
      const payload = edited(BRANCH_PUSH, (copy) => (copy.ref = 'refs/tags/v1.0.0'));
      assertIgnored(deliver(payload), 'push to tag v1.0.0; site blog deploys branch master, not tags');
    });

    it('a ref that is neither branch nor tag', () => {
      const payload = edited(BRANCH_PUSH, (copy) => (copy.ref = 'refs/notes/commits'));
      assertIgnored(deliver(payload), /refs\/notes\/commits, which is not a branch/);
    });

    it('the deletion of the site branch, by deleted: true or an all-zero after', () => {
      const deleted = edited(BRANCH_PUSH, (copy) => {
        copy.deleted = true;
        copy.after = ZEROS;
        copy.head_commit = null;
      });
      assertIgnored(deliver(deleted), 'branch master was deleted; nothing to deploy');
      const zeros = edited(BRANCH_PUSH, (copy) => {
        delete copy.deleted;
        copy.after = ZEROS;
      });
      assertIgnored(deliver(zeros), 'branch master was deleted; nothing to deploy');
    });
  });

  describe('refuses a signed body it cannot read (400)', () => {
    const send = (text: string, event = 'push') => {
      const body = Buffer.from(text);
      return receive(site, signedHeaders(body, event), body);
    };

    it('malformed JSON, without repeating it', () => {
      const outcome = send(`{"ref": "refs/heads/master", "after": ${SECRET}`);
      assertRejected(outcome, 400, 'E_WEBHOOK_MALFORMED', /^the body is not valid JSON/);
    });

    it('JSON that is not an object', () => {
      assertRejected(send('[1, 2]'), 400, 'E_WEBHOOK_MALFORMED', /is JSON but an array; expected a JSON object/);
      assertRejected(send('"push"'), 400, 'E_WEBHOOK_MALFORMED', /but a string/);
      assertRejected(send('null'), 400, 'E_WEBHOOK_MALFORMED', /but null/);
      assertRejected(send(''), 400, 'E_WEBHOOK_MALFORMED', /is empty/);
    });

    it('a body that is not UTF-8', () => {
      const body = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
      assertRejected(receive(site, signedHeaders(body), body), 400, 'E_WEBHOOK_MALFORMED', /not valid UTF-8/);
    });

    it('a push without ref or after', () => {
      assertRejected(deliver(edited(BRANCH_PUSH, (copy) => delete copy.ref)), 400, 'E_WEBHOOK_MALFORMED', /^field ref is missing/);
      assertRejected(deliver(edited(BRANCH_PUSH, (copy) => delete copy.after)), 400, 'E_WEBHOOK_MALFORMED', /^field after is missing/);
    });

    it('a push whose after is not a commit id, without repeating it', () => {
      for (const after of ['6113728', `${'g'.repeat(40)}`, 42, null, SECRET]) {
        const outcome = deliver(edited(BRANCH_PUSH, (copy) => (copy.after = after)));
        assertRejected(outcome, 400, 'E_WEBHOOK_MALFORMED', /^field after is .*; expected a commit SHA of 40 or 64 hex digits$/);
      }
    });

    it('a push whose ref is not a sane ref', () => {
      for (const ref of ['refs/heads/a\u0000b', 'refs/heads/a\nb', `refs/heads/${'x'.repeat(250)}`, 'refs/heads/a..b', 'refs/heads/a b', '', 7]) {
        assertRejected(deliver(edited(BRANCH_PUSH, (copy) => (copy.ref = ref))), 400, 'E_WEBHOOK_MALFORMED', /^field ref /);
      }
    });

    it('a push whose deleted is not a boolean', () => {
      assertRejected(deliver(edited(BRANCH_PUSH, (copy) => (copy.deleted = 'no'))), 400, 'E_WEBHOOK_MALFORMED', /^field deleted/);
    });

    it('a request without X-GitHub-Event', () => {
      const body = jsonBody(BRANCH_PUSH);
      const headers = signedHeaders(body);
      delete headers['x-github-event'];
      assertRejected(receive(site, headers, body), 400, 'E_WEBHOOK_MALFORMED', /X-GitHub-Event/);
    });
  });

  it('refuses a body that is neither JSON nor form-encoded (415)', () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', undefined]) {
      const body = jsonBody(BRANCH_PUSH);
      const headers = signedHeaders(body, 'push', { 'content-type': type });
      assertRejected(receive(site, headers, body), 415, 'E_WEBHOOK_CONTENT_TYPE', /expected application\/json or application\/x-www-form-urlencoded/);
    }
  });

  it('never puts the secret into a message, even when the body carries it', () => {
    const carrying = edited(BRANCH_PUSH, (copy) => {
      (copy.head_commit as { message: string }).message = SECRET_TEXT;
      copy.note = SECRET;
    });
    assertNoSecret(deliver(carrying, 'issues'));
    assertNoSecret(deliver(edited(carrying, (copy) => (copy.ref = 'refs/heads/other'))));
    assertNoSecret(deliver(edited(carrying, (copy) => (copy.after = SECRET))));
    assertNoSecret(deliver(edited(carrying, (copy) => (copy.ref = `refs/heads/${SECRET}\u0000`))));
    assertNoSecret(deliver(edited(carrying, (copy) => (copy.deleted = SECRET))));
  });
});
