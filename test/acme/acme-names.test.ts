import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAcmeEligible, isPublicCa, planCertificates, skipReason } from '../../src/acme/acme-names.ts';
import type { ResolvedSite } from '../../src/config/resolved-config.ts';
import { siteFixture } from '../webhooks/helpers.ts';
import { certificateHolders, certificateNames } from '../../src/tls/certificate-holders.ts';

/** A site as `loadConfig` would produce it, with the given name and domains. */
function site(name: string, domains: string[]): ResolvedSite {
  return Object.freeze({ ...siteFixture('github'), name, domains: Object.freeze([...domains]) });
}

const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
const STEP_CA = 'https://ca.home.arpa:9000/acme/acme/directory';

describe('isAcmeEligible', () => {
  it('accepts public names', () => {
    for (const host of ['example.com', 'www.example.com', 'blog.example.co.uk', 'a.b.c.example.org', 'xn--bcher-kva.example', 'example.localhost.com', 'my-lan.example.net', 'local.example.com', 'test.example.com']) {
      assert.equal(isAcmeEligible(host), true, host);
    }
  });

  it('refuses localhost and names under .localhost', () => {
    for (const host of ['localhost', 'app.localhost', 'a.b.localhost']) assert.equal(isAcmeEligible(host), false, host);
  });

  it('refuses IPv4 and IPv6 addresses', () => {
    for (const host of ['127.0.0.1', '192.0.2.10', '8.8.8.8', '::1', '2001:db8::1', '::ffff:192.0.2.1', 'fe80::1']) {
      assert.equal(isAcmeEligible(host), false, host);
    }
  });

  it('refuses single-label names', () => {
    for (const host of ['intranet', 'nas', 'printer']) assert.equal(isAcmeEligible(host), false, host);
  });

  it('refuses special-use and private suffixes', () => {
    for (const host of ['printer.local', 'site.test', 'nothing.invalid', 'db.internal', 'router.home.arpa', 'nas.lan', 'a.b.c.test']) {
      assert.equal(isAcmeEligible(host), false, host);
    }
  });

  it('refuses home.arpa itself, not only the names under it (RFC 8375)', () => {
    assert.equal(isAcmeEligible('home.arpa'), false);
  });
});

describe('planCertificates', () => {
  it('makes one plan per site, keyed by its first domain, with every domain', () => {
    const plans = planCertificates([site('blog', ['blog.example.com', 'www.blog.example.com'])], LETS_ENCRYPT);
    assert.deepEqual(plans, [{ key: 'blog.example.com', site: 'blog', names: ['blog.example.com', 'www.blog.example.com'] }]);
  });

  it('keys a plan by the first eligible domain and leaves ineligible ones out', () => {
    const plans = planCertificates([site('docs', ['localhost', 'docs.test', '127.0.0.1', 'docs.example.org', 'docs.lan', 'mirror.example.org'])], LETS_ENCRYPT);
    assert.deepEqual(plans, [{ key: 'docs.example.org', site: 'docs', names: ['docs.example.org', 'mirror.example.org'] }]);
  });

  it('keeps config order, of sites and of names', () => {
    const plans = planCertificates([
      site('zeta', ['z.example.com', 'a.example.com']),
      site('alpha', ['b.example.com']),
      site('mid', ['m2.example.com', 'm1.example.com']),
    ], LETS_ENCRYPT);
    assert.deepEqual(
      plans.map((plan) => [plan.site, plan.key, plan.names]),
      [
        ['zeta', 'z.example.com', ['z.example.com', 'a.example.com']],
        ['alpha', 'b.example.com', ['b.example.com']],
        ['mid', 'm2.example.com', ['m2.example.com', 'm1.example.com']],
      ],
    );
  });

  it('skips a site with no eligible name', () => {
    const plans = planCertificates([
      site('local', ['localhost', 'site.localhost']),
      site('blog', ['blog.example.com']),
      site('lab', ['10.0.0.5', 'lab.internal', 'lab']),
    ], LETS_ENCRYPT);
    assert.deepEqual(plans, [{ key: 'blog.example.com', site: 'blog', names: ['blog.example.com'] }]);
  });

  it('plans nothing for no sites', () => {
    assert.deepEqual(planCertificates([], LETS_ENCRYPT), []);
  });
});

describe('a private ACME CA', () => {
  it('is any directory but the public CAs Berth knows by URL', () => {
    for (const url of [LETS_ENCRYPT, 'https://acme-staging-v02.api.letsencrypt.org/directory', 'https://acme.zerossl.com/v2/DV90', 'https://dv.acme-v02.api.pki.goog/directory', 'https://dv.acme-v02.test-api.pki.goog/directory', 'https://api.buypass.com/acme/directory', 'https://api.test4.buypass.no/acme/directory']) {
      assert.equal(isPublicCa(url), true, url);
    }
    for (const url of [STEP_CA, 'https://localhost:14000/dir', 'https://letsencrypt.org.evil.example/directory', 'https://notletsencrypt.org/directory', 'not a url']) {
      assert.equal(isPublicCa(url), false, url);
    }
  });

  it('is asked for private and single-label names, never for localhost or an IP literal', () => {
    for (const host of ['nas.lan', 'router.home.arpa', 'home.arpa', 'db.internal', 'site.test', 'printer.local', 'nas', 'blog.example.com']) {
      assert.equal(isAcmeEligible(host, STEP_CA), true, host);
    }
    for (const host of ['localhost', 'app.localhost', '127.0.0.1', '::1', '10.0.0.5']) assert.equal(isAcmeEligible(host, STEP_CA), false, host);
    const plans = planCertificates([site('lab', ['localhost', '10.0.0.5', 'lab.internal', 'lab'])], STEP_CA);
    assert.deepEqual(plans, [{ key: 'lab.internal', site: 'lab', names: ['lab.internal', 'lab'] }]);
  });

  it('says why a name is skipped, and that a private CA could issue where a public one cannot', () => {
    assert.match(skipReason('nas.lan', LETS_ENCRYPT) ?? '', /under \.lan, which a public CA cannot validate; a private CA in acme\.directory can/);
    assert.match(skipReason('nas', LETS_ENCRYPT) ?? '', /single-label/);
    assert.match(skipReason('localhost', STEP_CA) ?? '', /localhost is never ordered/);
    assert.match(skipReason('192.0.2.1', STEP_CA) ?? '', /IP address/);
    assert.equal(skipReason('nas.lan', STEP_CA), undefined);
  });
});

describe('certificateHolders', () => {
  it('plans the admin domain as a certificate of its own, named [admin]', () => {
    const config = { sites: [site('blog', ['blog.example.com'])], admin: { domain: 'berth.example.com' } };
    assert.deepEqual(certificateNames(config), ['blog.example.com', 'berth.example.com']);
    assert.deepEqual(planCertificates(certificateHolders(config), LETS_ENCRYPT), [
      { key: 'blog.example.com', site: 'blog', names: ['blog.example.com'] },
      { key: 'berth.example.com', site: '[admin]', names: ['berth.example.com'] },
    ]);
    assert.deepEqual(certificateHolders({ sites: [], admin: { domain: undefined } }), []);
  });
});
