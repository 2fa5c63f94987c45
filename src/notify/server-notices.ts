import type { CertificatePlan } from '../acme/acme-names.ts';
import type { RenewalFailure } from '../acme/certificate-manager.ts';
import type { StoredCertificate } from '../acme/certificate-storage.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { DeployNoticeSink } from '../deploy/deploy-reporting.ts';
import { siteUrl } from '../deploy/deploy-reporting.ts';
import type { Logger } from '../log/logger.ts';
import { openDeliveryResults } from './delivery-results.ts';
import { createNotifier } from './dispatcher.ts';
import { daysLeft, deployEvent, expiringEvent, renewalFailedEvent } from './events-from.ts';

export interface ServerNotices {
  deployEnded: DeployNoticeSink;
  /** After each certificate check: tells of one that expires soon, at most once a day. */
  certificateChecked(plan: CertificatePlan, served: StoredCertificate | undefined): void;
  renewalFailed(plan: CertificatePlan, failure: RenewalFailure): void;
  /** Waits at most `timeoutMs` for deliveries in flight, then lets go of the results store. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The `[[notify]]` channels of a server, or of one `berth deploy`: turns
 * deploys and certificate checks into events, and hands them to the
 * dispatcher, which delivers and retries in the background and records each
 * attempt for `berth notify status`. Undefined when no channel is configured.
 */
export function startServerNotices(config: ResolvedConfig, logger: Logger, now: () => Date = () => new Date()): ServerNotices | undefined {
  if (config.notify.length === 0) return undefined;
  const results = openDeliveryResults(config.dataDir);
  const notifier = createNotifier({ channels: config.notify, logger: logger.child({ kind: 'notify' }), results });
  // The dispatcher sends certificate.expiring to a channel only below its own expiring_days; this is the widest.
  const expiringDays = Math.max(0, ...config.notify.filter((channel) => channel.events.includes('certificate.expiring')).map((channel) => channel.expiringDays));
  /** The day (YYYY-MM-DD) each certificate was last told to be expiring, by its key. */
  const toldExpiring = new Map<string, string>();
  return {
    deployEnded(record, kinds) {
      const site = config.sites.find((candidate) => candidate.name === record.site);
      if (site === undefined) return;
      for (const kind of kinds) notifier.notify(deployEvent(kind, record, siteUrl(config, site), now()));
    },
    certificateChecked(plan, served) {
      if (served === undefined || expiringDays === 0) return;
      const at = now();
      if (daysLeft(served.info.notAfter, at) >= expiringDays) {
        toldExpiring.delete(plan.key);
        return;
      }
      const day = at.toISOString().slice(0, 10);
      if (toldExpiring.get(plan.key) === day) return;
      toldExpiring.set(plan.key, day);
      notifier.notify(expiringEvent(plan, served, at));
    },
    renewalFailed(plan, failure) {
      notifier.notify(renewalFailedEvent(plan, failure, now()));
    },
    async close(timeoutMs) {
      await notifier.flush(timeoutMs);
      results.close();
    },
  };
}
