import { lstat, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResolvedConfig, ResolvedSite } from '../config/resolved-config.ts';
import { BerthError } from '../errors.ts';
import { sitePaths, type SitePaths } from '../releases/site-paths.ts';
import { secureDataDir } from '../state/data-dir-modes.ts';
import { restoreNodeModules, saveNodeModules } from './build-cache.ts';
import { giveBackWorkDir, handOverWorkDir, prepareBuildDirs, type DirOwner } from './build-dirs.ts';
import type { BuildEvents, BuildHost, BuildJob, BuildSpec, PreparedBuild } from './build-host.ts';
import { runBuild, runningProcessesOf } from './build-runner.ts';
import { buildGroups, buildUserFor, type BuildUser } from './build-user.ts';
import { watchProcessCount, withProcessLimit } from './process-limit.ts';
import { isDeployId, workDirFor } from './work-dir.ts';

export interface LocalBuildHostOptions {
  /**
   * Berth's user: who owns the data dir and the site directories, and gets
   * the checkout back after a build. This process's user when absent; the
   * service user when a root parent builds for an unprivileged child.
   */
  owner?: DirOwner;
}

/** How long killed processes of a build uid get to be gone. */
const KILL_WAIT_MS = 5_000;
const POLL_MS = 25;

/**
 * The build host that does its steps in this process. Builds are isolated
 * (a uid per site, see build-user.ts) when this process is root; otherwise
 * they run as this process's user, which the config must allow.
 *
 * Everything a request names is checked here, so that a root parent can
 * pass on what an unprivileged child asked for: the site must be in the
 * config; the deploy id must have the form Berth gives ids (no separator,
 * no `..`); the checkout must be a real directory (not a link) directly in
 * the site's `work/`, itself a real directory, owned by whom the step
 * expects. Uids, timeouts and limits come from the config only.
 *
 * Limits: the check of a path and the `chown` that follows are two steps;
 * Berth's user, which owns `work/`, could swap the path in between. The
 * id's fixed form (no name of a system directory fits it), `chown -P -h`
 * (links changed, never followed) and the kernel's protected_hardlinks
 * (nobody links a file they may not write) bound what such a swap reaches.
 */
