import type { CertificatePlan } from '../acme/acme-names.ts';
import type { RenewalFailure } from '../acme/certificate-manager.ts';
import type { StoredCertificate } from '../acme/certificate-storage.ts';
import type { NotifyEventType } from '../config/resolved-config.ts';
import { withoutOutputTail } from '../deploy/build-runner.ts';
import { durationOf } from '../deploy/deploy-report.ts';
import type { DeployRecord } from '../deploy/deploy-types.ts';
import { createEventId, type NotifyEvent } from './notify-event.ts';

/** Longest error message a notification carries: the whole one is in the deploy's log. */
const ERROR_MESSAGE_MAX = 500;
const DAY_MS = 86_400_000;

/** The notification for a deploy that ended. */
export function deployEvent(type: NotifyEventType, record: DeployRecord, siteUrl: string, now = new Date()): NotifyEvent {
  const firstLine = record.message?.split('\n')[0]?.trim();
  const duration = durationOf(record);
  return {
    id: createEventId(),
    type,
    timestamp: now.toISOString(),
    site: record.site,
    deploy: {
      id: record.id,
      state: record.state,
      trigger: record.trigger,
      ref: record.ref,
      ...(record.sha === undefined ? {} : { sha: record.sha }),
      ...(record.author === undefined ? {} : { author: record.author }),
      ...(firstLine === undefined || firstLine === '' ? {} : { message: firstLine }),
      ...(duration === undefined ? {} : { durationMs: duration }),
      ...(record.errorCode === undefined ? {} : { errorCode: record.errorCode }),
      ...(record.errorMessage === undefined ? {} : { errorMessage: shortError(record.errorMessage, record.id) }),
      ...(record.releaseId === undefined ? {} : { release: record.releaseId }),
      url: siteUrl,
    },
  };
}

/** A build's output is the repository's: a notification names where it is rather than carrying it. */
function shortError(message: string, deployId: string): string {
  const own = withoutOutputTail(message, ` (its output is in berth logs ${deployId})`);
  const chars = [...own];
  return chars.length > ERROR_MESSAGE_MAX ? `${chars.slice(0, ERROR_MESSAGE_MAX - 1).join('')}…` : own;
}

/** The notification for a certificate order that failed. */
export function renewalFailedEvent(plan: CertificatePlan, failure: RenewalFailure, now = new Date()): NotifyEvent {
  const notAfter = failure.serving?.info.notAfter;
  return {
    id: createEventId(),
    type: 'certificate.renewal_failed',
    timestamp: now.toISOString(),
    site: plan.site,
    certificate: {
      names: [...plan.names],
      ...(notAfter === undefined ? {} : { notAfter: notAfter.toISOString(), daysLeft: daysLeft(notAfter, now) }),
      errorCode: failure.code,
      errorMessage: [...failure.message].slice(0, ERROR_MESSAGE_MAX).join(''),
    },
  };
}

/** The notification for a certificate that expires soon. */
export function expiringEvent(plan: CertificatePlan, served: StoredCertificate, now = new Date()): NotifyEvent {
  return {
    id: createEventId(),
    type: 'certificate.expiring',
    timestamp: now.toISOString(),
    site: plan.site,
    certificate: { names: [...plan.names], notAfter: served.info.notAfter.toISOString(), daysLeft: daysLeft(served.info.notAfter, now) },
  };
}

/** Whole days left, rounded down: "fewer than 14 days" means daysLeft < 14. */
export function daysLeft(notAfter: Date, now: Date): number {
  return Math.max(0, Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS));
}
