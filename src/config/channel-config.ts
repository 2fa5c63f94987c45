import path from 'node:path';
import type { ParsedConfig } from './config-schema.ts';
import { DEFAULT_NOTIFY_EVENTS, NOTIFY_TYPES, SITE_NAME_PATTERN, show } from './config-schema.ts';
import type { NotifyKind, ResolvedNotify, ResolvedStatus, Secret, StatusForge } from './resolved-config.ts';
import { createSecret, parseEnvReference, resolveSecretFile, resolveSecretValue, type SecretKeys } from './secret.ts';
import { forgeTargetFromRepo } from '../status/forge-target.ts';
import { isBerthError } from '../errors.ts';

/**
 * The config of what Berth tells the world about deploys: `[sites.status]`
 * (commit statuses on the forge) and `[[notify]]` (notification channels).
 * The schema checks each value; this checks what needs several (a channel's
 * keys for its type, unique names, sites that exist), resolves the secrets,
 * and builds the resolved form.
 */

export interface ChannelFinding {
  path: readonly PropertyKey[];
  message: string;
  severity: 'error' | 'warning';
  /** For a secret that could not be resolved: where a placeholder goes when secrets are optional. */
  secretAt?: (secret: Secret) => void;
  source?: string;
}

/** Secrets by key path, `sites.0.status.token` or `notify.2.url`. */
export type ChannelSecrets = Map<string, Secret>;

/** Which keys each type of channel reads besides the common ones. */
const KEYS_BY_TYPE: Readonly<Record<NotifyKind, readonly string[]>> = {
  webhook: ['url', 'url_file', 'secret', 'secret_file'],
  slack: ['url', 'url_file'],
  discord: ['url', 'url_file'],
  ntfy: ['url', 'url_file', 'token', 'token_file'],
  email: ['smtp_host', 'smtp_port', 'smtp_security', 'username', 'password', 'password_file', 'from', 'to', 'ca_file'],
};
const ALL_TYPED_KEYS = new Set(Object.values(KEYS_BY_TYPE).flat());

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function tables(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Both-or-neither and per-type checks; the values themselves are the schema's. */
export function checkChannels(raw: Record<string, unknown>): ChannelFinding[] {
  const findings: ChannelFinding[] = [];
  const error = (at: readonly PropertyKey[], message: string): void => {
    findings.push({ path: at, message, severity: 'error' });
  };
  const siteNames = new Set<string>();
  tables(raw.sites).forEach((site, index) => {
    if (!isTable(site)) return;
    if (typeof site.name === 'string') siteNames.add(site.name);
    if (!isTable(site.status)) return;
    const at = ['sites', index, 'status'];
    pair(site.status, 'token', 'token_file', at, 'no token; set token = "${NAME}" and that environment variable (a token allowed to write commit statuses), or token_file', error);
    if (site.repo === undefined) error(at, 'the site has no repo, so there is no commit to report on; set repo or remove [sites.status]');
    else if (typeof site.repo === 'string') {
      const forgeRepo = typeof site.status.repo === 'string' ? site.status.repo : site.repo;
      const problem = targetProblem(forgeRepo, site.status);
      if (problem !== undefined) error(typeof site.status.repo === 'string' ? [...at, 'repo'] : at, problem);
    }
  });
  const names = new Map<string, number>();
  tables(raw.notify).forEach((channel, index) => {
    if (!isTable(channel)) return;
    const at = ['notify', index];
    if (typeof channel.name === 'string') {
      const first = names.get(channel.name);
      if (first === undefined) names.set(channel.name, index);
      else error([...at, 'name'], `${show(channel.name)} is already the name of notify[${first}]; each channel needs its own name`);
    }
    if (Array.isArray(channel.sites)) {
      channel.sites.forEach((site: unknown, siteIndex) => {
        if (typeof site === 'string' && SITE_NAME_PATTERN.test(site) && !siteNames.has(site)) {
          error([...at, 'sites', siteIndex], `${show(site)} is not the name of a site in this file`);
        } else if (typeof site === 'string' && !SITE_NAME_PATTERN.test(site)) {
          error([...at, 'sites', siteIndex], `${show(site)} is not a site name`);
        }
      });
    }
    const kind = channel.type;
    if (typeof kind !== 'string' || !(NOTIFY_TYPES as readonly string[]).includes(kind)) return;
    const own = new Set(KEYS_BY_TYPE[kind as NotifyKind]);
    for (const key of Object.keys(channel)) {
      if (ALL_TYPED_KEYS.has(key) && !own.has(key)) error([...at, key], `${key} does not apply to type = ${show(kind)}; remove it`);
    }
    if (kind === 'email') {
      if (channel.smtp_host === undefined) error(at, 'no smtp_host; name the SMTP server that sends the mail');
      if (channel.from === undefined) error(at, 'no from; give the sender address, e.g. from = "berth@example.com"');
      if (channel.to === undefined) error(at, 'no to; list the recipients, e.g. to = ["ops@example.com"]');
      if (channel.password !== undefined && channel.password_file !== undefined) error(at, 'both password and password_file are set; keep one');
      if ((channel.password !== undefined || channel.password_file !== undefined) && channel.username === undefined) {
        error(at, 'a password without a username; set username too');
      }
      return;
    }
    pair(channel, 'url', 'url_file', at, `no url; set url = "\${${envNameFor(channel.name, 'URL')}}" and that environment variable, or url_file`, error);
    if (kind === 'webhook') {
      pair(channel, 'secret', 'secret_file', at, `no secret; the receiver checks each delivery's signature with it: set secret = "\${${envNameFor(channel.name, 'SECRET')}}" (whsec_ and base64 of random bytes), or secret_file`, error);
    }
    if (channel.token !== undefined && channel.token_file !== undefined) error(at, 'both token and token_file are set; keep one');
  });
  return findings;
}

/** Why statuses cannot be posted for this repo, if they cannot (a local path, a host whose forge is not named). */
function targetProblem(repo: string, status: Record<string, unknown>): string | undefined {
  try {
    forgeTargetFromRepo(repo, { ...(typeof status.forge === 'string' ? { forge: status.forge as StatusForge } : {}), ...(typeof status.api === 'string' ? { api: status.api } : {}) });
    return undefined;
  } catch (error) {
    if (!isBerthError(error)) throw error;
    return error.message.replace(/^Cannot post commit statuses: /, '');
  }
}

function pair(
  table: Record<string, unknown>,
  valueKey: string,
  fileKey: string,
  at: readonly PropertyKey[],
  missing: string,
  error: (at: readonly PropertyKey[], message: string) => void,
): void {
  if (table[valueKey] !== undefined && table[fileKey] !== undefined) error(at, `both ${valueKey} and ${fileKey} are set; keep one`);
  else if (table[valueKey] === undefined && table[fileKey] === undefined) error(at, missing);
}

/** `team-chat`, `URL` -> `TEAM_CHAT_URL`: the variable a message suggests. */
function envNameFor(name: unknown, what: string): string {
  const stem = typeof name === 'string' ? name.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '') : '';
  return stem === '' || /^[0-9]/.test(stem) ? `NOTIFY_${what}` : `${stem}_${what}`;
}

