import type { MetricsSnapshot, Sample } from '../metrics/metrics-snapshot.ts';
import type { CertificatePlan } from './acme-names.ts';
import type { CertificateStorage, StoredCertificate } from './certificate-storage.ts';

/**
 * The certificate manager's numbers for the metrics: orders by result, and
 * for each certificate (named by its plan's key, the site's first eligible
 * domain: configured names only) when the one served expires and when it
 * is next checked (read from its renewal state at each scrape, which is
 * where the manager writes it).
 */
export class CertificateMetrics {
  readonly #storage: Pick<CertificateStorage, 'loadState'>;
  readonly #expiry = new Map<string, number>();
  /** Every plan heard of, certificate or not: its next check (a retry after failures) is shown either way. */
  readonly #plans = new Set<string>();
  #succeeded = 0;
  #failed = 0;

  constructor(storage: Pick<CertificateStorage, 'loadState'>) {
    this.#storage = storage;
  }

  /** The manager's `onCertificate`: an order succeeded. */
  obtained(plan: CertificatePlan, stored: StoredCertificate): void {
    this.#succeeded++;
    this.#plans.add(plan.key);
    this.#expiry.set(plan.key, stored.info.notAfter.getTime() / 1000);
  }

  /** The manager's `onChecked`: what is served for the plan now. */
  checked(plan: CertificatePlan, served: StoredCertificate | undefined): void {
    this.#plans.add(plan.key);
    if (served === undefined) this.#expiry.delete(plan.key);
    else this.#expiry.set(plan.key, served.info.notAfter.getTime() / 1000);
  }

  /** The manager's `onRenewalFailed`: an order failed. */
  failed(plan: CertificatePlan): void {
    this.#plans.add(plan.key);
    this.#failed++;
  }

  async snapshot(): Promise<MetricsSnapshot> {
    const samples: Sample[] = [
      { name: 'berth_acme_orders_total', labels: ['success'], value: this.#succeeded },
      { name: 'berth_acme_orders_total', labels: ['failure'], value: this.#failed },
    ];
    for (const [name, at] of this.#expiry) samples.push({ name: 'berth_certificate_expiry_timestamp_seconds', labels: [name], value: at });
    await Promise.all(
      [...this.#plans].map(async (name) => {
        const next = Date.parse((await this.#storage.loadState(name).catch(() => undefined))?.nextCheck ?? '');
        if (Number.isFinite(next)) samples.push({ name: 'berth_certificate_next_check_timestamp_seconds', labels: [name], value: next / 1000 });
      }),
    );
    return { samples, histograms: [] };
  }
}
