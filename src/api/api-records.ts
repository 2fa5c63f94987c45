import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import type { NameRow } from '../acme/certificate-rows.ts';
import type { DeployRecord, DeployTrigger } from '../deploy/deploy-types.ts';
import { shownState, type Serving } from '../deploy/shown-state.ts';
import type { ReleaseListing } from '../releases/release-list.ts';
import type { SiteLock } from '../state/state-store.ts';
import type { ApiCertificate, ApiCertificateState, ApiDeploy, ApiLock, ApiPhase, ApiPhaseName, ApiRelease, ApiTrigger } from './api-types.ts';
import { commitUrlFor } from './commit-url.ts';

/** A certificate this close to its end is `expiring` (renewal normally happens a month before). */
const EXPIRING_MS = 14 * 24 * 60 * 60 * 1000;

const TRIGGERS: Readonly<Record<DeployTrigger, ApiTrigger>> = { webhook: 'push', poll: 'poll', hook: 'hook', cli: 'cli', api: 'api', rollback: 'rollback' };

/** The stored phase names, in the order they run, and what the API calls them. */
const PHASES: ReadonlyArray<[keyof DeployRecord['phases'], ApiPhaseName]> = [
  ['queued', 'queued'],
  ['fetch', 'fetch'],
  ['build', 'build'],
  ['publish', 'publish'],
  ['smoke', 'check'],
  ['activate', 'activate'],
];

/**
 * Turns stored records into the API's objects. Made once per config: the
 * commit links of each site are worked out here, not per request.
 */
export interface ApiRecords {
  /** `serving`: what the site serves now, which decides the shown state. */
  deploy(record: DeployRecord, serving: Serving, now?: number): ApiDeploy;
  release(listing: ReleaseListing, deployId: string | undefined): ApiRelease;
  /** One certificate per site (names grouped), from `berth certs`'s rows. */
  certificates(rows: readonly NameRow[], now?: number): ApiCertificate[];
  lock(lock: SiteLock | undefined): ApiLock | null;
}

export function createApiRecords(config: ResolvedConfig): ApiRecords {
  const links = new Map<string, ((sha: string) => string) | undefined>(config.sites.map((site: ResolvedSite) => [site.name, commitUrlFor(site)]));
  return {
    deploy(record, serving, now = Date.now()) {
      const state = shownState(record, serving);
      const created = Date.parse(record.createdAt);
      const end = record.finishedAt === undefined ? now : Date.parse(record.finishedAt);
      const link = record.sha === undefined ? undefined : links.get(record.site);
      return {
        id: record.id,
        site: record.site,
        trigger: TRIGGERS[record.trigger] ?? 'cli',
        forge: record.forge ?? null,
        ref: record.ref,
        branch: record.ref.startsWith('refs/heads/') ? record.ref.slice('refs/heads/'.length) : null,
        sha: record.sha ?? null,
        author: record.author ?? null,
        title: record.message === undefined ? null : (record.message.split('\n', 1)[0] ?? '').trim(),
        message: record.message ?? null,
        commitUrl: link === undefined || record.sha === undefined ? null : link(record.sha),
        state,
        live: state === 'live' && record.releaseId !== undefined,
        createdAt: record.createdAt,
        startedAt: record.startedAt ?? null,
        finishedAt: record.finishedAt ?? null,
        durationMs: Math.max(0, end - created),
        phases: phasesOf(record, created),
        releaseId: record.releaseId ?? null,
        buildSource: record.buildSource ?? null,
        error: record.errorCode === undefined ? null : { code: record.errorCode, message: record.errorMessage ?? '' },
      };
    },

    release({ summary, active }, deployId) {
      return {
        id: summary.id,
        site: summary.site,
        createdAt: summary.createdAt,
        live: active,
        sha: summary.commit ?? null,
        deployId: deployId ?? null,
        files: typeof summary.files === 'number' ? summary.files : null,
        bytes: typeof summary.bytes === 'number' ? summary.bytes : null,
      };
    },

    certificates(rows, now = Date.now()) {
      const bySite = new Map<string, NameRow[]>();
      for (const row of rows) bySite.set(row.site, [...(bySite.get(row.site) ?? []), row]);
      return [...bySite].map(([site, names]) => {
        const first = names[0] as NameRow;
        return {
          names: names.map((row) => row.name),
          sites: [site],
          state: certificateState(names, now),
          issuer: first.issuer ?? null,
          notBefore: first.notBefore ?? null,
          notAfter: first.notAfter ?? null,
          nextCheckAt: first.nextCheck ?? null,
          lastError: first.lastError === undefined ? null : { code: first.lastError.code, message: first.lastError.message },
        };
      });
    },

    lock(lock) {
      return lock === undefined ? null : { by: lock.by, at: lock.at, reason: lock.reason ?? null };
    },
  };
}

/**
 * Each phase's start and end. The record keeps durations only; the phases
 * run one after another from the deploy's creation, so each starts where
 * the one before ended.
 */
function phasesOf(record: DeployRecord, created: number): ApiPhase[] {
  const phases: ApiPhase[] = [];
  let at = created;
  for (const [stored, name] of PHASES) {
    const ms = record.phases[stored];
    if (ms === undefined) continue;
    // The queue ends when the deploy starts (recorded exactly); the rest follow each other.
    if (name === 'fetch' && record.startedAt !== undefined) at = Date.parse(record.startedAt);
    phases.push({ name, startedAt: new Date(at).toISOString(), finishedAt: new Date(at + ms).toISOString(), ms });
    at += ms;
  }
  return phases;
}

function certificateState(names: readonly NameRow[], now: number): ApiCertificateState {
  if (names.some((row) => row.lastError !== undefined && row.source !== 'acme')) return 'failing';
  if (names.every((row) => row.source === 'self-signed')) return 'self-signed';
  const ends = names.map((row) => (row.notAfter === undefined ? undefined : Date.parse(row.notAfter)));
  if (ends.some((end) => end === undefined)) return 'missing';
  const soonest = Math.min(...(ends as number[]));
  if (soonest <= now) return 'expired';
  if (soonest - now < EXPIRING_MS) return names.some((row) => row.lastError !== undefined) ? 'failing' : 'expiring';
  return 'valid';
}
