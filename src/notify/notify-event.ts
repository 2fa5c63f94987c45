import { randomBytes } from 'node:crypto';
import type { NotifyEventType } from '../config/resolved-config.ts';

/**
 * What Berth tells the outside world about. docs/notifications.md says when
 * each one fires; the body of a webhook is exactly a `NotifyEvent`.
 */
export type { NotifyEventType };

export const NOTIFY_EVENT_TYPES: readonly NotifyEventType[] = ['deploy.failed', 'deploy.succeeded', 'deploy.recovered', 'certificate.renewal_failed', 'certificate.expiring'];

export interface NotifyDeploy {
  id: string;
  state: string;
  trigger: string;
  ref: string;
  sha?: string;
  author?: string;
  /** The first line of the commit message. */
  message?: string;
  durationMs?: number;
  errorCode?: string;
  errorMessage?: string;
  release?: string;
  /** The site's URL. */
  url?: string;
}

export interface NotifyCertificate {
  names: string[];
  notAfter?: string;
  daysLeft?: number;
  errorCode?: string;
  errorMessage?: string;
}

export interface NotifyEvent {
  /** Unique per event; a webhook sends it as `webhook-id`, so a receiver can drop a retried duplicate. */
  id: string;
  type: NotifyEventType;
  /** ISO 8601, when the event happened. */
  timestamp: string;
  site?: string;
  deploy?: NotifyDeploy;
  certificate?: NotifyCertificate;
}

/** `evt_` and 24 hex digits: random, so ids never collide across restarts. */
export function createEventId(): string {
  return `evt_${randomBytes(12).toString('hex')}`;
}

/**
 * One readable line (`title`) and a few lines of detail (`text`) for the
 * chat and e-mail formats. Plain text: each format escapes or marks it up
 * as it needs.
 */
export function summarize(event: NotifyEvent): { title: string; text: string } {
  const site = event.site ?? 'a site';
  const deploy = event.deploy;
  const certificate = event.certificate;
  const names = certificate?.names.join(', ') ?? 'a certificate';
  let title: string;
  switch (event.type) {
    case 'deploy.failed':
      title = `Deploy of ${site} failed`;
      break;
    case 'deploy.succeeded':
      title = `Deployed ${site}`;
      break;
    case 'deploy.recovered':
      title = `Deploy of ${site} succeeded again`;
      break;
    case 'certificate.renewal_failed':
      title = `Certificate renewal failed for ${names}`;
      break;
    case 'certificate.expiring': {
      const days = certificate?.daysLeft;
      title = days === undefined ? `Certificate for ${names} expires soon` : `Certificate for ${names} expires in ${days} ${days === 1 ? 'day' : 'days'}`;
      break;
    }
  }
  const lines: string[] = [];
  if (deploy !== undefined) {
    const commit = [deploy.sha?.slice(0, 12), deploy.message].filter((part) => part !== undefined && part !== '').join(' ');
    lines.push(`Deploy ${deploy.id} (${deploy.trigger}, ${deploy.ref}): ${deploy.state}${deploy.durationMs === undefined ? '' : ` after ${formatDuration(deploy.durationMs)}`}`);
    if (commit !== '') lines.push(`Commit: ${commit}${deploy.author === undefined ? '' : ` by ${deploy.author}`}`);
    if (deploy.errorMessage !== undefined) lines.push(`Error: ${deploy.errorMessage}${deploy.errorCode === undefined ? '' : ` [${deploy.errorCode}]`}`);
    if (deploy.release !== undefined) lines.push(`Release: ${deploy.release}`);
    if (deploy.url !== undefined) lines.push(`Site: ${deploy.url}`);
  }
  if (certificate !== undefined) {
    if (certificate.notAfter !== undefined) lines.push(`Valid until: ${certificate.notAfter}`);
    if (certificate.errorMessage !== undefined) lines.push(`Error: ${certificate.errorMessage}${certificate.errorCode === undefined ? '' : ` [${certificate.errorCode}]`}`);
  }
  lines.push(`Event ${event.id} at ${event.timestamp}`);
  return { title, text: lines.join('\n') };
}

function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${seconds % 60} s`;
}

/** `text` cut to at most `max` characters (code points), marked with an ellipsis when cut. */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}
