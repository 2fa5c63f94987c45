import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import { BerthError, isBerthError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { activateRelease } from '../releases/activate.ts';
import { publishRelease } from '../releases/publish.ts';
import { readManifest } from '../releases/read-manifest.ts';
import { activeReleaseId } from '../releases/release-list.ts';
import { pruneReleases } from '../releases/retain.ts';
import { withSiteLock } from '../releases/site-lock.ts';
import { sitePaths, type SitePaths } from '../releases/site-paths.ts';
import { reportDataDirModes, secureDataDir } from '../state/data-dir-modes.ts';
import type { StateStore } from '../state/state-store.ts';
import { respond } from '../static/respond.ts';
import { loadServedRelease } from '../static/served-release.ts';
import { restoreNodeModules, saveNodeModules } from './build-cache.ts';
import { prepareBuildDirs, handOverWorkDir, type BuildDirs } from './build-dirs.ts';
import { buildEnvironment } from './build-env.ts';
import { runBuild } from './build-runner.ts';
import { buildGroups, buildUserFor, type BuildUser } from './build-user.ts';
import { checkOutputSize } from './output-size.ts';
import { watchProcessCount, withProcessLimit } from './process-limit.ts';
import { resolveBuildSettings, resolvePublishDir } from './build-settings.ts';
import { openDeployLog, type DeployLog } from './deploy-log.ts';
import type { DeployPhases, DeployRecord } from './deploy-types.ts';
import { fetchCommit } from './git-source.ts';
import { recoverInterruptedDeploys } from './interrupted-deploys.ts';
import { workDirFor } from './work-dir.ts';

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
  // The deploy lock is ours, so an earlier deploy of this site that still
  // looks unfinished was cut short (a killed `berth deploy`): clean up after
  // it, and stop its build, before this one builds beside it.
  await recoverInterruptedDeploys({ config, store, logger }, { site: site.name, holdsDeployLock: true }).catch((error: unknown) => {
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
  try {
    store.updateDeploy(record.id, { state: 'building', startedAt: new Date().toISOString(), phases });
    if (site.repo === undefined) {
      throw new BerthError('E_DEPLOY_NO_REPO', `Site ${site.name} has no repo in the config; set sites.repo, or publish a directory with \`berth publish\``);
    }
    // A webhook's commit is a hint that the branch moved: the branch's tip is deployed (see fetchCommit's `pushed`).
    const pushed = record.trigger === 'webhook' ? record.sha : undefined;
    const exact = pushed === undefined ? record.sha : undefined;
    if (exact !== undefined && (await isLive(store, paths, site.name, exact))) return await skip(deps, record, log, exact);
    const siteNames = config.sites.map((candidate) => candidate.name);
    reportDataDirModes(await secureDataDir(config.dataDir, buildGroups(siteNames, config.deploy.buildUidBase)), logger, (text) => log.line(text));
    const user = buildUserFor(site.name, { sites: siteNames, base: config.deploy.buildUidBase });

    await rm(workDir, { recursive: true, force: true });
    const commit = await fetchCommit({
      repo: site.repo,
      cacheDir: join(paths.siteDir, 'source.git'),
      sha: exact,
      pushed,
      ref: pushed === undefined ? record.ref : `refs/heads/${site.branch}`,
      workDir,
      deployKeyFile: site.deployKeyFile,
      token: site.token?.reveal(),
      submodules: site.submodules,
      log: (line) => log.line(`git: ${line}`),
      signal,
    });
    endPhase('fetch');
    // The push's author and message describe the pushed commit, which is not always the one deployed.
    const described = commit.sha === record.sha;
    const current = store.updateDeploy(record.id, {
      sha: commit.sha,
      author: described ? record.author ?? commit.author : commit.author,
      message: described ? record.message ?? commit.message : commit.message,
      phases,
    });
    if (pushed !== undefined) log.line(`pushed ${pushed}, branch ${site.branch} is at ${commit.sha}: deploying ${commit.sha}`);
    log.line(`checked out ${commit.sha}: ${firstLine(commit.message)}`);
    if (exact === undefined && (await isLive(store, paths, site.name, commit.sha))) return await skip(deps, current, log, commit.sha);

    const cacheDir = join(paths.siteDir, 'cache');
    let settings = await resolveBuildSettings(site, workDir);
    let cacheKey: string | undefined;
    let dirs: BuildDirs | undefined;
    if (settings.command !== undefined) {
      // The site's own directories, owned so that no other site's build can reach them (build-dirs.ts).
      dirs = await prepareBuildDirs(paths, user);
      for (const path of dirs.discarded) log.line(`cache: discarded ${relative(paths.siteDir, path)}: it did not belong to this site's build user`);
      if (user !== undefined) {
        await assertEnterable(workDir, user);
        await handOverWorkDir(workDir, user);
      }
      // node_modules from the cache only where something is built with it (a
      // plain static site would otherwise publish it); with a hit, the
      // settings drop the install step that would delete it again.
      const restored = await restoreNodeModules(workDir, cacheDir, (line) => log.line(`cache: ${line}`), user?.uid);
      cacheKey = restored.key;
      if (restored.hit) settings = await resolveBuildSettings(site, workDir, { cacheHit: true });
    }
    store.updateDeploy(record.id, { buildSource: settings.source });
    log.line(`build settings from ${settings.source}: command ${settings.command === undefined ? '(none)' : JSON.stringify(settings.command)}, publish ${JSON.stringify(settings.publish)}`);
    for (const note of settings.notes) log.line(note);
    if (settings.command !== undefined) {
      const built = dirs ?? (await prepareBuildDirs(paths, user));
      log.line(
        user === undefined
          ? 'building as Berth\'s own user (Berth is not root): the build is not isolated from Berth or from other sites'
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
        await runLimitedBuild(site, user, signal, {
          command: settings.command,
          cwd: workDir,
          env: buildEnvironment(settings.environment, site.build.environment, { home: built.home, cacheDir, tmpDir: built.tmp }),
          timeoutMs: site.build.timeoutMs,
          log: (stream, line) => log.line(`${stream === 'stderr' ? 'err' : 'out'}| ${line}`),
          onStart: recordBuild,
        });
      } finally {
        recordBuild(undefined);
      }
      await saveNodeModules(workDir, cacheDir, (line) => log.line(`cache: ${line}`), cacheKey);
    }
    endPhase('build');

    store.updateDeploy(record.id, { state: 'publishing', phases });
    // Checked again now that the build ran: it may have made the output a link out of the checkout.
    const outputDir = await resolvePublishDir(workDir, settings.publish);
    await checkOutputSize(outputDir, site.build.maxOutputBytes, JSON.stringify(settings.publish));
    // Pruning waits for activation: a release that fails its check must not cost an old rollback target.
    // Every file is opened without following links and checked against the walk, and must stay inside the checkout.
    const published = await publishRelease({
      dataDir: config.dataDir,
      site: site.name,
      sourceDir: outputDir,
      within: workDir,
      // Whose hard links the output may hold (see openUntrusted): the build's user, else Berth's (no build ran).
      buildUid: settings.command !== undefined && user !== undefined ? user.uid : process.getuid?.(),
      retain: Number.MAX_SAFE_INTEGER,
      activate: false,
    });
    log.line(`published release ${published.id}: ${published.files} files, ${published.linked} unchanged and linked, ${published.compressed} precompressed`);
    endPhase('publish');

    await smokeCheck(published.releaseDir, published.id);
    const previous = await withSiteLock(paths.lockFile, async () => {
      const before = await activeReleaseId(paths);
      await activateRelease(paths, published.id);
      return before;
    });
    endPhase('smoke');
    if (deps.confirmServed !== undefined) {
      log.line(`release ${published.id} is in place; waiting for the serving workers to answer with it`);
      await confirmServed(deps.confirmServed, paths, site.name, published.id, previous, signal, logger);
    }
    // Only now: until the new release is served, the one before it must stay to go back to.
    await withSiteLock(paths.lockFile, () => pruneReleases(paths, site.retain));
    log.line(`release ${published.id} is live`);
    logger.info({ deploy: record.id, site: site.name, release: published.id, sha: commit.sha, phases }, 'deploy live');
    return store.updateDeploy(record.id, { state: 'live', releaseId: published.id, finishedAt: new Date().toISOString(), phases });
  } catch (error) {
    const code = isBerthError(error) ? error.code : 'E_DEPLOY_FAILED';
    const message = error instanceof Error ? error.message : String(error);
    log.line(`failed [${code}]: ${message}`);
    // A release that was switched to but not served says itself what is live now.
    if (code !== 'E_RELEASE_NOT_SERVED') log.line('the live release is unchanged');
    logger.warn({ deploy: record.id, site: site.name, code, message }, 'deploy failed');
    return store.updateDeploy(record.id, {
      state: signal?.aborted === true ? 'cancelled' : 'failed',
      finishedAt: new Date().toISOString(),
      phases,
      errorCode: code,
      errorMessage: message,
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
    await log.close();
  }
}

/**
 * The commit is what the site serves right now: nothing to build. Judged by
 * the active release (a rollback may have made an older commit live), not by
 * the newest successful deploy.
 */
async function isLive(store: StateStore, paths: ReturnType<typeof sitePaths>, site: string, sha: string): Promise<boolean> {
  const active = await activeReleaseId(paths);
  if (active === undefined) return false;
  const deployed = store.listDeploys({ site, states: ['live'], limit: 100 }).find((deploy) => deploy.releaseId === active);
  return deployed?.sha === sha;
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
    restored = `putting release ${previous ?? '(none)'} back failed too (${error instanceof Error ? error.message : String(error)}); run \`berth rollback --site ${site}\``;
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
 */
async function smokeCheck(releaseDir: string, id: string): Promise<void> {
  const manifest = await readManifest(releaseDir);
  const release = await loadServedRelease(manifest, releaseDir, { memoryFileMaxBytes: 0 });
  const reply = respond(release, { method: 'GET', url: '/', headers: {} }, { skipAuth: true });
  if (reply.status >= 400) {
    await rm(releaseDir, { recursive: true, force: true });
    throw new BerthError(
      'E_SMOKE_FAILED',
      `Release ${id} answers ${reply.status} for / (is there an index.html in the publish directory?); it was not made live`,
    );
  }
}

/**
 * Runs the build as `user` (Berth's own user when undefined) under the
 * site's process limit (process-limit.ts). When the build has a uid of its
 * own, reaching the limit stops it at once with `E_BUILD_PROCESS_LIMIT`.
 */
async function runLimitedBuild(
  site: ResolvedSite,
  user: BuildUser | undefined,
  signal: AbortSignal | undefined,
  options: Omit<Parameters<typeof runBuild>[0], 'signal' | 'uid' | 'gid'>,
): Promise<void> {
  const max = site.build.maxProcesses;
  const atLimit = new AbortController();
  const watch = user === undefined ? undefined : watchProcessCount(user.uid, max, () => atLimit.abort('it reached its process limit'));
  try {
    await runBuild({
      ...options,
      command: withProcessLimit(options.command, max),
      signal: signal === undefined ? atLimit.signal : AbortSignal.any([signal, atLimit.signal]),
      uid: user?.uid,
      gid: user?.gid,
      // The uid is this site's alone: whatever still runs as it after the build (a setsid'd
      // process included) is killed before the output is published.
      killUid: user?.uid,
    });
  } catch (error) {
    if (!atLimit.signal.aborted || signal?.aborted === true) throw error;
    throw new BerthError(
      'E_BUILD_PROCESS_LIMIT',
      `the build had ${max} processes and threads at once, the limit set by [sites.build] max_processes, and was stopped; find what starts so many in the log, or raise max_processes`,
      { cause: error },
    );
  } finally {
    watch?.stop();
  }
}

/**
 * Tools that resolve absolute paths (Node, npm, every generator) need to
 * enter each directory above the checkout. A data_dir under a private
 * directory would make every build fail with a confusing "not found", so say
 * which directory and what to do.
 */
async function assertEnterable(dir: string, user: BuildUser): Promise<void> {
  for (let current = dirname(dir); ; current = dirname(current)) {
    const info = await stat(current);
    const enterable =
      (info.mode & 0o001) !== 0 || (info.uid === user.uid && (info.mode & 0o100) !== 0) || (info.gid === user.gid && (info.mode & 0o010) !== 0);
    if (!enterable) {
      throw new BerthError(
        'E_BUILD_CONFIG',
        `Builds of this site run as ${user.name}, which cannot enter ${current} (mode ${(info.mode & 0o777).toString(8)}); allow it with \`chmod o+x ${current}\`, or put data_dir elsewhere`,
      );
    }
    if (current === dirname(current)) return;
  }
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 100 ? `${line.slice(0, 100)}…` : line;
}
