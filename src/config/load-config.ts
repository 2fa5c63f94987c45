import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type * as z from 'zod';
import { BerthError, type ErrorCode } from '../errors.ts';
import { readAtMost } from '../read-at-most.ts';
import { formatByteSize } from './byte-size.ts';
import { dataDirProblem } from './data-dir-check.ts';
import {
  checkHostName,
  configSchema,
  describeIssue,
  FORGES,
  isRemoteRepo,
  type ParsedConfig,
  show,
  SITE_NAME_PATTERN,
  tableAt,
  unknownKeyMessage,
} from './config-schema.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { displayPath, formatProblems, summarizeProblems } from './format-problems.ts';
import type { ResolvedConfig, ResolvedSite, Secret } from './resolved-config.ts';
import { createSecret, resolveSecretFile, resolveSecretValue, suggestEnvName, unavailableSecret } from './secret.ts';
import { resolveBasicAuth } from './basic-auth-config.ts';
import { isLoopback, parseListenAddress, type ListenAddress } from './listen-address.ts';
import { checkChannels, resolveChannelSecrets, resolveNotify, resolveStatus, type ChannelSecrets } from './channel-config.ts';
import type { AuthUser } from '../static/basic-auth.ts';

/**
 * Reading `berth.toml` into a `ResolvedConfig`.
 *
 * Every problem is collected before anything is reported, so one run of
 * `berth check` shows them all: TOML syntax first (the parser stops at the
 * first one, so there is at most one), else schema issues, checks across
 * keys, and secrets that cannot be resolved, ordered by line.
 */

export interface ConfigProblem {
  /** Key path such as `sites[0].webhook.forge`; empty for the file as a whole. */
  path: string;
  /**
   * 1-based line in the file. For TOML syntax errors it is exact; for other
   * problems it is found by scanning the file for the key inside its table,
   * a best effort that can be `undefined` (e.g. a key set in an inline table
   * inside an array) or point at the enclosing table.
   */
  line: number | undefined;
  /** Lower-case start, no trailing period; never contains a secret. */
  message: string;
  severity: 'error' | 'warning';
}

/** A `berth.toml` is a few KiB; anything past this is the wrong file. */
export const CONFIG_MAX_BYTES = 1_048_576;

/** Where the packaged service (deploy/berth.service, the Docker image) keeps its config. */
export const INSTALLED_CONFIG = '/etc/berth/berth.toml';

/**
 * Where the config is: the `--config` flag, else `./berth.toml` if it exists,
 * else `$BERTH_CONFIG`, else the installed service's `/etc/berth/berth.toml`
 * if it exists (so commands typed on the server find the server's config),
 * else `./berth.toml` (whose absence is then reported). Always an absolute path.
 */
export function findConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string, installed = INSTALLED_CONFIG): string {
  if (flag !== undefined) return path.resolve(cwd, flag);
  const local = path.resolve(cwd, 'berth.toml');
  if (existsSync(local)) return local;
  const fromEnv = env.BERTH_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(cwd, fromEnv);
  if (existsSync(installed)) return installed;
  return local;
}

/**
 * Reads, validates and resolves a config file, returning every problem found.
 * `config` is set only when no problem is an error; warnings do not stop it.
 * Relative `file` paths are taken from the process's working directory.
 */
