import { isDeepStrictEqual } from 'node:util';
import type { ResolvedConfig, ResolvedMetrics, ResolvedServer } from '../config/resolved-config.ts';
import { toWire } from './config-wire.ts';

/** A key `berth reload` cannot apply to a running server: it keeps its running value until `berth serve` restarts. */
export interface RestartOnlyChange {
  /** The key as written in berth.toml, e.g. `server.http_port`. */
  key: string;
  running: string;
  wanted: string;
}

export interface ConfigChanges {
  sitesAdded: string[];
  sitesRemoved: string[];
  sitesChanged: string[];
  /** Top-level tables other than `sites` whose resolved values differ (`server`, `acme`, `deploy`, `log`, `metrics`, `admin`, `notify`). */
  sectionsChanged: string[];
  restartOnly: RestartOnlyChange[];
}

/**
 * The keys a reload leaves as they run: the data dir holds the lock this
 * server runs under, and the service user owns the data dir. (The address
 * and ports are applied, by binding new sockets beside the running ones.)
 */
const RESTART_ONLY: ReadonlyArray<{ key: string; read: (config: ResolvedConfig) => unknown }> = [
  { key: 'data_dir', read: (config) => config.dataDir },
  { key: 'server.user', read: (config) => config.server.user },
  // The supervisor binds it once; the token is applied (it is read on each scrape).
  { key: 'metrics.listen', read: (config) => (config.metrics.listen === undefined ? 'false' : listenText(config.metrics.listen)) },
];

function listenText(address: { host: string; port: number }): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * What differs between the config a server runs and a new one, by site and
 * by table. Values are compared in their resolved form, secrets by value
 * (a changed secret file counts), and never included in the result.
 */
export function describeConfigChanges(running: ResolvedConfig, next: ResolvedConfig): ConfigChanges {
  const before = plain(running);
  const after = plain(next);
  const sitesBefore = new Map(running.sites.map((site, index) => [site.name, before.sites[index]]));
  const sitesAfter = new Map(next.sites.map((site, index) => [site.name, after.sites[index]]));
  const sitesAdded = [...sitesAfter.keys()].filter((name) => !sitesBefore.has(name));
  const sitesRemoved = [...sitesBefore.keys()].filter((name) => !sitesAfter.has(name));
  const sitesChanged = [...sitesAfter.keys()].filter((name) => sitesBefore.has(name) && !isDeepStrictEqual(sitesBefore.get(name), sitesAfter.get(name)));
  // Another order of the same sites changes which one a shared name falls to first.
  const order = (names: Iterable<string>): string[] => [...names].filter((name) => sitesBefore.has(name) && sitesAfter.has(name));
  if (sitesChanged.length === 0 && !isDeepStrictEqual(order(sitesBefore.keys()), order(sitesAfter.keys()))) sitesChanged.push(...order(sitesAfter.keys()));
  const sectionsChanged = (['server', 'acme', 'deploy', 'log', 'metrics', 'admin', 'notify'] as const).filter((section) => !isDeepStrictEqual(before[section], after[section]));
  const restartOnly = RESTART_ONLY.flatMap(({ key, read }) => {
    const was = read(running);
    const wanted = read(next);
    return was === wanted ? [] : [{ key, running: shown(was), wanted: shown(wanted) }];
  });
  return { sitesAdded, sitesRemoved, sitesChanged, sectionsChanged, restartOnly };
}

/** Whether a reload has anything to apply (keys that need a restart aside). */
export function hasAppliedChanges(running: ResolvedConfig, next: ResolvedConfig): boolean {
  return !isDeepStrictEqual(plain(running), plain(keepRestartOnly(running, next)));
}

/** Whether `next` listens elsewhere than `running`. */
export function listenChanged(running: ResolvedConfig, next: ResolvedConfig): boolean {
  return running.server.host !== next.server.host || running.server.httpPort !== next.server.httpPort || running.server.httpsPort !== next.server.httpsPort;
}

/** `next`, with the keys a reload does not apply (`RESTART_ONLY`) as `running` has them: what a reload runs. */
export function keepRestartOnly(running: ResolvedConfig, next: ResolvedConfig): ResolvedConfig {
  const server: ResolvedServer = { ...next.server, user: running.server.user };
  const metrics: ResolvedMetrics = { ...next.metrics, listen: running.metrics.listen };
  return Object.freeze({ ...next, dataDir: running.dataDir, server: Object.freeze(server), metrics: Object.freeze(metrics) });
}

interface PlainConfig {
  sites: unknown[];
  server: unknown;
  acme: unknown;
  deploy: unknown;
  log: unknown;
  metrics: unknown;
  admin: unknown;
  notify: unknown;
}

/** The config as plain data (secrets by value), for comparison only. */
function plain(config: ResolvedConfig): PlainConfig {
  return toWire(config).config as PlainConfig;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
