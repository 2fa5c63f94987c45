import type { ResolvedConfig } from '../config/resolved-config.ts';
import type { SecureDataDirResult } from '../state/data-dir-modes.ts';
import type { OutputStream } from './build-runner.ts';
import type { BuildSteps } from './build-settings.ts';
import type { BuildUser } from './build-user.ts';
import { createLocalBuildHost } from './local-build-host.ts';
import { createRemoteBuildHost } from './remote-build-host.ts';

/**
 * Every step of a build that needs root: making a site's build directories
 * owned by its build uid, handing the checkout to that uid and taking it
 * back, moving cached trees the uid owns, running the build as the uid with
 * its process limit, and killing what the uid left running. Everything
 * else of a deploy (git, settings, publish, the database) runs wherever the
 * deploy runs, which is an unprivileged control plane as shipped.
 *
 * Two implementations: the local one does the steps in this process (Berth
 * is root, or builds are not isolated at all); the remote one asks the root
 * parent over the Node IPC channel (app/build-host-server.ts answers). The
 * parent derives every uid and path from a site name and a deploy id and
 * the config it loaded itself; it never takes a path or a uid from the
 * asking process.
 */
export interface BuildHost {
  /**
   * `secureDataDir` with the build groups and the data dir's owner of the
   * process that can set them (see state/data-dir-modes.ts).
   */
  secureDataDir(): Promise<SecureDataDirResult>;
  /**
   * Makes the site's build directories, hands the checkout at
   * `sites/<site>/work/<deploy>` (Berth's until now) to the site's build
   * user, and moves the cached node_modules and root cache directories
   * into it.
   * @throws BerthError `E_BUILD_UNISOLATED` when builds cannot run as a user
   *   of their own and `[deploy] allow_unisolated_builds` is not set.
   */
  prepare(job: BuildJob): Promise<PreparedBuild>;
  /**
   * Runs the build command in the checkout as the site's build user, under
   * the site's timeout and process limit from the config; on success saves
   * node_modules to the cache. With `spec.steps`, runs the install step and
   * then the build step instead, sharing the timeout and output allowance,
   * and saves node_modules also when the build step fails or is cancelled
   * (never when the install does). Always kills what the build user left
   * running and, for an unprivileged Berth, gives the checkout back to its
   * user before it returns or throws (root reads it as it is).
   * @throws BerthError as `runBuild` does, and `E_BUILD_PROCESS_LIMIT`.
   */
  run(job: BuildJob, spec: BuildSpec, events: BuildEvents): Promise<void>;
  /**
   * Kills every process of the site's build uid, when builds have one and
   * no build of the site runs here. Call only while holding the site's
   * deploy lock. Returns the pids killed.
   */
  stopStrayProcesses(site: string): Promise<number[]>;
  /**
   * Gives a work directory an interrupted deploy left back to Berth's user,
   * so that it can be removed; false when it cannot be now (a process of the
   * site's build uid runs, or a build of the site runs here).
   */
  reclaimWorkDir(job: BuildJob): Promise<boolean>;
}

/** Which checkout: `sites/<site>/work/<deployId>`. */
export interface BuildJob {
  site: string;
  deployId: string;
}

export interface PreparedBuild {
  /** The user the build runs as; undefined: Berth's own (not isolated, allowed by the config). */
  user: BuildUser | undefined;
  /** `HOME` and `TMPDIR` for `buildEnvironment`. */
  home: string;
  tmp: string;
  /** Lines for the deploy log: discarded directories, what the cache restored. */
  notes: string[];
  /** node_modules for this lockfile came from the cache (the install step is to be left out). */
  cacheHit: boolean;
  /** The node_modules cache key, for `run` to save the tree under after a good build. */
  cacheKey: string | undefined;
}

export interface BuildSpec {
  /** Run with `sh -c`: the whole build, what runs when `steps` is absent. */
  command: string;
  /** The same build split into its install and build steps (see `BuildSteps`), when Berth can tell them apart. */
  steps?: BuildSteps;
  /** The complete environment (see `buildEnvironment`). */
  env: Record<string, string>;
  /** From `PreparedBuild.cacheKey`. */
  cacheKey: string | undefined;
}

export interface BuildEvents {
  /** Each output line of the build. */
  log(stream: OutputStream, line: string): void;
  /** Lines Berth writes about the build (the cache). */
  note(line: string): void;
  /** The build's process group, once it started. Must not throw. */
  onStart?(pgid: number): void;
  signal?: AbortSignal;
}

/** The value of BERTH_BUILD_HOST that makes a process ask its parent. */
export const BUILD_HOST_PARENT = 'parent';

/**
 * The build host this process uses: the root parent's when the process was
 * started as an unprivileged child with `BERTH_BUILD_HOST=parent` (and has
 * an IPC channel), else this process itself.
 */
export function buildHostFor(config: ResolvedConfig, env: NodeJS.ProcessEnv = process.env): BuildHost {
  if (env.BERTH_BUILD_HOST === BUILD_HOST_PARENT && process.send !== undefined) return createRemoteBuildHost();
  return createLocalBuildHost(config);
}
