import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const cases = configCases('berth-admin-config-');
const SITE = '\n[[sites]]\nname = "blog"\ndomains = ["example.com", "www.example.com"]\n';

describe('[admin]', () => {
  it('serves no dashboard by default', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n${SITE}`);
    assert.deepEqual(problems, []);
    assert.equal(config?.admin.domain, undefined);
  });

  it('takes a host name of its own, in lower case', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[admin]\ndomain = "Berth.Example.COM"\n${SITE}`);
    assert.deepEqual(problems, []);
    assert.equal(config?.admin.domain, 'berth.example.com');
  });

  it('refuses a domain a site answers to, a URL, a port, and an unknown key', async () => {
    const taken = await cases.read(`data_dir = "data"\n[admin]\ndomain = "WWW.example.com"\n${SITE}`);
    assert.equal(taken.config, undefined);
    assert.match(problemAt(taken.problems, 'admin.domain').message, /sites\[0\] \("blog"\).*host name of its own/);
    for (const domain of ['https://berth.example.com', 'berth.example.com:8443', 'berth.example.com/admin', '']) {
      const { config, problems } = await cases.read(`data_dir = "data"\n[admin]\ndomain = ${JSON.stringify(domain)}\n${SITE}`);
      assert.equal(config, undefined, domain);
      assert.ok(problemAt(problems, 'admin.domain').message.length > 0, domain);
    }
    const unknown = await cases.read(`data_dir = "data"\n[admin]\ndomians = "berth.example.com"\n${SITE}`);
    assert.equal(unknown.config, undefined);
    assert.match(JSON.stringify(unknown.problems), /domians/);
  });

  it('refuses a value that is not a string', async () => {
    const { config, problems } = await cases.read(`data_dir = "data"\n[admin]\ndomain = 443\n${SITE}`);
    assert.equal(config, undefined);
    assert.match(problemAt(problems, 'admin.domain').message, /host name/);
  });
});
