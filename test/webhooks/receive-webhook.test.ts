import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Forge } from '../../src/config/resolved-config.ts';
import { receiveWebhook } from '../../src/webhooks/receive-webhook.ts';
import { assertRejected, hmacHex, jsonBody, SECRET, SHA, siteFixture } from './helpers.ts';

/** A minimal signed push for each forge, to check the dispatch. */
function request(forge: Forge): { headers: Record<string, string>; body: Buffer } {
  const json = { 'content-type': 'application/json' };
  switch (forge) {
    case 'github': {
      const body = jsonBody({ ref: 'refs/heads/main', after: SHA });
      return { body, headers: { ...json, 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmacHex(body)}` } };
    }
    case 'gitlab': {
      const body = jsonBody({ ref: 'refs/heads/main', after: SHA });
      return { body, headers: { ...json, 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET } };
    }
    case 'gitea': {
      const body = jsonBody({ ref: 'refs/heads/main', after: SHA });
      return { body, headers: { ...json, 'x-gitea-event': 'push', 'x-gitea-signature': hmacHex(body) } };
    }
    case 'forgejo': {
      const body = jsonBody({ ref: 'refs/heads/main', after: SHA });
      return { body, headers: { ...json, 'x-forgejo-event': 'push', 'x-forgejo-signature': hmacHex(body) } };
    }
    case 'bitbucket': {
      const body = jsonBody({ push: { changes: [{ new: { type: 'branch', name: 'main', target: { hash: SHA } }, old: null }] } });
      return { body, headers: { ...json, 'x-event-key': 'repo:push', 'x-hub-signature': `sha256=${hmacHex(body)}` } };
    }
    case 'generic': {
      const body = jsonBody({ ref: 'main', sha: SHA });
      return { body, headers: { ...json, 'x-berth-signature': hmacHex(body) } };
    }
  }
}

const FORGES: Forge[] = ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket', 'generic'];

describe('receiveWebhook()', () => {
  it('ignores a Berth notification, even one signed as a push, so a notification can never start a deploy', () => {
    for (const forge of FORGES) {
      const { headers, body } = request(forge);
      assert.equal(receiveWebhook(siteFixture(forge), headers, body).kind, 'push', forge);
      const outcome = receiveWebhook(siteFixture(forge), { ...headers, 'user-agent': 'Berth-Notify/1' }, body);
      assert.deepEqual(outcome, { kind: 'ignore', reason: 'a notification from Berth is never a push; not deployed', delivery: undefined }, forge);
    }
  });

  for (const forge of FORGES) {
    it(`hands a ${forge} request to the ${forge} adapter`, () => {
      const { headers, body } = request(forge);
      const outcome = receiveWebhook(siteFixture(forge), headers, body);
      assert.equal(outcome.kind, 'push', JSON.stringify(outcome));
      assert.equal(outcome.kind === 'push' && outcome.event.forge, forge);
      assert.equal(outcome.kind === 'push' && outcome.event.sha, SHA);
      // Without a delivery header the body hash stands in, so a resend is still recognised.
      assert.match(outcome.kind === 'push' ? outcome.event.delivery : '', /^sha256:[0-9a-f]{64}$/);
    });

    it(`refuses a ${forge} request under another forge's rules`, () => {
      const { headers, body } = request(forge);
      for (const other of FORGES.filter((candidate) => candidate !== forge)) {
        // Forgejo accepts Gitea's headers on purpose.
        if (forge === 'gitea' && other === 'forgejo') continue;
        assertRejected(receiveWebhook(siteFixture(other), headers, body), 401, 'E_WEBHOOK_SIGNATURE');
      }
    });
  }

  it('refuses everything for a site without a webhook', () => {
    const site = { ...siteFixture('github'), webhook: undefined };
    const { headers, body } = request('github');
    assert.deepEqual(receiveWebhook(site, headers, body), {
      kind: 'reject',
      status: 401,
      code: 'E_WEBHOOK_SIGNATURE',
      message: 'site has no webhook configured',
    });
  });

  it('refuses everything for a site whose secret is empty, since anyone could sign with it', () => {
    for (const forge of FORGES) {
      const site = siteFixture(forge, { secret: '' });
      const { headers, body } = request(forge);
      assertRejected(receiveWebhook(site, headers, body), 401, 'E_WEBHOOK_SIGNATURE', /empty webhook secret/);
    }
  });
});
