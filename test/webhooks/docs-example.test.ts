import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { receiveWebhook } from '../../src/webhooks/receive-webhook.ts';
import { SECRET, SHA, siteFixture } from './helpers.ts';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'webhooks.md');
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('docs/webhooks.md', () => {
  it('signs the generic example the way Berth checks it', { skip: hasOpenssl ? false : 'openssl is not installed' }, () => {
    const doc = readFileSync(DOC, 'utf8');
    const script = /```sh\n(body=[\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(script !== undefined, 'a sh block starting with body= in docs/webhooks.md');
    const curl = script.indexOf('curl ');
    assert.ok(curl > 0, 'the example ends with a curl command');
    // Run the lines before curl, with a known commit instead of the repository's HEAD, and print what curl would send.
    const prelude = script.slice(0, curl).replace('$(git rev-parse HEAD)', SHA);
    const header = /-H "(X-Berth-Signature): ([^"]*)"/.exec(script.slice(curl));
    assert.ok(header !== null, 'curl sends X-Berth-Signature');
    const output = execFileSync('bash', ['-c', `${prelude}\nprintf '%s\\n%s' "${header[2]}" "$body"`], {
      env: { PATH: process.env.PATH, BLOG_WEBHOOK_SECRET: SECRET },
      encoding: 'utf8',
    });
    const [signature = '', body = ''] = output.split('\n');
    const outcome = receiveWebhook(siteFixture('generic'), { 'content-type': 'application/json', 'x-berth-signature': signature }, Buffer.from(body));
    assert.equal(outcome.kind, 'push', JSON.stringify(outcome));
    assert.equal(outcome.kind === 'push' && outcome.event.sha, SHA);
  });

  it('documents every webhook error code and every status a webhook can get', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const code of ['E_WEBHOOK_SIGNATURE', 'E_WEBHOOK_MALFORMED', 'E_WEBHOOK_TOO_LARGE', 'E_WEBHOOK_CONTENT_TYPE']) assert.ok(doc.includes(code), code);
    for (const status of ['200', '202', '400', '401', '413', '415']) assert.match(doc, new RegExp(`^\\| \`${status} `, 'm'), status);
  });
});
