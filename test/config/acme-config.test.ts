import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const { read } = configCases('berth-acme-config-');

const SITE = '[[sites]]\nname = "blog"\ndomains = ["example.com"]\n';

describe('[acme] settings', () => {
  it('resolves the named directories to their URLs', async () => {
    const le = await read(`[acme]\ndirectory = "letsencrypt"\n${SITE}`);
    assert.equal(le.config?.acme.directoryUrl, 'https://acme-v02.api.letsencrypt.org/directory');
    const staging = await read(`[acme]\ndirectory = "letsencrypt-staging"\n${SITE}`);
    assert.equal(staging.config?.acme.directoryUrl, 'https://acme-staging-v02.api.letsencrypt.org/directory');
    const own = await read(`[acme]\ndirectory = "https://ca.internal:9000/acme/directory"\n${SITE}`);
    assert.equal(own.config?.acme.directoryUrl, 'https://ca.internal:9000/acme/directory');
  });

  it('turns ACME off for "off", for server.tls, and without an HTTP or HTTPS listener', async () => {
    const off = await read(`[acme]\ndirectory = "off"\n${SITE}`);
    assert.equal(off.config?.acme.directoryUrl, undefined);
    const files = await read(`[server.tls]\ncert_file = "c.pem"\nkey_file = "k.pem"\n${SITE}`);
    assert.equal(files.config?.acme.directoryUrl, undefined);
    const noHttp = await read(`[server]\nhttp_port = false\n${SITE}`);
    assert.equal(noHttp.config?.acme.directoryUrl, undefined);
    assert.match(problemAt(noHttp.problems, 'server.http_port').message, /HTTP-01 challenges cannot be answered/);
    const noHttps = await read(`[server]\nhttps_port = false\n${SITE}`);
    assert.equal(noHttps.config?.acme.directoryUrl, undefined);
  });

  it('rejects a directory that is neither a name nor an https URL', async () => {
    const { config, problems } = await read(`[acme]\ndirectory = "lets-encrypt"\n${SITE}`);
    assert.equal(config, undefined);
    assert.match(problemAt(problems, 'acme.directory').message, /letsencrypt/);
  });

  it('checks profile names, durations and unknown keys', async () => {
    const { config, problems } = await read(`[acme]\nprofile = "short lived"\ncheck_interval = "soon"\nretry_delay = "0s"\nrenew_before = "30d"\n${SITE}`);
    assert.equal(config, undefined);
    assert.match(problemAt(problems, 'acme.profile').message, /not a profile name/);
    assert.match(problemAt(problems, 'acme.check_interval').message, /not a duration/);
    assert.match(problemAt(problems, 'acme.retry_delay').message, /out of range/);
    assert.match(problemAt(problems, 'acme.renew_before').message, /unknown key "renew_before" in \[acme\]/);
  });

  it('reads the EAB HMAC key from the environment or a file, never echoing it', async () => {
    const fromEnv = await read(`[acme]\neab = { kid = "k1", hmac_key = "\${EAB}" }\n${SITE}`, { EAB: 'c2VjcmV0LWhtYWM' });
    assert.equal(fromEnv.config?.acme.eab?.hmacKey.reveal(), 'c2VjcmV0LWhtYWM');
    assert.doesNotMatch(inspect(fromEnv.config, { depth: 10 }), /c2VjcmV0LWhtYWM/);
    const fromFile = await read(`[acme.eab]\nkid = "k1"\nhmac_key_file = "eab.key"\n${SITE}`, {}, { 'eab.key': 'ZmlsZS1rZXk\n' });
    assert.equal(fromFile.config?.acme.eab?.hmacKey.reveal(), 'ZmlsZS1rZXk');
  });

  it('reports an EAB table with both, neither, or a wrongly typed key without showing it', async () => {
    const both = await read(`[acme.eab]\nkid = "k1"\nhmac_key = "\${EAB}"\nhmac_key_file = "x"\n${SITE}`, { EAB: 'v' });
    assert.match(problemAt(both.problems, 'acme.eab').message, /both hmac_key and hmac_key_file/);
    const neither = await read(`[acme.eab]\nkid = "k1"\n${SITE}`);
    assert.match(problemAt(neither.problems, 'acme.eab').message, /no HMAC key/);
    const unset = await read(`[acme.eab]\nkid = "k1"\nhmac_key = "\${MISSING_EAB}"\n${SITE}`);
    assert.match(problemAt(unset.problems, 'acme.eab.hmac_key').message, /MISSING_EAB is not set; .* or use hmac_key_file/);
    const literal = await read(`[acme.eab]\nkid = "k1"\nhmac_key = "written-in-the-file"\n${SITE}`);
    const warning = problemAt(literal.problems, 'acme.eab.hmac_key');
    assert.equal(warning.severity, 'warning');
    assert.match(warning.message, /hmac_key = "\$\{ACME_EAB_HMAC_KEY\}"\) or in a hmac_key_file/);
    assert.doesNotMatch(warning.message, /written-in-the-file/);
    const emptyFile = await read(`[acme.eab]\nkid = "k1"\nhmac_key_file = "eab.key"\n${SITE}`, {}, { 'eab.key': '\n' });
    assert.match(problemAt(emptyFile.problems, 'acme.eab.hmac_key_file').message, /^hmac_key_file .* is empty/);
    const number = await read(`[acme.eab]\nkid = "k1"\nhmac_key = 123456789\n${SITE}`);
    const message = problemAt(number.problems, 'acme.eab.hmac_key').message;
    assert.doesNotMatch(message, /123456789/);
    const noKid = await read(`[acme.eab]\nhmac_key = "\${EAB}"\n${SITE}`, { EAB: 'v' });
    assert.match(problemAt(noKid.problems, 'acme.eab.kid').message, /missing/);
  });
});