export async function readConfig(
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<{ config: ResolvedConfig | undefined; problems: ConfigProblem[]; missing: boolean }> {
  // `berth check` answers for `berth serve`, which writes to data_dir.
  const { config, problems, failure } = await examineConfig(path.resolve(file), env, { writableDataDir: true, secretsOptional: false });
  return { config, problems, missing: failure === 'E_CONFIG_NOT_FOUND' };
}

export interface LoadConfigOptions {
  /**
   * Refuse a data_dir this process cannot write to (or create), as `berth
   * serve` must; without it only a data_dir that is not a directory is refused,
   * so reading commands still work for a user who may only read.
   * @default false
   */
  writableDataDir?: boolean;
  /**
   * `optional`: a secret that cannot be resolved (an environment variable
   * this shell lacks, a secret file this user may not read) is not an error;
   * using it throws `E_CONFIG_SECRET`. For commands that only read the data
   * dir (`deploys`, `logs`, `releases`), which never use one.
   * @default 'required'
   */
  secrets?: 'required' | 'optional';
}

/**
 * Like `readConfig`, but throws a `BerthError` when the config cannot be used:
 * `E_CONFIG_NOT_FOUND` (missing or unreadable file), `E_CONFIG_PARSE` (not
 * TOML, not UTF-8, too large), `E_CONFIG_SECRET` (valid, but a secret could
 * not be resolved) or `E_CONFIG_INVALID` (anything else). The message lists
 * every problem.
 */
export async function loadConfig(file: string, env: NodeJS.ProcessEnv, options: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  const absolute = path.resolve(file);
  const { config, problems, failure } = await examineConfig(absolute, env, { writableDataDir: options.writableDataDir === true, secretsOptional: options.secrets === 'optional' });
  if (config !== undefined) return config;
  const shown = displayPath(absolute, process.cwd());
  const code = failure ?? 'E_CONFIG_INVALID';
  const listing = formatProblems(problems, shown);
  if (code === 'E_CONFIG_NOT_FOUND') {
    const first = problems[0]?.message ?? `config file ${absolute} not found`;
    throw new BerthError(code, first.charAt(0).toUpperCase() + first.slice(1));
  }
  const heading =
    code === 'E_CONFIG_PARSE'
      ? `Cannot parse ${shown}`
      : code === 'E_CONFIG_SECRET'
        ? `Cannot resolve the secrets in ${shown} (${summarizeProblems(problems)})`
        : `Invalid configuration in ${shown} (${summarizeProblems(problems)})`;
  throw new BerthError(code, `${heading}:\n${listing.trimEnd()}`);
}

// ---------------------------------------------------------------------------

interface Finding {
  path: readonly PropertyKey[];
  message: string;
  severity: 'error' | 'warning';
}

interface Examination {
  config: ResolvedConfig | undefined;
  problems: ConfigProblem[];
  /** The error code a failure maps to; `undefined` when `config` is set. */
  failure: ErrorCode | undefined;
}

async function examineConfig(file: string, env: NodeJS.ProcessEnv, options: { writableDataDir: boolean; secretsOptional: boolean }): Promise<Examination> {
  const fileProblem = (message: string, failure: ErrorCode, line?: number): Examination => ({
    config: undefined,
    problems: [{ path: '', line, message, severity: 'error' }],
    failure,
  });

  const source = await readSource(file);
  if (!source.ok) return fileProblem(source.message, source.failure);

  let raw: Record<string, unknown>;
  try {
    // Keys such as __proto__ are refused: they could reach an object's prototype.
    raw = parseToml(source.text, { unsafeKeyBehaviour: 'throw' });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    return fileProblem(tomlMessage(error), 'E_CONFIG_PARSE', error.line);
  }

  const configDir = path.dirname(file);
  const parsed = configSchema.safeParse(raw, { error: describeIssue });
  const schemaFindings = parsed.success ? [] : parsed.error.issues.flatMap(issueFindings);
  const crossFindings = [...checkAcrossKeys(raw), ...checkChannels(raw)];
  const secrets = await resolveSecrets(raw, configDir, env, options.secretsOptional);
  const dataDirFindings = parsed.success ? await checkDataDir(path.resolve(configDir, parsed.data.data_dir), options.writableDataDir) : [];
  const basicAuth = await resolveBasicAuth(raw, configDir, env);

  const lines = new KeyLines(source.text);
  const problems = sortByLine(
    [...schemaFindings, ...crossFindings, ...dataDirFindings, ...secrets.findings, ...basicAuth.findings].map((finding) => ({
      path: formatKeyPath(finding.path),
      line: lines.lineOf(finding.path),
      message: finding.message,
      severity: finding.severity,
    })),
  );

  const errors = problems.filter((problem) => problem.severity === 'error');
  if (!parsed.success || errors.length > 0) {
    const onlySecrets = schemaFindings.length === 0 && dataDirFindings.length === 0 && !crossFindings.some((finding) => finding.severity === 'error');
    return { config: undefined, problems, failure: onlySecrets ? 'E_CONFIG_SECRET' : 'E_CONFIG_INVALID' };
  }
  const config = deepFreeze(resolveConfig(parsed.data, file, secrets, basicAuth.bySite));
  return { config, problems, failure: undefined };
}

type SourceResult = { ok: true; text: string } | { ok: false; message: string; failure: ErrorCode };

async function readSource(file: string): Promise<SourceResult> {
  let bytes: Buffer;
  let handle;
  try {
    handle = await open(file, 'r');
    const info = await handle.stat();
    if (info.isDirectory()) {
      return { ok: false, message: `config path ${file} is a directory; pass the berth.toml file inside it`, failure: 'E_CONFIG_NOT_FOUND' };
    }
    // Checked before reading, so a huge file is never loaded into memory.
    if (info.size > CONFIG_MAX_BYTES) return tooLarge(info.size);
    bytes = await readAtMost(handle, CONFIG_MAX_BYTES + 1);
  } catch (error) {
    return readFailure(file, error);
  } finally {
    await handle?.close();
  }
  // Pipes and devices report no size; the capped read catches those.
  if (bytes.length > CONFIG_MAX_BYTES) return tooLarge(undefined);
  try {
    // A leading byte order mark is dropped by the decoder.
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { ok: false, message: 'the file is not valid UTF-8 text; save it as UTF-8', failure: 'E_CONFIG_PARSE' };
  }
}

function tooLarge(size: number | undefined): SourceResult {
  const limit = formatByteSize(CONFIG_MAX_BYTES);
  return {
    ok: false,
    message: `${size === undefined ? `the file is larger than the ${limit}` : `the file is ${size} bytes, more than the ${limit}`} a config may be; is it the right file?`,
    failure: 'E_CONFIG_PARSE',
  };
}

function readFailure(file: string, error: unknown): SourceResult {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return {
      ok: false,
      message: `config file ${file} not found; run \`berth init\` to write one, or pass --config <file>, or set BERTH_CONFIG (docs/configuration.md has an example)`,
      failure: 'E_CONFIG_NOT_FOUND',
    };
  }
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? String(error));
  return { ok: false, message: `cannot read config file ${file}: ${reason}`, failure: 'E_CONFIG_NOT_FOUND' };
}

