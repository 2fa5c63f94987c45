import { isAbsolute } from 'node:path';
import { BerthError } from '../errors.ts';
import { createSecret } from '../config/secret.ts';
import type { ResolvedConfig, Secret } from '../config/resolved-config.ts';

/**
 * The resolved config as the supervisor sends it to its children over the
 * IPC channel (JSON), so that no child reads or validates berth.toml again:
 * a child gets exactly what the supervisor checked, even if the file has
 * changed since.
 *
 * A `Secret` cannot be cloned (its value is behind a method): it travels as
 * `{ secret, source }` and is wrapped again on arrival. The channel is a
 * socket pair between a parent and its own child, readable by nobody else;
 * the value is never logged on either side.
 */
export interface WireConfig {
  berthConfig: typeof WIRE_VERSION;
  config: unknown;
}

/** Bumped when the shape changes, so that a child of another Berth version refuses instead of guessing. */
export const WIRE_VERSION = 1;

interface WireSecret {
  secret: string;
  source: string;
}

export function toWire(config: ResolvedConfig): WireConfig {
  return { berthConfig: WIRE_VERSION, config: encode(config) };
}

function encode(value: unknown): unknown {
  if (isSecret(value)) return { secret: value.reveal(), source: value.source } satisfies WireSecret;
  if (Array.isArray(value)) return value.map(encode);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) if (field !== undefined) out[key] = encode(field);
    return out;
  }
  return value;
}

function isSecret(value: unknown): value is Secret {
  return typeof value === 'object' && value !== null && typeof (value as Secret).reveal === 'function' && typeof (value as Secret).source === 'string';
}

/**
 * The config back from its wire form, frozen. Throws `E_CONFIG_WIRE` naming
 * the first field that is missing or of the wrong type: the sender is
 * another Berth (an older one during an upgrade) or something that is not
 * Berth at all, and a child must not start on a guess.
 *
 * The check covers the shape every child reads; values were validated by
 * the supervisor's `loadConfig` and are not judged again.
 */
export function fromWire(wire: unknown): ResolvedConfig {
  const root = object(wire, 'the message');
  if (root.berthConfig !== WIRE_VERSION) {
    throw unusable(`it is not config version ${WIRE_VERSION} (got ${typeof root.berthConfig === 'number' ? root.berthConfig : shown(root.berthConfig)}); run the supervisor and its children from the same Berth installation`);
  }
  const config = object(root.config, 'config');
  string(config.configPath, 'configPath');
  const dataDir = string(config.dataDir, 'dataDir');
  if (!isAbsolute(dataDir)) throw unusable(`dataDir is not an absolute path (${shown(dataDir)})`);
  const server = object(config.server, 'server');
  string(server.host, 'server.host');
  for (const key of ['httpPort', 'httpsPort'] as const) {
    if (server[key] !== false && !isInteger(server[key], 0, 65535)) throw unusable(`server.${key} is not a port or false (${shown(server[key])})`);
  }
  object(server.tls, 'server.tls');
  for (const key of ['headersTimeoutMs', 'requestTimeoutMs', 'idleTimeoutMs', 'maxHeaderBytes', 'maxConnections', 'memoryCacheBytes', 'shutdownTimeoutMs']) {
    if (!isInteger(server[key], 0, Number.MAX_SAFE_INTEGER)) throw unusable(`server.${key} is not a whole number (${shown(server[key])})`);
  }
  if (!isInteger(server.workers, 1, 64)) throw unusable(`server.workers is not a count from 1 to 64 (${shown(server.workers)})`);
  for (const key of ['accessLog', 'httpsRedirect']) if (typeof server[key] !== 'boolean') throw unusable(`server.${key} is not true or false (${shown(server[key])})`);
  const acme = object(config.acme, 'acme');
  string(acme.directory, 'acme.directory');
  if (acme.eab !== undefined) object(object(acme.eab, 'acme.eab').hmacKey, 'acme.eab.hmacKey');
  string(object(config.log, 'log').level, 'log.level');
  const metrics = object(config.metrics, 'metrics');
  if (metrics.listen !== undefined) {
    const listen = object(metrics.listen, 'metrics.listen');
    string(listen.host, 'metrics.listen.host');
    if (!isInteger(listen.port, 0, 65535)) throw unusable(`metrics.listen.port is not a port (${shown(listen.port)})`);
  }
  if (metrics.token !== undefined) object(metrics.token, 'metrics.token');
  const deploy = object(config.deploy, 'deploy');
  object(deploy.history, 'deploy.history');
  if (!Array.isArray(config.sites)) throw unusable(`sites is not a list (${shown(config.sites)})`);
  const names = new Set<string>();
  config.sites.forEach((value: unknown, index) => {
    const site = object(value, `sites[${index}]`);
    const name = string(site.name, `sites[${index}].name`);
    if (names.has(name)) throw unusable(`sites[${index}].name ${JSON.stringify(name.slice(0, 64))} appears twice`);
    names.add(name);
    if (!Array.isArray(site.domains) || site.domains.length === 0 || !site.domains.every((domain) => typeof domain === 'string')) {
      throw unusable(`sites[${index}].domains is not a list of names`);
    }
    object(site.build, `sites[${index}].build`);
    if (site.webhook !== undefined) object(object(site.webhook, `sites[${index}].webhook`).secret, `sites[${index}].webhook.secret`);
  });
  if (!Array.isArray(config.notify)) throw unusable(`notify is not a list (${shown(config.notify)})`);
  return deepFreeze(decode(config, '')) as unknown as ResolvedConfig;
}

/** Wraps `{ secret, source }` back into a Secret where the resolved config has one. */
function decode(value: unknown, path: string): unknown {
  if (Array.isArray(value)) return value.map((item, index) => decode(item, `${path}[${index}]`));
  if (typeof value !== 'object' || value === null) return value;
  const fields = value as Record<string, unknown>;
  if (SECRET_PATHS.some((pattern) => pattern.test(path))) {
    if (typeof fields.secret !== 'string' || typeof fields.source !== 'string') throw unusable(`${path.slice(1)} is not a secret`);
    return createSecret(fields.secret, fields.source);
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) out[key] = decode(field, `${path}.${key}`);
  return out;
}

/** Where `ResolvedConfig` holds a `Secret`. */
const SECRET_PATHS = [
  /^\.sites\[\d+\]\.webhook\.secret$/,
  /^\.sites\[\d+\]\.token$/,
  /^\.sites\[\d+\]\.status\.token$/,
  /^\.acme\.eab\.hmacKey$/,
  /^\.metrics\.token$/,
  /^\.notify\[\d+\]\.(url|secret|token)$/,
  /^\.notify\[\d+\]\.email\.password$/,
];

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw unusable(`${what} is not an object (${shown(value)})`);
  return value as Record<string, unknown>;
}

function string(value: unknown, what: string): string {
  if (typeof value !== 'string') throw unusable(`${what} is not a string (${shown(value)})`);
  return value;
}

function isInteger(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** The type of a bad value, never the value: it may be a secret in the wrong place. */
function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function unusable(reason: string): BerthError {
  return new BerthError('E_CONFIG_WIRE', `Cannot use the configuration the supervisor sent: ${reason}`);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}