/** A Standard Webhooks secret: `whsec_` and the base64 of the key. */
const WHSEC = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** Resolves every secret of `[sites.status]` and `[[notify]]`, reporting what cannot be. */
export async function resolveChannelSecrets(raw: Record<string, unknown>, configDir: string, env: NodeJS.ProcessEnv, report: (finding: ChannelFinding) => void): Promise<ChannelSecrets> {
  const secrets: ChannelSecrets = new Map();
  const jobs: Promise<void>[] = [];
  const resolve = (
    table: Record<string, unknown>,
    at: readonly (string | number)[],
    keys: SecretKeys,
    options: { envName: string; literalIsSecret: boolean; check?: (value: string) => string | undefined; storeAs?: string },
  ): void => {
    // Problems are reported at the key as written (`at`); the value is kept where the resolved config has it.
    const key = options.storeAs ?? at.join('.');
    const set = (secret: Secret): void => {
      secrets.set(key, secret);
    };
    const value = table[keys.value];
    const file = table[keys.file];
    // Both or neither is reported by checkChannels; other shapes by the schema.
    if ((value === undefined) === (file === undefined)) return;
    const checked = (secret: Secret, path: readonly PropertyKey[], source: string): void => {
      const problem = options.check?.(secret.reveal());
      if (problem === undefined) set(secret);
      else report({ path, message: problem, severity: 'error', secretAt: set, source });
    };
    if (typeof value === 'string') {
      const path = [...at.slice(0, -1), keys.value];
      if (!options.literalIsSecret && parseEnvReference(value) === undefined && !value.includes('${') && value !== '') {
        checked(createSecret(value, 'config file'), path, 'config file');
        return;
      }
      const result = resolveSecretValue(value, env, options.envName, keys);
      if (!result.ok) {
        report({ path, message: result.message, severity: 'error', secretAt: set, source: `${keys.value} of ${at.slice(0, -1).join('.')}` });
        return;
      }
      checked(result.secret, path, result.secret.source);
      if (result.warning !== undefined) report({ path, message: result.warning, severity: 'warning' });
      return;
    }
    if (typeof file === 'string' && file !== '' && !file.startsWith('~') && !file.includes('\0')) {
      const path = [...at.slice(0, -1), keys.file];
      jobs.push(
        resolveSecretFile(pathFrom(configDir, file), keys).then((result) => {
          if (result.ok) checked(result.secret, path, `file ${file}`);
          else report({ path, message: result.message, severity: 'error', secretAt: set, source: `file ${file}` });
        }),
      );
    }
  };
  tables(raw.sites).forEach((site, index) => {
    if (!isTable(site) || !isTable(site.status)) return;
    const name = typeof site.name === 'string' ? site.name : '';
    resolve(site.status, ['sites', index, 'status', 'token'], { value: 'token', file: 'token_file', what: 'the forge token' }, { envName: envNameFor(name, 'STATUS_TOKEN'), literalIsSecret: true });
  });
  const ownDomains = new Set(
    tables(raw.sites).flatMap((site) => (isTable(site) && Array.isArray(site.domains) ? site.domains.filter((domain): domain is string => typeof domain === 'string').map((domain) => domain.toLowerCase()) : [])),
  );
  tables(raw.notify).forEach((channel, index) => {
    if (!isTable(channel)) return;
    const kind = channel.type;
    const envName = (what: string): string => envNameFor(channel.name, what);
    // A Slack or Discord URL is its own credential; a webhook or ntfy URL usually is not.
    const chat = kind === 'slack' || kind === 'discord';
    resolve(channel, ['notify', index, 'url'], { value: 'url', file: 'url_file', what: 'the URL' }, { envName: envName('URL'), literalIsSecret: chat, check: (value) => urlProblem(value, ownDomains) });
    if (kind === 'webhook') {
      resolve(channel, ['notify', index, 'secret'], { value: 'secret', file: 'secret_file', what: 'the signing secret' }, {
        envName: envName('SECRET'),
        literalIsSecret: true,
        check: (value) => (WHSEC.test(value) && Buffer.from(value.slice(6), 'base64').length >= 24 ? undefined : 'the signing secret is not "whsec_" and the base64 of at least 24 random bytes; make one with: echo "whsec_$(openssl rand -base64 32)"'),
      });
    }
    if (kind === 'ntfy') resolve(channel, ['notify', index, 'token'], { value: 'token', file: 'token_file', what: 'the ntfy token' }, { envName: envName('TOKEN'), literalIsSecret: true });
    if (kind === 'email') {
      resolve(channel, ['notify', index, 'password'], { value: 'password', file: 'password_file', what: 'the SMTP password' }, { envName: envName('PASSWORD'), literalIsSecret: true, storeAs: `notify.${index}.email.password` });
    }
  });
  await Promise.all(jobs);
  return secrets;
}