/**
 * The parser's own reason, without the excerpt of the file it appends: the
 * excerpt could show a secret written on that line.
 */
function tomlMessage(error: TomlError): string {
  const reason = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
  return `not valid TOML (column ${error.column}): ${reason}`;
}

function issueFindings(issue: z.core.$ZodIssue): Finding[] {
  if (issue.code === 'unrecognized_keys') {
    const table = tableAt(issue.path);
    return issue.keys.map((key) => ({
      path: [...issue.path, key],
      message: table === undefined ? `unknown key ${show(key)}` : unknownKeyMessage(key, table),
      severity: 'error' as const,
    }));
  }
  return [{ path: issue.path, message: issue.message, severity: 'error' }];
}

// ---------------------------------------------------------------------------
// Checks across keys. They read the raw TOML, so they run (and report) even
// when the schema has found problems elsewhere; each looks only at values of
// the expected type and leaves the rest to the schema.

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function rawSites(raw: Record<string, unknown>): unknown[] {
  return Array.isArray(raw.sites) ? raw.sites : [];
}

function hasPublicName(site: unknown): boolean {
  if (!isTable(site) || !Array.isArray(site.domains)) return false;
  return site.domains.some((domain: unknown) => {
    if (typeof domain !== 'string') return false;
    const checked = checkHostName(domain);
    return checked.ok && isIP(checked.host) === 0 && checked.host !== 'localhost' && !checked.host.endsWith('.localhost');
  });
}

function durationOr(value: unknown, fallback: string): number | undefined {
  if (value === undefined) return parseDuration(fallback);
  return typeof value === 'string' ? parseDuration(value) : undefined;
}

