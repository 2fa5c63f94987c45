import type { CertificatePlan } from '../acme/acme-names.ts';
import type { RenewalFailure } from '../acme/certificate-manager.ts';
import type { StoredCertificate } from '../acme/certificate-storage.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { DeployNoticeSink } from '../deploy/deploy-reporting.ts';
import { siteUrl } from '../deploy/deploy-reporting.ts';
import type { Logger } from '../log/logger.ts';
import { openDeliveryResults, type DeliveryAttempt, type DeliveryResults } from './delivery-results.ts';
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
  const log = logger.child({ kind: 'notify' });
  let results: DeliveryResults | undefined;
  try {
    results = openDeliveryResults(config.dataDir);
  } catch (error) {
    // Notifying matters more than recording it: go on without `berth notify status` for this run.
    log.warn({ err: error }, 'cannot open the store of notification results; notifying without recording the results');
  }
  let closed = false;
  const recorder = {
    record(attempt: DeliveryAttempt): void {
      // A delivery still retrying when this closed is not recorded by a closed store.
      if (!closed) results?.record(attempt);
    },
  };
  const notifier = createNotifier({ channels: config.notify, logger: log, results: recorder });
  // The dispatcher sends certificate.expiring to a channel only below its own expiring_days; this is the widest.
  const expiringDays = Math.max(0, ...config.notify.filter((channel) => channel.events.includes('certificate.expiring')).map((channel) => channel.expiringDays));
  /** The day (YYYY-MM-DD) each certificate was last told to be expiring, by its key. */
  const toldExpiring = new Map<string, string>();
  /** The day each certificate's failed order was last told: the first failure, then at most once a day while it fails. */
  const toldFailing = new Map<string, string>();
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
      const at = now();
      const day = at.toISOString().slice(0, 10);
      // Orders are retried within minutes at first: one message a day says it as well as ten.
      if (failure.attempt > 1 && toldFailing.get(plan.key) === day) return;
      toldFailing.set(plan.key, day);
      notifier.notify(renewalFailedEvent(plan, failure, at));
    },
    async close(timeoutMs) {
      await notifier.flush(timeoutMs);
      closed = true;
      results?.close();
    },
  };
}
