import { describeNames } from '../acme/certificate-rows.ts';
import { checkBranch } from '../config/config-schema.ts';
import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import type { Deployer } from '../deploy/deployer.ts';
import type { DeployRecord, DeployState } from '../deploy/deploy-types.ts';
import { rollBack } from '../deploy/roll-back.ts';
import { SHOWN_STATES, type Serving, type ShownState } from '../deploy/shown-state.ts';
import { BerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { openManifest } from '../releases/read-manifest.ts';
import { join } from 'node:path';
import { isReleaseId } from '../releases/release-id.ts';
import { activeReleaseId, listReleases } from '../releases/release-list.ts';
import { sitePaths } from '../releases/site-paths.ts';
import type { StateStore } from '../state/state-store.ts';
import { createApiRecords } from './api-records.ts';
import type { ApiCertificate, ApiDeploy, ApiLock, ApiRelease, ApiSite } from './api-types.ts';

/** Deploy ids as the state store makes them: `20261127T085500Z-1a2b3c`. Anything else is not looked up. */
const DEPLOY_ID = /^\d{8}T\d{6}Z-[0-9a-f]{6,16}$/;
const SHA = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;
const ACTIVE: ReadonlySet<DeployState> = new Set(['queued', 'building', 'publishing']);
/** The most deploys one list answers with. */
export const MAX_DEPLOYS = 200;

export interface ReleaseChanges {
  filesChanged: number;
  filesTotal: number;
  redirects: number;
  headers: number;
}

export interface DeployFilter {
  state?: ShownState | undefined;
  branch?: string | undefined;
  limit?: number | undefined;
  /** A deploy id: the deploys older than it (the next page after one that ended with it). */
  before?: string | undefined;
}

/**
 * What the dashboard and the API can see and do, in one place, so that a
 * page and its API route answer the same. Every name and id from a request
 * is checked here before it reaches the store or the file system: sites by
 * the config's list, deploys and releases by their id's shape, and a log is
 * found by the deploy's id, never by a path a client sent.
 */
export interface SiteService {
  siteNames(): string[];
  sites(only?: (site: string) => boolean): Promise<ApiSite[]>;
  site(name: string): Promise<ApiSite>;
  deploys(site: string, filter?: DeployFilter): Promise<ApiDeploy[]>;
  /** The deploy, and its record (for the log). */
  deploy(id: string): Promise<{ deploy: ApiDeploy; record: DeployRecord }>;
  /** The stored record as it is now (a followed log looks at it often); undefined once pruned. */
  deployRecord(id: string): DeployRecord | undefined;
  releases(site: string): Promise<ApiRelease[]>;
  /** What a release holds and how it differs from `previous` (the release before it): files changed (added, changed or removed), rules. */
  releaseChanges(site: string, release: string, previous: string | undefined): Promise<ReleaseChanges>;
  certificates(only?: (site: string) => boolean): Promise<ApiCertificate[]>;
  /** Queues a deploy of the branch's head, of a branch, or of a commit (40 hex digits) on the site's branch. */
  redeploy(site: string, ref: string | undefined, by: string): Promise<ApiDeploy>;
  cancel(id: string, by: string): Promise<ApiDeploy>;
  /** Makes a release live and locks the site's automatic deploys, so that the next push does not undo it. */
  rollback(site: string, release: string, by: string): Promise<{ release: ApiRelease; lock: ApiLock; deploy: ApiDeploy | null }>;
  lock(site: string, by: string, reason: string | undefined): ApiLock;
  unlock(site: string, by: string): void;
}

export function createSiteService(config: ResolvedConfig, store: StateStore, deployer: Deployer, logger: Logger): SiteService {
  const records = createApiRecords(config);
  const byName = new Map(config.sites.map((site) => [site.name, site]));

  const siteOf = (name: string): ResolvedSite => {
    const site = byName.get(name);
    if (site === undefined) throw new BerthError('E_SITE_UNKNOWN', `No site is named ${JSON.stringify(name.slice(0, 64))}`);
    return site;
  };
  const active = (site: string): Promise<string | undefined> => activeReleaseId(sitePaths(config.dataDir, site)).catch(() => undefined);
  /** The active release, and the deploy shown as making it live. */
  const serving = async (site: string): Promise<Serving> => {
    const release = await active(site);
    return { release, deploy: store.servingDeploy(site, release) };
  };
  const recordOf = (id: string): DeployRecord => {
    const record = DEPLOY_ID.test(id) ? store.getDeploy(id) : undefined;
    if (record === undefined) throw new BerthError('E_DEPLOY_NOT_FOUND', `No deploy ${JSON.stringify(id.slice(0, 64))} is in the history`);
    return record;
  };
  const releasesOf = async (site: string): Promise<ApiRelease[]> => {
    const madeBy = new Map<string, string>();
    // Oldest last: the deploy that first made each release wins over later rollbacks to it.
    for (const deploy of store.listDeploys({ site, limit: 10_000, states: ['live'] })) if (deploy.releaseId !== undefined && deploy.trigger !== 'rollback') madeBy.set(deploy.releaseId, deploy.id);
    const listings = await listReleases(sitePaths(config.dataDir, site)).catch(() => []);
    return listings.map((listing) => records.release(listing, madeBy.get(listing.summary.id)));
  };

  const service: SiteService = {
    siteNames: () => config.sites.map((site) => site.name),

    async sites(only = () => true) {
      const names = config.sites.filter((site) => only(site.name)).map((site) => site.name);
      return Promise.all(names.map((name) => service.site(name)));
    },

    async site(name) {
      const site = siteOf(name);
      const now = await serving(name);
      const live = now.release;
      const [last] = store.listDeploys({ site: name, limit: 1 });
      const liveRecord = now.deploy === undefined ? undefined : store.getDeploy(now.deploy);
      const [certificate] = records.certificates((await describeNames(config).catch(() => [])).filter((row) => row.site === name));
      return {
        name,
        domains: [...site.domains],
        repo: site.repo === undefined ? null : withoutCredentials(site.repo),
        branch: site.branch,
        liveRelease: live ?? null,
        liveDeploy: liveRecord === undefined ? null : records.deploy(liveRecord, now),
        lastDeploy: last === undefined ? null : records.deploy(last, now),
        lock: records.lock(store.siteLock(name)),
        certificate: certificate ?? null,
      };
    },

    async deploys(name, filter = {}) {
      siteOf(name);
      if (filter.state !== undefined && !SHOWN_STATES.includes(filter.state)) {
        throw new BerthError('E_API_BAD_REQUEST', `State ${JSON.stringify(String(filter.state).slice(0, 40))} is not one of ${SHOWN_STATES.join(', ')}`);
      }
      const limit = filter.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DEPLOYS) throw new BerthError('E_API_BAD_REQUEST', `limit must be a whole number from 1 to ${MAX_DEPLOYS}`);
      const { before } = filter;
      if (before !== undefined && (!DEPLOY_ID.test(before) || store.getDeploy(before)?.site !== name)) {
        throw new BerthError('E_API_BAD_REQUEST', `before: ${JSON.stringify(before.slice(0, 64))} is not a deploy of ${name}; give the id of the last deploy of the page before`);
      }
      const live = await serving(name);
      // Filtered after reading: the shown state depends on the live release, which the database does not hold.
      const wanted = filter.state === undefined && filter.branch === undefined ? limit : 10_000;
      const ref = filter.branch === undefined ? undefined : `refs/heads/${filter.branch}`;
      const out: ApiDeploy[] = [];
      for (const record of store.listDeploys({ site: name, limit: wanted, ...(before === undefined ? {} : { before }) })) {
        if (ref !== undefined && record.ref !== ref) continue;
        const deploy = records.deploy(record, live);
        if (filter.state !== undefined && deploy.state !== filter.state) continue;
        out.push(deploy);
        if (out.length === limit) break;
      }
      return out;
    },

    async deploy(id) {
      const record = recordOf(id);
      return { deploy: records.deploy(record, await serving(record.site)), record };
    },

    deployRecord: (id) => store.getDeploy(id),

    async releases(name) {
      siteOf(name);
      return releasesOf(name);
    },

    async releaseChanges(name, release, previous) {
      siteOf(name);
      if (!isReleaseId(release) || (previous !== undefined && !isReleaseId(previous))) throw new BerthError('E_RELEASE_NOT_FOUND', 'Not a release id');
      const dir = sitePaths(config.dataDir, name).releasesDir;
      // The manifests are Berth's own, written at publish; each file is compared by its content hash.
      const current = await openManifest(join(dir, release));
      const before = new Map<string, string>();
      if (previous !== undefined) {
        await (await openManifest(join(dir, previous))).rows.forEach((path, file) => {
          before.set(path, file.hash);
        }).catch(() => before.clear());
      }
      let changed = 0;
      await current.rows.forEach((path, file) => {
        if (before.get(path) !== file.hash) changed++;
        before.delete(path);
      });
      return { filesChanged: changed + (previous === undefined ? 0 : before.size), filesTotal: current.rows.count, redirects: current.redirects.length, headers: current.headers.length };
    },

    async certificates(only = () => true) {
      const rows = await describeNames(config);
      return records.certificates(rows.filter((row) => only(row.site)));
    },

    async redeploy(name, ref, by) {
      const site = siteOf(name);
      const lock = store.siteLock(name);
      if (lock !== undefined) throw new BerthError('E_DEPLOYS_LOCKED', `Deploys of ${name} are locked by ${lock.by} since ${lock.at}; unlock the site first`);
      if (site.repo === undefined) throw new BerthError('E_DEPLOY_NO_REPO', `Site ${name} has no repo to deploy from; it is published with berth publish`);
      const wanted = ref?.trim() ?? '';
      let input: { ref: string; sha?: string };
      if (wanted === '') input = { ref: `refs/heads/${site.branch}` };
      else if (SHA.test(wanted)) input = { ref: `refs/heads/${site.branch}`, sha: wanted };
      else {
        const branch = wanted.startsWith('refs/heads/') ? wanted.slice('refs/heads/'.length) : wanted;
        const problem = branch.length > 200 ? 'longer than 200 characters' : checkBranch(branch);
        if (problem !== undefined) throw new BerthError('E_API_BAD_REQUEST', `ref: ${problem}; give a branch name or a full commit hash`);
        input = { ref: `refs/heads/${branch}` };
      }
      const record = deployer.submit({ site: name, trigger: 'api', ...input });
      logger.info({ site: name, deploy: record.id, by, ref: input.ref }, 'deploy requested from the dashboard or API');
      return records.deploy(record, await serving(name));
    },

    async cancel(id, by) {
      const record = recordOf(id);
      const after = deployer.cancel(record.id, by);
      return records.deploy(after, await serving(record.site));
    },

    async rollback(name, release, by) {
      const site = siteOf(name);
      if (!isReleaseId(release)) throw new BerthError('E_RELEASE_NOT_FOUND', `"${release.slice(0, 64)}" is not a release id; ids look like 20261127T071500Z-1a2b3c4d`);
      const running = store.listDeploys({ site: name, limit: 20, states: [...ACTIVE] });
      if (running.length > 0) {
        // Its release would replace the one rolled back to as soon as it is published.
        throw new BerthError('E_DEPLOY_RUNNING', `Deploy ${running[0]?.id ?? ''} of ${name} is ${running[0]?.state ?? 'running'}; cancel it or wait for it to end, then roll back`);
      }
      const outcome = await rollBack({ dataDir: config.dataDir, site, release, by, store });
      if (outcome.recordError !== undefined) logger.warn({ site: name, release, err: outcome.recordError }, 'the rollback is done but is not in the deploy history');
      const lock = store.lockSite(name, { by, at: new Date().toISOString(), reason: `rolled back to ${release}` });
      logger.info({ site: name, release, by, deploy: outcome.deploy?.id }, 'rolled back from the dashboard or API; automatic deploys locked');
      const listed = (await releasesOf(name)).find((candidate) => candidate.id === release);
      if (listed === undefined) throw new BerthError('E_RELEASE_NOT_FOUND', `Release ${release} is gone`);
      return { release: listed, lock: records.lock(lock) as ApiLock, deploy: outcome.deploy === undefined ? null : records.deploy(outcome.deploy, await serving(name)) };
    },

    lock(name, by, reason) {
      siteOf(name);
      const lock = store.lockSite(name, { by, at: new Date().toISOString(), reason: reason === undefined || reason.trim() === '' ? undefined : [...reason.trim()].slice(0, 200).join('') });
      logger.info({ site: name, by }, 'automatic deploys locked');
      return records.lock(lock) as ApiLock;
    },

    unlock(name, by) {
      siteOf(name);
      if (store.unlockSite(name) !== undefined) logger.info({ site: name, by }, 'automatic deploys unlocked');
    },
  };
  return service;
}

/** A repository URL as shown: user and password taken out. */
function withoutCredentials(repo: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return repo;
  try {
    const url = new URL(repo);
    if (url.username === '' && url.password === '') return repo;
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return repo.replace(/\/\/[^@/]*@/, '//');
  }
}