function pathFrom(configDir: string, file: string): string {
  return path.resolve(configDir, file);
}

/** What is wrong with a channel's URL, never quoting it (it may carry a token). */
function urlProblem(value: string, ownDomains: ReadonlySet<string>): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return 'the URL is not a valid URL; write it in full, starting with https://';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `the URL starts with ${url.protocol}//, not https:// or http://`;
  if (url.username !== '' || url.password !== '') return 'the URL carries a user name or password, which Berth does not send; use token for ntfy';
  if (ownDomains.has(url.hostname.toLowerCase()) && url.pathname.startsWith('/_berth/')) {
    return `the URL is one of this server's own /_berth/ addresses (${url.hostname}); a notification sent there could start the deploy it reports on`;
  }
  return undefined;
}

/** The resolved `[sites.status]` of site `index`. */
export function resolveStatus(status: ParsedConfig['sites'][number]['status'], repo: string | undefined, index: number, secrets: ChannelSecrets): ResolvedStatus | undefined {
  if (status === undefined || repo === undefined) return undefined;
  const token = secrets.get(`sites.${index}.status.token`);
  // Unreachable: a status table without a resolved token is reported as an error.
  if (token === undefined) throw new Error(`sites[${index}].status has no resolved token`);
  const target = forgeTargetFromRepo(status.repo ?? repo, { ...(status.forge === undefined ? {} : { forge: status.forge }), ...(status.api === undefined ? {} : { api: status.api }) });
  return { forge: target.forge, api: target.apiBase, repo: target.repo, token };
}

const DEFAULT_SMTP_PORTS = { starttls: 587, tls: 465, none: 25 } as const;

/** The resolved `[[notify]]` tables. */
export function resolveNotify(channels: ParsedConfig['notify'], secrets: ChannelSecrets, configDir: string): ResolvedNotify[] {
  return channels.map((channel, index): ResolvedNotify => {
    const secret = (key: string): Secret | undefined => secrets.get(`notify.${index}.${key}`);
    const common = {
      name: channel.name,
      kind: channel.type,
      events: [...new Set(channel.events ?? DEFAULT_NOTIFY_EVENTS)],
      sites: channel.sites === undefined ? undefined : [...new Set(channel.sites)],
      expiringDays: channel.expiring_days,
      allowPrivate: channel.allow_private,
    };
    if (channel.type === 'email') {
      return {
        ...common,
        email: {
          host: channel.smtp_host ?? '',
          port: channel.smtp_port ?? DEFAULT_SMTP_PORTS[channel.smtp_security],
          security: channel.smtp_security,
          username: channel.username,
          password: secret('email.password'),
          from: channel.from ?? '',
          to: [...(channel.to ?? [])],
          caFile: channel.ca_file === undefined ? undefined : path.resolve(configDir, channel.ca_file),
        },
      };
    }
    return { ...common, url: secret('url'), secret: secret('secret'), token: secret('token') };
  });
}