function checkAcrossKeys(raw: Record<string, unknown>): Finding[] {
  const findings: Finding[] = [];
  const error = (at: readonly PropertyKey[], message: string): void => {
    findings.push({ path: at, message, severity: 'error' });
  };
  const warn = (at: readonly PropertyKey[], message: string): void => {
    findings.push({ path: at, message, severity: 'warning' });
  };

  const server = isTable(raw.server) ? raw.server : {};
  const tls = isTable(server.tls) ? server.tls : {};
  const hasCert = tls.cert_file !== undefined;
  const hasKey = tls.key_file !== undefined;
  if (hasCert !== hasKey) {
    const [set, unset] = hasCert ? ['cert_file', 'key_file'] : ['key_file', 'cert_file'];
    error(['server', 'tls'], `${set} is set but ${unset} is not; set both, or neither to obtain certificates with ACME`);
  }

  const metrics = isTable(raw.metrics) ? raw.metrics : {};
  if (metrics.token !== undefined && metrics.token_file !== undefined) error(['metrics'], 'both token and token_file are set; keep one');
  const metricsListen = typeof metrics.listen === 'string' ? parseListenAddress(metrics.listen) : undefined;
  if (metricsListen?.ok === true && !isLoopback(metricsListen.address.host) && metrics.token === undefined && metrics.token_file === undefined) {
    error(
      ['metrics', 'listen'],
      `${JSON.stringify(metrics.listen)} is reachable from other machines, and the metrics name every site; set token = "\${BERTH_METRICS_TOKEN}" (or token_file) so that only your Prometheus reads them, or listen on "127.0.0.1:9187"`,
    );
  }

  const httpPort = server.http_port ?? 80;
  const httpsPort = server.https_port ?? 443;
  if (httpPort === false && httpsPort === false) {
    error(['server'], 'http_port and https_port are both false; keep at least one listener on');
  } else if (typeof httpPort === 'number' && httpPort !== 0 && httpPort === httpsPort) {
    error(['server', 'https_port'], `${String(httpsPort)} is also http_port; use two different ports`);
  }

  const headersMs = durationOr(server.headers_timeout, '10s');
  const requestMs = durationOr(server.request_timeout, '30s');
  if (headersMs !== undefined && requestMs !== undefined && headersMs > requestMs) {
    error(
      ['server', 'headers_timeout'],
      `${formatDuration(headersMs)} is longer than request_timeout (${formatDuration(requestMs)}); the headers are part of the request`,
    );
  }

  const sites = rawSites(raw);
  const acme = isTable(raw.acme) ? raw.acme : {};
  // A self-signed certificate is expected for localhost; for a public name it is surely a mistake.
  if (acme.directory === 'off' && httpsPort !== false && !hasCert && sites.some(hasPublicName)) {
    warn(['acme', 'directory'], 'ACME is off and server.tls has no certificate; HTTPS will use a self-signed certificate that browsers reject');
  }
  if (acme.directory !== 'off' && !hasCert && httpPort === false && httpsPort !== false && sites.some(hasPublicName)) {
    warn(['server', 'http_port'], 'the HTTP listener is off, so ACME HTTP-01 challenges cannot be answered and no certificate will be obtained; turn it on, give server.tls, or set acme.directory = "off"');
  }
  if (isTable(acme.eab)) {
    const eab = acme.eab;
    if (eab.hmac_key !== undefined && eab.hmac_key_file !== undefined) error(['acme', 'eab'], 'both hmac_key and hmac_key_file are set; keep one');
    else if (eab.hmac_key === undefined && eab.hmac_key_file === undefined) {
      error(['acme', 'eab'], 'no HMAC key; set hmac_key = "${ACME_EAB_HMAC_KEY}" and that environment variable, or hmac_key_file = "/path/to/file"');
    }
  }

  if (sites.length === 0 && (raw.sites === undefined || Array.isArray(raw.sites))) {
    warn(['sites'], 'no sites are configured; add a [[sites]] table for each site to serve');
  }
  const names = new Map<string, number>();
  const owners = new Map<string, { site: number; index: number }>();
  sites.forEach((site, siteIndex) => {
    if (!isTable(site)) return;
    if (typeof site.name === 'string' && SITE_NAME_PATTERN.test(site.name)) {
      const first = names.get(site.name);
      if (first === undefined) names.set(site.name, siteIndex);
      else error(['sites', siteIndex, 'name'], `${show(site.name)} is already the name of sites[${first}]; each site needs its own name`);
    }
    if (Array.isArray(site.domains)) {
      site.domains.forEach((domain: unknown, index) => {
        if (typeof domain !== 'string') return;
        const checked = checkHostName(domain);
        if (!checked.ok) return;
        const owner = owners.get(checked.host);
        if (owner === undefined) {
          owners.set(checked.host, { site: siteIndex, index });
        } else if (owner.site === siteIndex) {
          warn(['sites', siteIndex, 'domains', index], `${show(checked.host)} is listed twice in this site (also domains[${owner.index}])`);
        } else {
          const ownerSite = sites[owner.site];
          const ownerName = isTable(ownerSite) && typeof ownerSite.name === 'string' ? ` (${show(ownerSite.name)})` : '';
          error(
            ['sites', siteIndex, 'domains', index],
            `${show(checked.host)} already belongs to sites[${owner.site}]${ownerName}; a host name can serve only one site`,
          );
        }
      });
    }
    const webhook = site.webhook;
    if (isTable(webhook)) {
      const at = ['sites', siteIndex, 'webhook'] as const;
      if (webhook.secret !== undefined && webhook.secret_file !== undefined) {
        error(at, 'both secret and secret_file are set; keep one');
      } else if (webhook.secret === undefined && webhook.secret_file === undefined) {
        const envName = suggestEnvName(typeof site.name === 'string' ? site.name : '');
        error(at, `no secret; set secret = "\${${envName}}" and that environment variable, or secret_file = "/path/to/file"`);
      }
    }
    if (isTable(webhook) && webhook.signature_header !== undefined && typeof webhook.forge === 'string') {
      const forge = webhook.forge;
      if (forge !== 'generic' && (FORGES as readonly string[]).includes(forge)) {
        warn(['sites', siteIndex, 'webhook', 'signature_header'], `only the generic forge reads signature_header; ${forge} webhooks carry their own signature header`);
      }
    }
  });
  const admin = isTable(raw.admin) ? raw.admin : {};
  if (typeof admin.domain === 'string') {
    const checked = checkHostName(admin.domain);
    const owner = checked.ok ? owners.get(checked.host) : undefined;
    if (owner !== undefined) {
      const ownerSite = sites[owner.site];
      const ownerName = isTable(ownerSite) && typeof ownerSite.name === 'string' ? ` (${show(ownerSite.name)})` : '';
      error(['admin', 'domain'], `${show(admin.domain)} is a domain of sites[${owner.site}]${ownerName}; the dashboard needs a host name of its own, such as "berth.example.com"`);
    }
  }
  return findings;
}

