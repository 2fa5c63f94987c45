import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { fileLocator } from '../releases/file-locator.ts';
import { openManifest } from '../releases/read-manifest.ts';
import { sitePaths } from '../releases/site-paths.ts';
import type { PreparedCache } from '../static/prepared-file.ts';
import { loadServedRelease } from '../static/served-release.ts';
import type { SiteState, SiteTable } from './site-table.ts';

export interface ReleaseWatcher {
  /** Re-reads every site's `current` link now (SIGHUP does this too). */
  reloadAll(): Promise<void>;
  /** Resolves once every site's first load has ended (each site's `loading` is false); never rejects. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface WatchOptions {
  dataDir: string;
  /** Prepared answers, shared by every site and release of this process, so a switch builds only what changed. */
  prepared: PreparedCache;
  /** Safety-net re-check for filesystems where change events are unreliable (network mounts). */
  pollIntervalMs?: number;
  /** Told each time a site's release finished loading (and is now what requests get) or failed to load. */
  onRelease?: ((event: ReleaseEvent) => void) | undefined;
}

/** One site's release loaded (`ok`, now served) or not (`ok` false: the one before it keeps serving). */
export interface ReleaseEvent {
  site: string;
  release: string;
  ok: boolean;
}

/**
 * Keeps each site's served release equal to what its `current` link names.
 * `berth publish` and `berth rollback` only swap that link; the server notices
 * through a directory watch (inotify) within milliseconds, reads the new
 * release's manifest into its table (served-release.ts: the file list is
 * read a row at a time and no site file is read),
 * and only then swaps the reference requests read. A release
 * that fails to load is logged and the old one keeps serving.
 *
 * Returns as soon as the watches are set: the first loads run on (see
 * `ready`), so the caller's listeners answer while a big release loads.
 */
export async function watchReleases(table: SiteTable, options: WatchOptions, logger: Logger): Promise<ReleaseWatcher> {
  const watchers: FSWatcher[] = [];
  const reloaders = new Map<SiteState, () => Promise<void>>();

  for (const state of table.sites) {
    const paths = sitePaths(options.dataDir, state.config.name);
    await mkdir(paths.siteDir, { recursive: true });
    // A release that failed to load is not retried (and re-logged) every poll; a new link target is.
    const failed = { id: undefined as string | undefined };
    const reload = serialised(() => reloadSite(state, paths.currentLink, failed, options, logger));
    reloaders.set(state, reload);
    const watcher = watch(paths.siteDir, { persistent: false }, (_event, name) => {
      if (name === null || name === 'current') void reload();
    });
    watcher.on('error', (error) => logger.warn({ site: state.config.name, err: error }, 'release watch failed; relying on periodic checks'));
    watchers.push(watcher);
  }

  const reloadAll = async (): Promise<void> => {
    await Promise.all([...reloaders.values()].map((reload) => reload()));
  };
  // reloadSite logs its own failures and never rejects, so a site's first load always ends.
  const ready = Promise.all(
    [...reloaders].map(([state, reload]) =>
      reload().then(() => {
        state.loading = false;
      }),
    ),
  ).then(() => undefined);
  const timer = setInterval(() => void reloadAll(), options.pollIntervalMs ?? 2000);
  timer.unref();

  return {
    reloadAll,
    ready,
    close() {
      clearInterval(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

async function reloadSite(
  state: SiteState,
  currentLink: string,
  failed: { id: string | undefined },
  options: WatchOptions,
  logger: Logger,
): Promise<void> {
  let id: string;
  try {
    id = basename(await readlink(currentLink));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    logger.error({ site: state.config.name, err: error }, 'cannot read the current release link');
    return;
  }
  if (state.release?.id === id || failed.id === id) return;
  const releaseDir = join(currentLink, '..', 'releases', id);
  try {
    const started = performance.now();
    const manifest = await openManifest(releaseDir);
    const release = await loadServedRelease(manifest, fileLocator(manifest, releaseDir), {
      prepared: options.prepared,
      siteUsers: state.config.basicAuth,
      configuredHsts: state.config.hsts !== undefined,
    });
    const previous = state.release?.id;
    state.release = release;
    failed.id = undefined;
    logger.info(
      { site: state.config.name, release: id, previous, files: release.files.count, ms: Math.round(performance.now() - started) },
      'release active',
    );
  } catch (error) {
    failed.id = id;
    logger.error(
      { site: state.config.name, release: id, err: error },
      state.release === undefined ? 'cannot load release; the site has no release to serve' : 'cannot load release; still serving the previous one',
    );
    tell(options, { site: state.config.name, release: id, ok: false }, logger);
    return;
  }
  tell(options, { site: state.config.name, release: id, ok: true }, logger);
}

/** The listener is someone else's code: its failure is logged, never a reason to stop watching. */
function tell(options: WatchOptions, event: ReleaseEvent, logger: Logger): void {
  try {
    options.onRelease?.(event);
  } catch (error) {
    logger.error({ site: event.site, release: event.release, err: error }, 'the release listener failed');
  }
}

/**
 * Runs `work` one at a time: a call during a run schedules one more run after
 * it (several calls meanwhile collapse into that one), so the last change always wins.
 */
function serialised(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await work();
      } while (again);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  return run;
}
