/**
 * What each live serving worker serves, as the workers report it, so that
 * the control plane can learn when a release it switched to is what every
 * worker answers with (a deploy is `live` only then).
 */
export interface ServedReleases {
  /** A worker started: it counts from now on, and has served nothing yet. */
  add(worker: number): void;
  /** A worker finished loading a release of a site (`ok`), or failed to (it keeps serving the one before). */
  report(worker: number, site: string, release: string, ok: boolean): void;
  /** A worker is gone: it no longer counts. */
  remove(worker: number): void;
  /**
   * Resolves once every live worker serves `release` of `site`; rejects when
   * one reports it failed to load it, when no worker is left, or after
   * `timeoutMs`.
   */
  confirm(site: string, release: string, timeoutMs: number): Promise<void>;
}

interface Waiter {
  site: string;
  release: string;
  settle(error?: Error): void;
}

export function createServedReleases(): ServedReleases {
  /** Per worker, per site: the last release it reported and whether it loaded. */
  const workers = new Map<number, Map<string, { release: string; ok: boolean }>>();
  const waiters = new Set<Waiter>();

  const check = (waiter: Waiter): void => {
    if (workers.size === 0) {
      waiter.settle(new Error('no serving worker is running'));
      return;
    }
    let all = true;
    for (const [pid, sites] of workers) {
      const last = sites.get(waiter.site);
      if (last?.release === waiter.release && !last.ok) {
        waiter.settle(new Error(`worker ${pid} could not load release ${waiter.release} of site ${waiter.site}`));
        return;
      }
      if (last?.release !== waiter.release) all = false;
    }
    if (all) waiter.settle();
  };
  const checkAll = (): void => {
    for (const waiter of [...waiters]) check(waiter);
  };

  return {
    add(worker) {
      workers.set(worker, new Map());
    },
    report(worker, site, release, ok) {
      const sites = workers.get(worker);
      if (sites === undefined) return;
      sites.set(site, { release, ok });
      checkAll();
    },
    remove(worker) {
      workers.delete(worker);
      checkAll();
    },
    confirm(site, release, timeoutMs) {
      return new Promise((resolve, reject) => {
        const waiter: Waiter = {
          site,
          release,
          settle: (error) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            if (error === undefined) resolve();
            else reject(error);
          },
        };
        const timer = setTimeout(() => {
          const behind = [...workers].filter(([, sites]) => sites.get(site)?.release !== release).map(([pid]) => pid);
          waiter.settle(new Error(`worker${behind.length === 1 ? '' : 's'} ${behind.join(', ')} did not serve release ${release} of site ${site} within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        waiters.add(waiter);
        check(waiter);
      });
    },
  };
}