/** A data_dir that is a file, or (for `berth serve` and `berth check`) one this user cannot write: reported on the key, not as a stack trace at start. */
async function checkDataDir(dataDir: string, writable: boolean): Promise<Finding[]> {
  const message = await dataDirProblem(dataDir, { writable });
  return message === undefined ? [] : [{ path: ['data_dir'], message, severity: 'error' }];
}

const EAB_KEYS = { value: 'hmac_key', file: 'hmac_key_file', what: 'the EAB HMAC key' };
const METRICS_KEYS = { value: 'token', file: 'token_file', what: 'the metrics token', minLength: 16 };

async function resolveSecrets(
  raw: Record<string, unknown>,
  configDir: string,
  env: NodeJS.ProcessEnv,
  optional: boolean,
): Promise<{ bySite: Map<number, Secret>; tokens: Map<number, Secret>; eabKey: Secret | undefined; metricsToken: Secret | undefined; channels: ChannelSecrets; findings: Finding[] }> {
  const bySite = new Map<number, Secret>();
  const tokens = new Map<number, Secret>();
  const reported: Finding[] = [];
  // Optional secrets: what could not be resolved becomes a secret that throws when used, not a problem.
  const findings = {
    push(finding: Finding & { secretAt?: (secret: Secret) => void; source?: string }): void {
      if (!optional || finding.severity !== 'error' || finding.secretAt === undefined) {
        reported.push({ path: finding.path, message: finding.message, severity: finding.severity });
        return;
      }
      finding.secretAt(unavailableSecret(finding.source ?? formatKeyPath(finding.path), finding.message));
    },
  };
  rawSites(raw).forEach((site, siteIndex) => {
    if (!isTable(site) || typeof site.token_env !== 'string') return;
    const value = env[site.token_env];
    if (value === undefined || value === '') {
      findings.push({
        path: ['sites', siteIndex, 'token_env'],
        message: `the environment variable ${site.token_env} is not set or empty; set it to the repository access token`,
        severity: 'error',
        source: `env ${site.token_env}`,
        secretAt: (secret) => tokens.set(siteIndex, secret),
      });
    } else {
      tokens.set(siteIndex, createSecret(value, `env ${site.token_env}`));
    }
  });
  const jobs = rawSites(raw).map(async (site, siteIndex) => {
    if (!isTable(site) || !isTable(site.webhook)) return;
    const webhook = site.webhook;
    const at = ['sites', siteIndex, 'webhook'] as const;
    const envName = suggestEnvName(typeof site.name === 'string' ? site.name : '');
    // Both or neither of secret and secret_file is reported by checkAcrossKeys.
    if ((webhook.secret === undefined) === (webhook.secret_file === undefined)) return;
    if (typeof webhook.secret === 'string') {
      const result = resolveSecretValue(webhook.secret, env, envName);
      if (!result.ok) {
        findings.push({ path: [...at, 'secret'], message: result.message, severity: 'error', secretAt: (secret) => bySite.set(siteIndex, secret) });
        return;
      }
      bySite.set(siteIndex, result.secret);
      if (result.warning !== undefined) findings.push({ path: [...at, 'secret'], message: result.warning, severity: 'warning' });
      return;
    }
    const file = webhook.secret_file;
    // Other shapes of secret_file are reported by the schema.
    if (typeof file === 'string' && file !== '' && !file.startsWith('~') && !file.includes('\0')) {
      const result = await resolveSecretFile(path.resolve(configDir, file));
      if (result.ok) bySite.set(siteIndex, result.secret);
      else findings.push({ path: [...at, 'secret_file'], message: result.message, severity: 'error', source: `file ${file}`, secretAt: (secret) => bySite.set(siteIndex, secret) });
    }
  });
  await Promise.all(jobs);
  const eab = isTable(raw.acme) && isTable(raw.acme.eab) ? raw.acme.eab : undefined;
  let eabKey: Secret | undefined;
  if (eab !== undefined && (eab.hmac_key === undefined) !== (eab.hmac_key_file === undefined)) {
    if (typeof eab.hmac_key === 'string') {
      const result = resolveSecretValue(eab.hmac_key, env, 'ACME_EAB_HMAC_KEY', EAB_KEYS);
      if (result.ok) eabKey = result.secret;
      else findings.push({ path: ['acme', 'eab', 'hmac_key'], message: result.message, severity: 'error', secretAt: (secret) => (eabKey = secret) });
      if (result.ok && result.warning !== undefined) findings.push({ path: ['acme', 'eab', 'hmac_key'], message: result.warning, severity: 'warning' });
    } else if (typeof eab.hmac_key_file === 'string' && eab.hmac_key_file !== '' && !eab.hmac_key_file.startsWith('~') && !eab.hmac_key_file.includes('\0')) {
      const result = await resolveSecretFile(path.resolve(configDir, eab.hmac_key_file), EAB_KEYS);
      if (result.ok) eabKey = result.secret;
      else findings.push({ path: ['acme', 'eab', 'hmac_key_file'], message: result.message, severity: 'error', secretAt: (secret) => (eabKey = secret) });
    }
  }
  const metrics = isTable(raw.metrics) ? raw.metrics : undefined;
  let metricsToken: Secret | undefined;
  if (metrics !== undefined && (metrics.token === undefined) !== (metrics.token_file === undefined)) {
    if (typeof metrics.token === 'string') {
      const result = resolveSecretValue(metrics.token, env, 'BERTH_METRICS_TOKEN', METRICS_KEYS);
      if (result.ok) metricsToken = result.secret;
      else findings.push({ path: ['metrics', 'token'], message: result.message, severity: 'error', secretAt: (secret) => (metricsToken = secret) });
      if (result.ok && result.warning !== undefined) findings.push({ path: ['metrics', 'token'], message: result.warning, severity: 'warning' });
    } else if (typeof metrics.token_file === 'string' && metrics.token_file !== '' && !metrics.token_file.startsWith('~') && !metrics.token_file.includes('\0')) {
      const result = await resolveSecretFile(path.resolve(configDir, metrics.token_file), METRICS_KEYS);
      if (result.ok) metricsToken = result.secret;
      else findings.push({ path: ['metrics', 'token_file'], message: result.message, severity: 'error', secretAt: (secret) => (metricsToken = secret) });
    }
  }
  const channels = await resolveChannelSecrets(raw, configDir, env, (finding) => findings.push(finding));
  return { bySite, tokens, eabKey, metricsToken, channels, findings: reported };
}

