import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { receive } from '../../src/webhooks/generic.ts';
import {
  assertIgnored,
  assertNoSecret,
  assertPush,
  assertRejected,
  badHexSignatures,
  hmacHex,
  jsonBody,
  SECRET,
  SECRET_TEXT,
  SHA,
  siteFixture,
  ZEROS,
} from './helpers.ts';

/** Berth's own format, as docs/webhooks.md describes it. */
const site = siteFixture('generic');
const PUSH = { ref: 'refs/heads/main', sha: SHA, delivery: 'ci-run-4411', author: 'CI', message: 'Deploy from the pipeline', repository: 'jo/blog' };

function signedHeaders(body: Buffer, extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return { 'content-type': 'application/json', 'x-berth-signature': `sha256=${hmacHex(body)}`, ...extra };
}

function deliver(payload: unknown, extra: IncomingHttpHeaders = {}) {
  const body = jsonBody(payload);
  return receive(site, signedHeaders(body, extra), body);
}

describe('generic webhooks', () => {
  it('turn a signed push into a push event', () => {
    assertPush(deliver(PUSH), {
      site: 'blog',
      forge: 'generic',
      delivery: 'ci-run-4411',
      ref: 'refs/heads/main',
      sha: SHA,
      author: 'CI',
      message: 'Deploy from the pipeline',
      repository: 'jo/blog',
    });
  });

  it('accept a bare hex signature, a short branch name and a SHA-256 commit id', () => {
    const sha256 = 'a'.repeat(64);
    const body = jsonBody({ ref: 'main', sha: sha256 });
    const outcome = receive(site, signedHeaders(body, { 'x-berth-signature': hmacHex(body) }), body);
    assert.equal(outcome.kind, 'push');
    assert.equal(outcome.kind === 'push' && outcome.event.ref, 'refs/heads/main');
    assert.equal(outcome.kind === 'push' && outcome.event.sha, sha256);
    assert.equal(outcome.kind === 'push' && outcome.event.author, undefined);
  });

  it('read the signature from the configured header', () => {
    const custom = siteFixture('generic', { signatureHeader: 'X-Deploy-Signature' });
    const body = jsonBody(PUSH);
    assert.equal(receive(custom, { 'content-type': 'application/json', 'x-deploy-signature': hmacHex(body) }, body).kind, 'push');
    assertRejected(receive(custom, signedHeaders(body), body), 401, 'E_WEBHOOK_SIGNATURE', /no X-Deploy-Signature header/);
  });

  it('take the delivery id from the body, else X-Request-Id, else the hash of the body', () => {
    const withoutDelivery: Partial<typeof PUSH> = { ...PUSH };
    delete withoutDelivery.delivery;
    const fromHeader = deliver(withoutDelivery, { 'x-request-id': 'req-77' });
    assert.equal(fromHeader.kind === 'push' && fromHeader.event.delivery, 'req-77');
    const body = jsonBody(withoutDelivery);
    const fromBody = receive(site, signedHeaders(body), body);
    assert.equal(fromBody.kind === 'push' && fromBody.event.delivery, `sha256:${createHash('sha256').update(body).digest('hex')}`);
  });

  describe('refuse a request not signed with the secret (401)', () => {
    const body = jsonBody(PUSH);
    const valid = hmacHex(body);
    it('when the header is missing', () => {
      assertRejected(receive(site, { 'content-type': 'application/json' }, body), 401, 'E_WEBHOOK_SIGNATURE', /no X-Berth-Signature header/);
    });
    it('when signed with another secret or over another body', () => {
      assertRejected(receive(site, signedHeaders(body, { 'x-berth-signature': hmacHex(body, 'nope') }), body), 401, 'E_WEBHOOK_SIGNATURE', /does not match/);
      assertRejected(receive(site, signedHeaders(jsonBody({ ...PUSH, sha: ZEROS })), body), 401, 'E_WEBHOOK_SIGNATURE');
    });
    // Both forms are valid here, so the "with a sha256= prefix" case of the list is not a failure.
    for (const [name, value] of badHexSignatures(valid, '').filter(([name]) => !name.includes('sha256= prefix'))) {
      it(`when the header holds ${name}`, () => {
        assertRejected(receive(site, signedHeaders(body, { 'x-berth-signature': value }), body), 401, 'E_WEBHOOK_SIGNATURE');
      });
    }
    it('when the prefix is in upper case', () => {
      assertRejected(receive(site, signedHeaders(body, { 'x-berth-signature': `SHA256=${valid}` }), body), 401, 'E_WEBHOOK_SIGNATURE');
    });
  });

  describe('ignore what is not a push to the site branch (202)', () => {
    it('another branch, naming both', () => {
      assertIgnored(deliver({ ...PUSH, ref: 'staging' }), 'push to branch staging; site blog deploys branch main', 'ci-run-4411');
    });
    it('a tag', () => {
      assertIgnored(deliver({ ...PUSH, ref: 'refs/tags/v9' }), 'push to tag v9; site blog deploys branch main, not tags');
    });
    it('an all-zero commit id, which is a deletion', () => {
      assertIgnored(deliver({ ...PUSH, sha: ZEROS }), 'branch main was deleted; nothing to deploy');
    });
  });

  describe('refuse a body they cannot read (400)', () => {
    const send = (text: string) => receive(site, signedHeaders(Buffer.from(text)), Buffer.from(text));
    it('malformed JSON', () => assertRejected(send('ref=main'), 400, 'E_WEBHOOK_MALFORMED', /^the body is not valid JSON/));
    it('JSON that is not an object', () => assertRejected(send('["main"]'), 400, 'E_WEBHOOK_MALFORMED', /but an array/));
    it('no ref or sha', () => {
      assertRejected(deliver({ sha: SHA }), 400, 'E_WEBHOOK_MALFORMED', /^field ref is missing/);
      assertRejected(deliver({ ref: 'main' }), 400, 'E_WEBHOOK_MALFORMED', /^field sha is missing/);
    });
    it('a sha that is not 40 or 64 hex digits', () => {
      for (const sha of [SHA.slice(0, 12), `${SHA}00`, 'z'.repeat(40), 12]) {
        assertRejected(deliver({ ...PUSH, sha }), 400, 'E_WEBHOOK_MALFORMED', /^field sha /);
      }
    });
    it('a ref that is not sane', () => {
      for (const ref of ['main\u0007', 'a..b', `${'x'.repeat(256)}`, '', ['main']]) {
        assertRejected(deliver({ ...PUSH, ref }), 400, 'E_WEBHOOK_MALFORMED', /^field ref /);
      }
    });
    it('a delivery, author or message that is not a string', () => {
      assertRejected(deliver({ ...PUSH, delivery: 5 }), 400, 'E_WEBHOOK_MALFORMED', /^field delivery is a number/);
      assertRejected(deliver({ ...PUSH, delivery: 'has spaces in it' }), 400, 'E_WEBHOOK_MALFORMED', /^field delivery/);
      assertRejected(deliver({ ...PUSH, author: { name: 'x' } }), 400, 'E_WEBHOOK_MALFORMED', /^field author is an object; expected a string/);
    });
  });

  it('refuse anything but JSON (415), curl\'s default form encoding included', () => {
    assertRejected(deliver(PUSH, { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'E_WEBHOOK_CONTENT_TYPE', /Content-Type: application\/json/);
  });

  it('never put the secret into a message', () => {
    assertNoSecret(deliver({ ...PUSH, sha: SECRET, message: SECRET_TEXT }));
    assertNoSecret(deliver({ ...PUSH, delivery: `${SECRET} x` }));
    assertNoSecret(deliver({ ...PUSH, author: [SECRET] }));
    assertNoSecret(receive(site, signedHeaders(Buffer.from(SECRET)), Buffer.from(SECRET)));
  });
});
