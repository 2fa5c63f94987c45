import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import { shellWord } from '../shell-quote.ts';
import { BerthError, isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { activateRelease } from '../releases/activate.ts';
import { publishRelease, type PublishResult } from '../releases/publish.ts';
import { fileLocator } from '../releases/file-locator.ts';
import type { Manifest } from '../releases/manifest.ts';
import { filesForRoot } from '../releases/smoke-files.ts';
import { activeReleaseId } from '../releases/release-list.ts';
import { fsReleaseStore } from '../releases/fs-release-store.ts';
import { pruneReleases } from '../releases/retain.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { sitePaths, type SitePaths } from '../releases/site-paths.ts';
import { reportDataDirModes } from '../state/data-dir-modes.ts';
import type { StateStore } from '../state/state-store.ts';
import { respond } from '../static/respond.ts';
import { loadServedRelease } from '../static/served-release.ts';
import { buildEnvironment } from './build-env.ts';
import { buildHostFor, type BuildHost, type PreparedBuild } from './build-host.ts';
import { checkOutputSize, outputSizeError } from './output-size.ts';
import { resolveBuildSettings, resolvePublishDir, type BuildSettings } from './build-settings.ts';
import { openCommitTree, type CommitTree } from './commit-tree.ts';
import { openDeployLog, type DeployLog } from './deploy-log.ts';
import type { DeployPhases, DeployRecord } from './deploy-types.ts';
import { fetchCommit, maintainCache, type FetchedCommit } from './git-source.ts';
import { gitTreeSource } from './git-tree-source.ts';
import { recoverInterruptedDeploys } from './interrupted-deploys.ts';
import { commitFiles } from './repo-files.ts';
import { workDirFor } from './work-dir.ts';
import { withoutOutputTail } from './build-runner.ts';

export interface DeployDeps {
  config: ResolvedConfig;
  store: StateStore;
  logger: Logger;
  /** Receives every log line as written (progress on a terminal). */
  echo?: (line: string) => void;
  /**
   * Resolves once every serving worker answers with `release` for `site`,
   * rejects (with a message naming the workers that did not, and why) when
   * they cannot. Given by a running server; a deploy without one (`berth
   * deploy` with no server) is live as soon as the `current` link moved.
   */
  confirmServed?: ConfirmServed;
  /** Runs the privileged steps of builds; `buildHostFor(config)` when absent. */
  buildHost?: BuildHost;
}

export type ConfirmServed = (site: string, release: string) => Promise<void>;

export { workDirFor } from './work-dir.ts';

/**
 * One deploy, start to end: fetch the exact commit into a fresh directory,
 * build it, publish the output as a release, check it answers `/`, and only
 * then make it live. Any failure leaves the live release as it was and is
 * recorded on the deploy with its code. Never throws for a deploy failure;
 * returns the final record.
 */
export async function runDeploy(deps: DeployDeps, record: DeployRecord, signal?: AbortSignal): Promise<DeployRecord> {
  const { config, store } = deps;
  const site = config.sites.find((candidate) => candidate.name === record.site);
  if (site === undefined) {
    return store.updateDeploy(record.id, {
      state: 'failed',
      finishedAt: new Date().toISOString(),
      errorCode: 'E_SITE_UNKNOWN',
      errorMessage: `Site ${record.site} is no longer in the config`,
    });
  }
  const paths = sitePaths(config.dataDir, site.name);
  try {
    await mkdir(paths.siteDir, { recursive: true });
    // One deploy per site at a time, also between a server and a `berth deploy` run.
    return await withSiteLock(join(paths.siteDir, '.deploy.lock'), () => deployLocked(deps, site, record, signal), site.build.timeoutMs + 10 * 60_000);
  } catch (error) {
    // Failed before the deploy's own error handling could run (the lock, the log file).
    const code = isBerthError(error) ? error.code : 'E_DEPLOY_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    deps.logger.warn({ deploy: record.id, site: site.name, code, message }, 'deploy failed');
    return store.updateDeploy(record.id, { state: 'failed', finishedAt: new Date().toISOString(), errorCode: code, errorMessage: message });
  }
}

async function deployLocked(deps: DeployDeps, site: ResolvedSite, record: DeployRecord, signal: AbortSignal | undefined): Promise<DeployRecord> {
  const { config, store, logger } = deps;
  const host = deps.buildHost ?? buildHostFor(config);
  // The deploy lock is ours, so an earlier deploy of this site that still
  // looks unfinished was cut short (a killed `berth deploy`): clean up after
  // it, and stop its build, before this one builds beside it.
  await recoverInterruptedDeploys({ config, store, logger, buildHost: host }, { site: site.name, holdsDeployLock: true }).catch((error: unknown) => {
    logger.warn({ site: site.name, err: error }, 'cannot clean up after an interrupted deploy');
  });
  const paths = sitePaths(config.dataDir, site.name);
  const workDir = workDirFor(config.dataDir, site.name, record.id);
  const log = await openDeployLog(config.dataDir, record.id, deps.echo);
  const phases: DeployPhases = { queued: Date.now() - Date.parse(record.createdAt) };
  let phaseStart = performance.now();
  const endPhase = (name: keyof DeployPhases): void => {
    phases[name] = Math.round(performance.now() - phaseStart);
    phaseStart = performance.now();
  };
  logger.info({ deploy: record.id, site: site.name, ref: record.ref, sha: record.sha, trigger: record.trigger }, 'deploy started');
  log.line(`deploy ${record.id}: site ${site.name}, ${record.ref}${record.sha === undefined ? '' : ` at ${record.sha}`} (${record.trigger}${record.forge === undefined ? '' : ` from ${record.forge}`})`);
  // The commit's tree, for a site with no build: its files are read from it, not from a checkout.
  let tree: CommitTree | undefined;
  // Set once git has fetched into the site's cached clone, whose housekeeping then follows the deploy.
  let fetchedWith: Parameters<typeof maintainCache>[0] | undefined;
  // After the site is live or the deploy failed, and before its end is recorded: whoever waits for the
  // deploy to end (a test, a backup after it) finds nothing still changing in the site's directory.
  const tidyCache = async (): Promise<void> => {
    const access = fetchedWith;
    fetchedWith = undefined;
    if (access === undefined) return;
    await maintainCache(access).catch((error: unknown) => {
      logger.warn({ site: site.name, err: error }, 'cannot tidy the cached clone; the next deploy tries again');
    });
  };
  try {
    store.updateDeploy(record.id, { state: 'building', startedAt: new Date().toISOString(), phases });
    if (site.repo === undefined) {
      throw new BerthError('E_DEPLOY_NO_REPO', `Site ${site.name} has no repo in the config; set sites.repo, or publish a directory with \`berth publish\``);
    }
    // A webhook's commit is a hint that the branch moved: the branch's tip is deployed (see fetchCommit's `pushed`).
    const pushed = record.trigger === 'webhook' ? record.sha : undefined;
    const exact = pushed === undefined ? record.sha : undefined;
    if (exact !== undefined && (await isLive(store, paths, site.name, exact))) return await skip(deps, record, log, exact);
    reportDataDirModes(await host.secureDataDir(), logger, (text) => log.line(text));

    await rm(workDir, { recursive: true, force: true });
    const gitAccess = {
      repo: site.repo,
      cacheDir: paths.sourceDir,
      deployKeyFile: site.deployKeyFile,
      token: site.token?.reveal(),
      submodules: site.submodules,
      log: (line: string) => log.line(`git: ${line}`),
      signal,
    };
    // Fetched into the cache only: whether the commit is checked out at all depends on its build settings.
    fetchedWith = gitAccess;
    const commit = await fetchCommit({ ...gitAccess, sha: exact, pushed, ref: pushed === undefined ? record.ref : `refs/heads/${site.branch}` });
    // The push's author and message describe the pushed commit, which is not always the one deployed.
    const described = commit.sha === record.sha;
    const current = store.updateDeploy(record.id, {
      sha: commit.sha,
      author: described ? record.author ?? commit.author : commit.author,
      message: described ? record.message ?? commit.message : commit.message,
      phases,
    });
    if (pushed !== undefined) log.line(`pushed ${pushed}, branch ${site.branch} is at ${commit.sha}: deploying ${commit.sha}`);
    log.line(`fetched ${commit.sha}: ${firstLine(commit.message)}`);
    if (exact === undefined && (await isLive(store, paths, site.name, commit.sha))) return await skip(deps, current, log, commit.sha);

    const cacheDir = join(paths.siteDir, 'cache');
    // A site with nothing to build is published from the commit in the cache, never checked out (see
    // git-tree-source.ts). The settings are read from the commit to find out, unless the server's config
    // names a command; a site with submodules is always checked out, since they are not in the cache.
    let fromCommit: BuildSettings | undefined;
    if (site.build.command === undefined && !site.submodules) {
      // One listing of the whole tree serves both the settings and the publish (each git command costs a
      // process, and a second listing of a big tree costs its size again). A site that turns out to build
      // drops it: its checkout, which follows, costs more than the listing. Only a commit too big to list
      // (over MAX_TREE_ENTRIES, which its publish could not read either) is looked at by its root.
      const whole = await openCommitTree(paths.sourceDir, commit.sha, { code: 'E_GIT_CHECKOUT', tree: commit.tree }).catch(() => undefined);
      const root = whole ?? (await openCommitTree(paths.sourceDir, commit.sha, { code: 'E_GIT_CHECKOUT', rootOnly: true, tree: commit.tree }));
      try {
        fromCommit = await resolveBuildSettings(site, commitFiles(root));
      } catch (error) {
        await root.close();
        throw error;
      }
      if (whole === undefined) await root.close();
      if (fromCommit.command === undefined) {
        tree = whole ?? (await openCommitTree(paths.sourceDir, commit.sha, { code: 'E_GIT_CHECKOUT', tree: commit.tree }));
      } else {
        await whole?.close();
      }
    }
    if (tree === undefined) {
      await fetchCommit({ ...gitAccess, sha: commit.sha, ref: record.ref, workDir });
      log.line(`checked out ${commit.sha}`);
    }
    endPhase('fetch');
    let settings = (tree === undefined ? undefined : fromCommit) ?? (await resolveBuildSettings(site, workDir));
    let prepared: PreparedBuild | undefined;
    if (settings.command !== undefined) {
      // Read while the checkout is still Berth's: once handed to the build user, an unprivileged Berth cannot read it.
      const withCache = await resolveBuildSettings(site, workDir, { cacheHit: true });
      // The site's own directories, owned so that no other site's build can reach them (build-dirs.ts); the
      // checkout handed to the build user; node_modules from the cache only where something is built with it (a
      // plain static site would otherwise publish it). With a hit, the settings drop the install step that would
      // delete it again.
      try {
        prepared = await host.prepare({ site: site.name, deployId: record.id });
      } catch (error) {
        if (isBerthError(error) && error.code === 'E_BUILD_UNISOLATED') log.line(`not building: ${error.message}`);
        throw error;
      }
      for (const note of prepared.notes) log.line(note);
      if (prepared.cacheHit) settings = withCache;
    }
    store.updateDeploy(record.id, { buildSource: settings.source });
    log.line(`build settings from ${settings.source}: command ${settings.command === undefined ? '(none)' : JSON.stringify(settings.command)}, publish ${JSON.stringify(settings.publish)}`);
    for (const note of settings.notes) log.line(note);
    if (settings.command !== undefined && prepared !== undefined) {
      const { user } = prepared;
      log.line(
        user === undefined
          ? 'building as Berth\'s own user, not isolated from Berth or from other sites: Berth is not root and has no root parent, and [deploy] allow_unisolated_builds = true allows it'
          : `building as uid ${user.uid} and gid ${user.gid}, this site's own`,
      );
      // Kept on the deploy while the build runs: if this process is killed, whoever finds the deploy interrupted stops the build.
      const recordBuild = (pgid: number | undefined): void => {
        try {
          store.recordBuildProcess(record.id, pgid);
        } catch (error) {
          logger.warn({ deploy: record.id, err: error }, 'cannot record the build process');
        }
      };
      try {
        // Also saves node_modules after a good build (and after a failed build step that followed a good install), and
        // gives the checkout back to Berth's user in every case.
        await host.run(
          { site: site.name, deployId: record.id },
          {
            command: settings.command,
            // Two steps where Berth can split them: node_modules is then kept when only the build step fails.
            steps: settings.steps,
            env: buildEnvironment(settings.environment, site.build.environment, { home: prepared.home, cacheDir, tmpDir: prepared.tmp }),
            cacheKey: prepared.cacheKey,
          },
          {
            // Paths in the per-deploy checkout are shown as the repository's own (src/pages/about.astro:2:53).
            log: (stream, line) => log.line(`${stream === 'stderr' ? 'err' : 'out'}| ${line.replaceAll(`${workDir}/`, '')}`),
            note: (line) => log.line(line),
            onStart: recordBuild,
            signal,
          },
        );
      } finally {
        recordBuild(undefined);
      }
    }
    endPhase('build');

    store.updateDeploy(record.id, { state: 'publishing', phases });
    const publishOutput = async (): Promise<PublishResult> => {
      // Checked again now that the build ran: it may have made the output a link out of the checkout.
      const outputDir = await resolvePublishDir(workDir, settings.publish);
      await checkOutputSize(outputDir, site.build.maxOutputBytes, JSON.stringify(settings.publish));
      // Every file is opened without following links and checked against the walk, and must stay inside the checkout.
      return publishRelease({
        dataDir: config.dataDir,
        site: site.name,
        sourceDir: outputDir,
        within: workDir,
        // Whose hard links the output may hold (see openUntrusted): the build's user when Berth is root (the
        // checkout stays the build's), else Berth's, who owns the checkout again after a build (or made it).
        buildUid: prepared?.user !== undefined && process.getuid?.() === 0 ? prepared.user.uid : process.getuid?.(),
        commit: commit.sha,
        retain: Number.MAX_SAFE_INTEGER,
        activate: false,
      });
    };
    // Pruning waits for activation: a release that fails its check must not cost an old rollback target.
    const published = tree !== undefined ? await publishFromCommit(config, site, tree, settings.publish, commit, log) : await publishOutput();
    log.line(
      `published release ${published.id}: ${published.files} files, ${published.unchanged} unchanged (not read), ${published.known} read and already stored, ${published.stored} new to the store, ${published.compressed} precompressed`,
    );
    endPhase('publish');

    await smokeCheck(published.manifest, published.releaseDir);
    endPhase('smoke');
    const previous = await withSiteLock(paths.lockFile, async () => {
      const before = await activeReleaseId(paths);
      await activateRelease(paths, published.id);
      return before;
    });
    if (deps.confirmServed !== undefined) {
      log.line(`release ${published.id} is in place; waiting for the serving workers to answer with it`);
      await confirmServed(deps.confirmServed, paths, site.name, published.id, previous, signal, logger, deps.config.configPath);
    }
    endPhase('activate');
    // Only now: until the new release is served, the one before it must stay to go back to.
    const pruned = await withSiteLock(paths.lockFile, () => pruneReleases(paths, site.retain));
    log.line(`release ${published.id} is live`);
    await tidyCache();
    logger.info({ deploy: record.id, site: site.name, release: published.id, sha: commit.sha, phases }, 'deploy live');
    if (pruned.length > 0) await sweepAfterPrune(paths, log, logger, site.name);
    return store.updateDeploy(record.id, { state: 'live', releaseId: published.id, finishedAt: new Date().toISOString(), phases });
  } catch (error) {
    const code = isBerthError(error) ? error.code : 'E_DEPLOY_FAILED';
    const message = (error instanceof Error ? error.message : String(error)).replaceAll(`${workDir}/`, '');
    // A failed build's message ends with the last lines of its output, which the log has just shown.
    log.line(`failed [${code}]: ${code === 'E_BUILD_FAILED' ? withoutOutputTail(message) : message}`);
    // A release that was switched to but not served says itself what is live now; with none live, nothing is said to be.
    if (code !== 'E_RELEASE_NOT_SERVED') {
      const live = await activeReleaseId(paths).catch(() => undefined);
      log.line(live === undefined ? `${site.name} has no live release yet` : `the live release is unchanged (${live})`);
    }
    await tidyCache();
    logger.warn({ deploy: record.id, site: site.name, code, message }, 'deploy failed');
    return store.updateDeploy(record.id, {
      state: signal?.aborted === true ? 'cancelled' : 'failed',
      finishedAt: new Date().toISOString(),
      phases,
      errorCode: code,
      errorMessage: message,
    });
  } finally {
    await tree?.close();
    await removeWorkDir(host, { site: site.name, deployId: record.id }, workDir, logger);
    await tidyCache();
    await log.close();
  }
}

/**
 * Removes the checkout. One the build user still owns (the deploy failed
 * between handing it over and the build) cannot be removed by an
 * unprivileged Berth: the build host gives it back first. What cannot be
 * removed now is left to the interrupted-deploy cleanup, with a warning.
 */
async function removeWorkDir(host: BuildHost, job: { site: string; deployId: string }, workDir: string, logger: Logger): Promise<void> {
  try {
    await rm(workDir, { recursive: true, force: true });
    return;
  } catch {
    // Not Berth's user's any more: ask for it back, below.
  }
  try {
    await host.reclaimWorkDir(job);
    await rm(workDir, { recursive: true, force: true });
  } catch (error) {
    logger.warn({ deploy: job.deployId, site: job.site, err: error }, 'cannot remove the work directory of a deploy; it is removed later');
  }
}

/**
 * Publishes the publish directory of a commit with nothing to build, read
 * from the site's cached clone (git-tree-source.ts): only the blobs whose
 * ids the live release does not already record are read.
 */
async function publishFromCommit(
  config: ResolvedConfig,
  site: ResolvedSite,
  tree: CommitTree,
  publish: string,
  commit: FetchedCommit,
  log: DeployLog,
): Promise<PublishResult> {
  const source = await gitTreeSource(tree, { publish, mtimeMs: commit.committedAtMs });
  if (source.bytes > site.build.maxOutputBytes) throw outputSizeError(site.build.maxOutputBytes, JSON.stringify(publish));
  const published = await publishRelease({ dataDir: config.dataDir, site: site.name, source, commit: commit.sha, retain: Number.MAX_SAFE_INTEGER, activate: false });
  log.line(`no build: read ${source.opened} changed of ${published.files} files from git`);
  return published;
}

/**
 * The commit is what the site serves right now: nothing to build. Judged by
 * the active release (a rollback may have made an older commit live), not by
 * the newest successful deploy.
 */
async function isLive(store: StateStore, paths: ReturnType<typeof sitePaths>, site: string, sha: string): Promise<boolean> {
  const serving = store.servingDeploy(site, await activeReleaseId(paths));
  return serving !== undefined && store.getDeploy(serving)?.sha === sha;
}

async function skip(deps: DeployDeps, record: DeployRecord, log: DeployLog, sha: string): Promise<DeployRecord> {
  log.line(`commit ${sha} is already live; nothing to do`);
  return deps.store.updateDeploy(record.id, { state: 'skipped', sha, finishedAt: new Date().toISOString() });
}

/**
 * Waits for the serving workers to answer with the release the `current`
 * link now names. When they do not (or the deploy is cancelled meanwhile),
 * the link goes back to the release that was live before (or is removed if
 * there was none), so the link, the workers and the deploy history agree
 * again, and the deploy fails with `E_RELEASE_NOT_SERVED`. The link is only
 * put back if it still names this release: a `berth rollback` or `berth
 * publish` that moved it meanwhile wins.
 */
async function confirmServed(
  confirm: ConfirmServed,
  paths: SitePaths,
  site: string,
  id: string,
  previous: string | undefined,
  signal: AbortSignal | undefined,
  logger: Logger,
  configPath: string,
): Promise<void> {
  let reason: string;
  try {
    await untilAborted(confirm(site, id), signal);
    return;
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  let restored: string;
  try {
    restored = await withSiteLock(paths.lockFile, async () => {
      if ((await activeReleaseId(paths)) !== id) return 'the current link had been moved meanwhile and was left as it was';
      if (previous === undefined) {
        await rm(paths.currentLink, { force: true });
        return 'the site has no live release again';
      }
      await activateRelease(paths, previous);
      return `release ${previous} is live again`;
    });
  } catch (error) {
    logger.error({ site, release: id, previous, err: error }, 'cannot put the previous release back after the new one was not served');
    restored = `putting release ${previous ?? '(none)'} back failed too (${error instanceof Error ? error.message : String(error)}); run \`berth rollback --site ${site} --config ${shellWord(configPath)}\``;
  }
  throw new BerthError('E_RELEASE_NOT_SERVED', `Release ${id} was switched to but not served: ${reason}; ${restored}`);
}

/** `work`, or a rejection as soon as `signal` aborts (a stopping server must not wait on workers that are gone). */
function untilAborted(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  if (signal.aborted) return Promise.reject(new Error('the deploy was cancelled'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('the deploy was cancelled before the serving workers answered'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Asks the new release for `/` the way the server would, before it goes
 * live: a build that produced no index page (or a broken redirect) fails
 * here and never replaces a working site. The failed release is removed.
 * `/` is asked as a visitor past every Basic-Auth gate would ask it, so a
 * site whose pages all need a password is checked for what is behind the
 * password, not let through on the 401 it gives everyone else.
 *
 * Costs what `/` needs, not what the site holds: the answer is computed from
 * the files `/` can reach (smoke-files.ts), read from the manifest in hand.
 */
async function smokeCheck(manifest: Manifest, releaseDir: string): Promise<void> {
  const small: Manifest = { ...manifest, files: filesForRoot(manifest) };
  const release = await loadServedRelease(small, fileLocator(manifest, releaseDir));
  const reply = respond(release, { method: 'GET', url: '/', headers: {} }, { skipAuth: true });
  if (reply.status >= 400) {
    await rm(releaseDir, { recursive: true, force: true });
    throw new BerthError(
      'E_SMOKE_FAILED',
      `Release ${manifest.id} answers ${reply.status} for / (is there an index.html in the publish directory?); it was not made live`,
    );
  }
}

/** Removes the objects only pruned releases named; a failure is logged, never the deploy's (the next sweep retries). */
async function sweepAfterPrune(paths: SitePaths, log: DeployLog, logger: Logger, site: string): Promise<void> {
  try {
    const swept = await fsReleaseStore(paths).sweep();
    if (swept.objects > 0) log.line(`removed ${swept.objects} objects no kept release names`);
  } catch (error) {
    logger.warn({ site, err: error }, 'cannot sweep the release store; the next deploy or start tries again');
  }
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 100 ? `${line.slice(0, 100)}…` : line;
}
