import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CertificateMetrics } from '../../src/acme/certificate-metrics.ts';
import type { CertificatePlan } from '../../src/acme/acme-names.ts';
import type { RenewalState, StoredCertificate } from '../../src/acme/certificate-storage.ts';
import { renderExposition } from '../../src/metrics/exposition.ts';
import { MetricsTotals } from '../../src/metrics/metrics-snapshot.ts';
import { parseExposition, total } from '../helpers/prometheus-text.ts';

const plan: CertificatePlan = { key: 'example.com', site: 'blog', names: ['example.com', 'www.example.com'] };
const stored = (notAfter: string): StoredCertificate => ({ info: { notAfter: new Date(notAfter) } }) as unknown as StoredCertificate;

describe('CertificateMetrics', () => {
  it('reports orders by result, the expiry of what is served and the next check from the renewal state', async () => {
    const states = new Map<string, RenewalState>([['example.com', { nextCheck: '2026-12-05T00:00:00.000Z' }]]);
    const metrics = new CertificateMetrics({ loadState: async (key) => states.get(key) ?? {} });
    metrics.checked(plan, undefined);
    metrics.failed(plan);
    metrics.obtained(plan, stored('2027-03-01T00:00:00.000Z'));
    metrics.checked(plan, stored('2027-03-01T00:00:00.000Z'));
    const totals = new MetricsTotals();
    totals.add(await metrics.snapshot());
    const parsed = parseExposition(renderExposition(totals));
    assert.equal(total(parsed, 'berth_acme_orders_total', { result: 'success' }), 1);
    assert.equal(total(parsed, 'berth_acme_orders_total', { result: 'failure' }), 1);
    assert.equal(total(parsed, 'berth_certificate_expiry_timestamp_seconds', { name: 'example.com' }), Date.parse('2027-03-01T00:00:00.000Z') / 1000);
    assert.equal(total(parsed, 'berth_certificate_next_check_timestamp_seconds', { name: 'example.com' }), Date.parse('2026-12-05T00:00:00.000Z') / 1000);
  });

  it('drops the expiry when no valid certificate is served, and a state it cannot read', async () => {
    const metrics = new CertificateMetrics({ loadState: () => Promise.reject(new Error('EACCES')) });
    metrics.obtained(plan, stored('2027-03-01T00:00:00.000Z'));
    metrics.checked(plan, undefined);
    const totals = new MetricsTotals();
    totals.add(await metrics.snapshot());
    const parsed = parseExposition(renderExposition(totals));
    assert.equal(parsed.samples.filter((sample) => sample.name.startsWith('berth_certificate_')).length, 0);
  });
});