// ---------------------------------------------------------------------------
// Building the resolved config

/** The metrics listener's address; undefined for `listen = false` (the schema has checked the text). */
function metricsListenOf(listen: string | false): ListenAddress | undefined {
  if (listen === false) return undefined;
  const checked = parseListenAddress(listen);
  if (!checked.ok) throw new Error(`metrics.listen: ${checked.message}`);
  return checked.address;
}

const ACME_DIRECTORY_URLS: Readonly<Record<string, string>> = {
  letsencrypt: 'https://acme-v02.api.letsencrypt.org/directory',
  'letsencrypt-staging': 'https://acme-staging-v02.api.letsencrypt.org/directory',
};

function resolveConfig(
  parsed: ParsedConfig,
  configPath: string,
  { bySite: secrets, tokens, eabKey, metricsToken, channels }: { bySite: ReadonlyMap<number, Secret>; tokens: ReadonlyMap<number, Secret>; eabKey: Secret | undefined; metricsToken: Secret | undefined; channels: ChannelSecrets },
  basicAuth: ReadonlyMap<number, readonly AuthUser[]>,
): ResolvedConfig {
  const dir = path.dirname(configPath);
  const fromDir = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(dir, file));
  const { server, acme } = parsed;
  const ownCertificate = server.tls.cert_file !== undefined;
  const acmeOn = acme.directory !== 'off' && !ownCertificate && server.http_port !== false && server.https_port !== false;
  const { eab } = acme;
  return {
    configPath,
    dataDir: path.resolve(dir, parsed.data_dir),
    server: {
      host: server.host,
      httpPort: server.http_port,
      httpsPort: server.https_port,
      tls: { certFile: fromDir(server.tls.cert_file), keyFile: fromDir(server.tls.key_file) },
      headersTimeoutMs: server.headers_timeout,
      requestTimeoutMs: server.request_timeout,
      idleTimeoutMs: server.idle_timeout,
      maxHeaderBytes: server.max_header_size,
      maxConnections: server.max_connections,
      memoryCacheBytes: server.memory_cache,
      workers: server.workers === 'auto' ? availableParallelism() : server.workers,
      shutdownTimeoutMs: server.shutdown_timeout,
      accessLog: server.access_log,
      user: server.user,
      httpsRedirect: server.https_port !== false && (server.https_redirect ?? (acmeOn || ownCertificate)),
      httpsRedirectPort: server.https_redirect_port,
    },
    acme: {
      email: acme.email,
      directory: acme.directory,
      directoryUrl: acmeOn ? (ACME_DIRECTORY_URLS[acme.directory] ?? acme.directory) : undefined,
      eab: eab === undefined || eabKey === undefined ? undefined : { kid: eab.kid, hmacKey: eabKey },
      profile: acme.profile,
      caFile: fromDir(acme.ca_file),
      checkIntervalMs: acme.check_interval,
      retryDelayMs: acme.retry_delay,
    },
    log: { level: parsed.log.level },
    metrics: {
      listen: metricsListenOf(parsed.metrics.listen),
      token: metricsToken,
    },
    admin: { domain: parsed.admin.domain },
    deploy: {
      concurrency: parsed.deploy.concurrency,
      buildUidBase: parsed.deploy.build_uid_base,
      allowUnisolatedBuilds: parsed.deploy.allow_unisolated_builds,
      history: { keepDeploys: parsed.deploy.keep_deploys, keepDays: parsed.deploy.keep_days, keepDeliveriesDays: parsed.deploy.keep_deliveries_days },
    },
    sites: parsed.sites.map((site, index): ResolvedSite => {
      let webhook: ResolvedSite['webhook'];
      if (site.webhook !== undefined) {
        const secret = secrets.get(index);
        // Unreachable: a webhook without a resolved secret is reported as an error.
        if (secret === undefined) throw new Error(`sites[${index}].webhook has no resolved secret`);
        webhook = { forge: site.webhook.forge, secret, signatureHeader: site.webhook.signature_header };
      }
      return {
        name: site.name,
        domains: [...new Set(site.domains)],
        repo: site.repo === undefined || isRemoteRepo(site.repo) ? site.repo : path.resolve(dir, site.repo),
        branch: site.branch,
        build: {
          command: site.build.command,
          publish: site.build.publish,
          environment: { ...site.build.environment },
          timeoutMs: site.build.timeout,
          maxProcesses: site.build.max_processes,
          maxOutputBytes: site.build.max_output_size,
        },
        webhook,
        retain: site.retain,
        deployKeyFile: fromDir(site.deploy_key_file),
        token: tokens.get(index),
        submodules: site.submodules,
        pollIntervalMs: site.poll === 0 ? undefined : Math.max(site.poll, 10_000),
        hsts: hstsValue(site.hsts),
        // Set only when configured, so a site without it looks as it always did.
        ...(site.basic_auth === undefined ? {} : { basicAuth: basicAuth.get(index) ?? [] }),
        ...(site.status === undefined ? {} : { status: resolveStatus(site.status, site.repo, index, channels) }),
      };
    }),
    notify: resolveNotify(parsed.notify, channels, dir),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}