describe('server.https_redirect and sites.hsts', () => {
  it('redirects by default when certificates are real, not when they are self-signed', async () => {
    assert.equal((await read(SITE)).config?.server.httpsRedirect, true);
    assert.equal((await read(`[acme]\ndirectory = "off"\n${SITE}`)).config?.server.httpsRedirect, false);
    assert.equal((await read(`[server.tls]\ncert_file = "c"\nkey_file = "k"\n[acme]\ndirectory = "off"\n${SITE}`)).config?.server.httpsRedirect, true);
    assert.equal((await read(`[server]\nhttps_redirect = true\n[acme]\ndirectory = "off"\n${SITE}`)).config?.server.httpsRedirect, true);
    assert.equal((await read(`[server]\nhttps_redirect = false\n${SITE}`)).config?.server.httpsRedirect, false);
    // Nowhere to redirect to.
    assert.equal((await read(`[server]\nhttps_port = false\nhttps_redirect = true\n${SITE}`)).config?.server.httpsRedirect, false);
  });

  it('builds the HSTS header from true or a table', async () => {
    const on = await read(`${SITE}hsts = true\n`);
    assert.equal(on.config?.sites[0]?.hsts, 'max-age=31536000');
    const table = await read(`${SITE}[sites.hsts]\nmax_age = 86400\ninclude_subdomains = true\n`);
    assert.equal(table.config?.sites[0]?.hsts, 'max-age=86400; includeSubDomains');
    const off = await read(`${SITE}hsts = false\n`);
    assert.equal(off.config?.sites[0]?.hsts, undefined);
  });

  it('rejects malformed HSTS settings with the place and what would work', async () => {
    const text = await read(`${SITE}hsts = "yes"\n`);
    assert.match(problemAt(text.problems, 'sites[0].hsts').message, /true, false, or a table/);
    const negative = await read(`${SITE}[sites.hsts]\nmax_age = -1\n`);
    assert.equal(negative.config, undefined);
    assert.ok(negative.problems.some((problem) => problem.path.startsWith('sites[0].hsts')), negative.problems.map((p) => p.path).join());
    const unknown = await read(`${SITE}[sites.hsts]\nmaxage = 5\n`);
    assert.equal(unknown.config, undefined);
    assert.ok(unknown.problems.some((problem) => /max_age/.test(problem.message)), unknown.problems.map((p) => p.message).join('\n'));
  });
});