export function createLocalBuildHost(config: ResolvedConfig, options: LocalBuildHostOptions = {}): BuildHost {
  const owner = options.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const siteNames = config.sites.map((site) => site.name);
  /**
   * Gives the checkout back to Berth's user after a build. Not for root:
   * root reads and removes it as it is, and a checkout left to the build's
   * uid lets publishing tell the build's hard links from root's (see
   * openUntrusted's `linksOwnedBy`).
   */
  const giveBack = async (workDir: string, user: BuildUser): Promise<void> => {
    if (owner.uid !== 0) await giveBackWorkDir(workDir, user, owner);
  };
  /** Sites with a build (prepare to give-back) in progress here: one at a time each. */
  const building = new Set<string>();

  const siteOf = (name: string): ResolvedSite => {
    const site = config.sites.find((candidate) => candidate.name === name);
    if (site === undefined) throw new BerthError('E_SITE_UNKNOWN', `No site named ${JSON.stringify(name)} in ${config.configPath}`);
    return site;
  };
  const userOf = (site: string): BuildUser | undefined => buildUserFor(siteOf(site).name, { sites: siteNames, base: config.deploy.buildUidBase });

  /** The job's checkout, checked as described above; `ownedBy` the uid it must have now. */
  const checkout = async (job: BuildJob, ownedBy: number): Promise<{ site: ResolvedSite; paths: SitePaths; workDir: string }> => {
    const site = siteOf(job.site);
    if (!isDeployId(job.deployId)) {
      throw new BerthError('E_BUILD_CONFIG', `${JSON.stringify(String(job.deployId).slice(0, 40))} is not a deploy id (such as 20261127T085500Z-1a2b3c); no build directory was touched`);
    }
    const paths = sitePaths(config.dataDir, site.name);
    const workDir = workDirFor(config.dataDir, site.name, job.deployId);
    const root = await lstat(paths.workRoot).catch(() => undefined);
    const dir = await lstat(workDir).catch(() => undefined);
    const refuse = (why: string): never => {
      throw new BerthError('E_BUILD_CONFIG', `The checkout ${workDir} ${why}; no build directory was touched`);
    };
    if (root === undefined || !root.isDirectory() || root.uid !== owner.uid) refuse(`is not in a directory ${paths.workRoot} of Berth's user`);
    if (dir === undefined) refuse('does not exist');
    if (dir?.isSymbolicLink() === true) refuse('is a symbolic link');
    if (dir?.isDirectory() !== true) refuse('is not a directory');
    if (dir?.uid !== ownedBy) refuse(`belongs to uid ${dir?.uid}, not to uid ${ownedBy}`);
    if ((await realpath(workDir)) !== join(await realpath(paths.workRoot), job.deployId)) refuse(`is not inside ${paths.workRoot}`);
    return { site, paths, workDir };
  };

  /** Kills every process of `uid` (a site's build uid, never Berth's or root's) and waits until none runs. */
  const killAll = async (uid: number): Promise<number[]> => {
    if (uid === 0 || uid === owner.uid || uid === process.getuid?.()) return [];
    const killed = new Set<number>();
    const deadline = performance.now() + KILL_WAIT_MS;
    for (let left = runningProcessesOf(uid); left.length > 0; left = runningProcessesOf(uid)) {
      if (performance.now() >= deadline) {
        throw new BerthError('E_BUILD_FAILED', `processes of the build's user (uid ${uid}) were still running after SIGKILL: ${left.slice(0, 10).join(', ')}; look for processes stuck in the kernel (state D in ps)`);
      }
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.add(pid);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
      }
      await sleep(POLL_MS);
    }
    return [...killed];
  };

  /**
   * After a build step failed (or was stopped) that followed a good install
   * or a cache hit: node_modules is that install, so it goes back to the
   * cache as after a good build, with the same checks. Nothing of the
   * build's uid may run meanwhile. A failure here is noted, never thrown:
   * the build's own error is what the deploy reports.
   */
  const keepDependencies = async (workDir: string, cacheDir: string, user: BuildUser | undefined, key: string | undefined, note: (line: string) => void): Promise<void> => {
    try {
      if (user !== undefined) await killAll(user.uid);
      if (await saveNodeModules(workDir, cacheDir, note, key, { rootDirs: false })) {
        note('kept node_modules for the next deploy, which skips the install while the lockfile is unchanged: the dependencies were in place (installed, or from the cache) before the build step failed or was stopped');
      }
    } catch (error) {
      note(`node_modules could not be kept: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return {
    async secureDataDir() {
      return secureDataDir(config.dataDir, buildGroups(siteNames, config.deploy.buildUidBase), owner);
    },

    async prepare(job) {
      const user = userOf(job.site);
      if (user === undefined && !config.deploy.allowUnisolatedBuilds) throw unisolatedError();
      if (building.has(job.site)) throw new BerthError('E_SITE_LOCKED', `A build of site ${job.site} is already running`);
      const { paths, workDir } = await checkout(job, owner.uid);
      building.add(job.site);
      let handedOver = false;
      try {
        const notes: string[] = [];
        const dirs = await prepareBuildDirs(paths, user, owner);
        for (const path of dirs.discarded) notes.push(`cache: discarded ${path.slice(paths.siteDir.length + 1)}: it did not belong to this site's build user`);
        if (user !== undefined) {
          await assertEnterable(workDir, user);
          handedOver = true;
          await handOverWorkDir(workDir, user);
        }
        // node_modules from the cache only where something is built with it (a
        // plain static site would otherwise publish it).
        const restored = await restoreNodeModules(workDir, paths.cacheDir, (line) => notes.push(`cache: ${line}`), user?.uid);
        const prepared: PreparedBuild = { user, home: dirs.home, tmp: dirs.tmp, notes, cacheHit: restored.hit, cacheKey: restored.key };
        return prepared;
      } catch (error) {
        // No build ran: the checkout goes back at once, so that the deploy can remove it.
        if (handedOver && user !== undefined) await giveBack(workDir, user).catch(() => undefined);
        throw error;
      } finally {
        building.delete(job.site);
      }
    },

    async run(job: BuildJob, spec: BuildSpec, events: BuildEvents) {
      const user = userOf(job.site);
      if (user === undefined && !config.deploy.allowUnisolatedBuilds) throw unisolatedError();
      if (building.has(job.site)) throw new BerthError('E_SITE_LOCKED', `A build of site ${job.site} is already running`);
      const { site, paths, workDir } = await checkout(job, user?.uid ?? owner.uid);
      building.add(job.site);
      const note = (line: string): void => events.note(`cache: ${line}`);
      try {
        const started = performance.now();
        const step = (command: string, spent?: { outputBytes: number }, name?: string): ReturnType<typeof runBuild> =>
          runLimitedBuild(site, user, events.signal, {
            command,
            name,
            cwd: workDir,
            env: spec.env,
            timeoutMs: site.build.timeoutMs,
            log: events.log,
            onStart: events.onStart,
            spent: spent === undefined ? undefined : { ms: performance.now() - started, outputBytes: spent.outputBytes },
          });
        if (spec.steps === undefined) {
          await step(spec.command);
        } else {
          let spent = { outputBytes: 0 };
          if (spec.steps.install !== undefined) {
            events.note(`install step: ${spec.steps.install}`);
            // A failed or stopped install throws from here: its tree is never saved.
            spent = await step(spec.steps.install, undefined, `the install step (${spec.steps.install})`);
            events.note(`install step succeeded; build step: ${spec.steps.build}`);
          }
          try {
            await step(spec.steps.build, spent);
          } catch (error) {
            await keepDependencies(workDir, paths.cacheDir, user, spec.cacheKey, note);
            throw error;
          }
        }
        await saveNodeModules(workDir, paths.cacheDir, note, spec.cacheKey);
      } finally {
        try {
          if (user !== undefined) {
            // runBuild killed them already; a give-back beside a living process of the uid could be raced.
            await killAll(user.uid);
            await giveBack(workDir, user);
          }
        } finally {
          building.delete(job.site);
        }
      }
    },

    async stopStrayProcesses(site) {
      siteOf(site);
      if (building.has(site)) return [];
      let uid: number | undefined;
      try {
        uid = userOf(site)?.uid;
      } catch {
        // The uid belongs to an account (the deploy reports it): never kill an account's processes.
        return [];
      }
      return uid === undefined ? [] : killAll(uid);
    },

    async reclaimWorkDir(job) {
      const user = userOf(job.site);
      // Nothing was handed over (the checkout is Berth's user's), or Berth is root, who removes it as it is.
      if (user === undefined || owner.uid === 0) return true;
      if (building.has(job.site) || runningProcessesOf(user.uid).length > 0) return false;
      const found = await lstat(workDirFor(config.dataDir, job.site, job.deployId)).catch(() => undefined);
      if (found === undefined || (found.isDirectory() && found.uid === owner.uid)) return true;
      const { workDir } = await checkout(job, user.uid);
      await giveBack(workDir, user);
      return true;
    },
  };
}