function sortByLine(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems
    .filter((problem) => {
      const key = `${problem.path}\0${problem.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .map((problem, order) => ({ problem, order }))
    .sort((a, b) => (a.problem.line ?? Infinity) - (b.problem.line ?? Infinity) || a.order - b.order)
    .map(({ problem }) => problem);
}

// ---------------------------------------------------------------------------
// Key paths and where they are in the file

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `['sites', 0, 'webhook', 'forge']` -> `sites[0].webhook.forge`; odd keys are quoted: `environment["a b"]`. */
export function formatKeyPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && BARE_KEY.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

/**
 * A map from key paths to the line that sets them, found by reading the file
 * line by line: table headers (`[a.b]`, `[[a]]`, counting array entries),
 * `key = value` lines (dotted and quoted keys too), keys of one-line inline
 * tables, and the elements of arrays, also over several lines. It is not a
 * TOML parser; when it cannot place a key, `lineOf` falls back to the
 * nearest enclosing key it did place.
 */
class KeyLines {
  readonly #lines = new Map<string, number>();
  readonly #arrayCounts = new Map<string, number>();
  #table: PropertyKey[] = [];
  #multiline: string | undefined;
  #array: { path: PropertyKey[]; depth: number; index: number; placed: boolean } | undefined;

  constructor(source: string) {
    source.split(/\r?\n/).forEach((text, index) => this.#scanLine(text, index + 1));
  }

  lineOf(segments: readonly PropertyKey[]): number | undefined {
    for (let length = segments.length; length > 0; length--) {
      const line = this.#lines.get(formatKeyPath(segments.slice(0, length)));
      if (line !== undefined) return line;
    }
    return undefined;
  }

  #record(segments: readonly PropertyKey[], line: number): void {
    const key = formatKeyPath(segments);
    if (!this.#lines.has(key)) this.#lines.set(key, line);
  }

  #scanLine(text: string, line: number): void {
    if (this.#multiline !== undefined) {
      if (text.includes(this.#multiline)) this.#multiline = undefined;
      return;
    }
    if (this.#array !== undefined) {
      this.#scanArray(text, line);
      return;
    }
    const trimmed = text.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (trimmed.startsWith('[[')) {
      const key = parseDottedKey(trimmed.slice(2));
      if (key === undefined || !key.rest.trimStart().startsWith(']]')) return;
      const arrayPath = [...this.#concrete(key.keys.slice(0, -1)), ...key.keys.slice(-1)];
      const id = formatKeyPath(arrayPath);
      const count = this.#arrayCounts.get(id) ?? 0;
      this.#arrayCounts.set(id, count + 1);
      this.#table = [...arrayPath, count];
      this.#record(arrayPath, line);
      this.#record(this.#table, line);
      return;
    }
    if (trimmed.startsWith('[')) {
      const key = parseDottedKey(trimmed.slice(1));
      if (key === undefined || !key.rest.trimStart().startsWith(']')) return;
      this.#table = this.#concrete(key.keys);
      this.#record(this.#table, line);
      return;
    }
    const key = parseDottedKey(trimmed);
    if (key === undefined) return;
    const afterKey = key.rest.trimStart();
    if (!afterKey.startsWith('=')) return;
    const keyPath = [...this.#table, ...key.keys];
    this.#record(keyPath, line);
    this.#scanValue(afterKey.slice(1).trimStart(), keyPath, line);
  }

  /** Adds the current index after each part of a header that names an array of tables. */
  #concrete(keys: readonly string[]): PropertyKey[] {
    const out: PropertyKey[] = [];
    for (const key of keys) {
      out.push(key);
      const count = this.#arrayCounts.get(formatKeyPath(out));
      if (count !== undefined) out.push(count - 1);
    }
    return out;
  }

  #scanValue(value: string, keyPath: PropertyKey[], line: number): void {
    for (const quotes of ['"""', "'''"]) {
      if (value.startsWith(quotes) && !value.slice(3).includes(quotes)) {
        this.#multiline = quotes;
        return;
      }
    }
    if (value.startsWith('[')) {
      this.#array = { path: keyPath, depth: 0, index: 0, placed: false };
      this.#scanArray(value, line);
      return;
    }
    if (value.startsWith('{')) {
      for (const match of value.matchAll(/[{,]\s*([A-Za-z0-9_-]+)\s*=/g)) {
        if (match[1] !== undefined) this.#record([...keyPath, match[1]], line);
      }
    }
  }

  #scanArray(text: string, line: number): void {
    let i = 0;
    while (i < text.length && this.#array !== undefined) {
      const array = this.#array;
      const char = text[i] ?? '';
      const startsElement = array.depth === 1 && !array.placed && !/[\s,\]#]/.test(char);
      if (startsElement) {
        this.#record([...array.path, array.index], line);
        array.placed = true;
      }
      if (char === '#') return;
      if (char === '"' || char === "'") {
        i = skipString(text, i);
        continue;
      }
      if (char === '[' || char === '{') array.depth++;
      else if (char === ']' || char === '}') {
        array.depth--;
        if (array.depth === 0) this.#array = undefined;
      } else if (char === ',' && array.depth === 1) {
        array.index++;
        array.placed = false;
      }
      i++;
    }
  }
}

/** Reads `a.b."c d"` from the start of `text`; returns the keys and what follows. */
function parseDottedKey(text: string): { keys: string[]; rest: string } | undefined {
  const keys: string[] = [];
  let rest = text.trimStart();
  for (;;) {
    const match = /^(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(rest);
    if (!match) return undefined;
    let key = match[1] ?? match[3];
    if (key === undefined) {
      try {
        key = JSON.parse(`"${match[2] ?? ''}"`) as string;
      } catch {
        // A TOML escape JSON does not know (\UXXXXXXXX): keep the raw text.
        key = match[2] ?? '';
      }
    }
    keys.push(key);
    rest = rest.slice(match[0].length).trimStart();
    if (!rest.startsWith('.')) return { keys, rest };
    rest = rest.slice(1).trimStart();
  }
}

/** Index just past the string that starts at `start` (on this line). */
function skipString(text: string, start: number): number {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length) {
    if (quote === '"' && text[i] === '\\') i += 2;
    else if (text[i] === quote) return i + 1;
    else i++;
  }
  return i;
}

function hstsValue(hsts: ParsedConfig['sites'][number]['hsts']): string | undefined {
  if (hsts === false) return undefined;
  const policy = hsts === true ? { max_age: 31_536_000, include_subdomains: false, preload: false } : hsts;
  return [`max-age=${policy.max_age}`, ...(policy.include_subdomains ? ['includeSubDomains'] : []), ...(policy.preload ? ['preload'] : [])].join('; ');
}