function unisolatedError(): BerthError {
  return new BerthError(
    'E_BUILD_UNISOLATED',
    'The build was not run: Berth is not root and has no root parent to run it as a user of its own, so it would run as Berth\'s user and could read its certificates, keys and secrets and change every site; start Berth as root (it drops to [server] user), or set [deploy] allow_unisolated_builds = true to accept that',
  );
}

/** What dash, bash, busybox sh and Node print when a fork or spawn fails at the process limit. */
const FORK_FAILED = /\b(Cannot fork|fork: (retry: )?Resource temporarily unavailable|spawn EAGAIN)\b/;

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
): ReturnType<typeof runBuild> {
  const max = site.build.maxProcesses;
  const atLimit = new AbortController();
  const watch = user === undefined ? undefined : watchProcessCount(user.uid, max, () => atLimit.abort('it reached its process limit'));
  // The count is sampled, and a fork bomb's processes come and go between two looks; a shell
  // saying that a fork failed is the kernel's limit speaking, and ends the build as surely.
  const log: typeof options.log =
    user === undefined
      ? options.log
      : (stream, line) => {
          options.log(stream, line);
          if (stream === 'stderr' && !atLimit.signal.aborted && FORK_FAILED.test(line)) atLimit.abort('it reached its process limit');
        };
  try {
    return await runBuild({
      ...options,
      log,
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
