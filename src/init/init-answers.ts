import { isIP } from 'node:net';
import { checkHostName, configSchema, describeIssue, FORGES, isRemoteRepo, show, SITE_NAME_PATTERN } from '../config/config-schema.ts';
import type { Forge } from '../config/resolved-config.ts';

/**
 * The answers `berth init` needs, and the checks on each one.
 *
 * Every check is the config schema's own (run on a one-value config), so an
 * answer accepted here is accepted by `loadConfig` later, with the same
 * message when it is not. A few limits are added where the schema has none
 * but something downstream does (a branch longer than a webhook's ref may be).
 */

export interface InitAnswers {
  /** In the form the config stores: lower case, punycode; no duplicates. */
  domains: string[];
  repo: string;
  branch: string;
  forge: Forge;
  site: string;
  /** `undefined`: no contact address for the ACME account. */
  email: string | undefined;
  /** `[admin] domain`, where the dashboard answers; `undefined`: no dashboard. */
  adminDomain: string | undefined;
  dataDir: string;
}

export const DEFAULT_BRANCH = 'main';

/** A check's outcome: the value as it will be stored, or why it is refused. */
export type Checked<T> = { ok: true; value: T; notes?: string[] } | { ok: false; message: string };

/** Webhook refs longer than this are refused (docs/webhooks.md), so a longer branch could never deploy. */
const MAX_BRANCH_LENGTH = 255 - 'refs/heads/'.length;
/** No real clone URL is this long; something else was pasted. */
const MAX_REPO_LENGTH = 2048;
const MAX_PATH_LENGTH = 4096;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Runs the config schema on `raw` and returns the first message about the value at `path`. */
function schemaMessage(raw: Record<string, unknown>, path: readonly PropertyKey[]): string | undefined {
  const parsed = configSchema.safeParse(raw, { error: describeIssue });
  if (parsed.success) return undefined;
  const issue = parsed.error.issues.find((candidate) => candidate.path.length >= path.length && path.every((segment, i) => candidate.path[i] === segment));
  return issue?.message;
}

/** A site with placeholders, and `field` set to `value`, for checking one site key. */
function siteMessage(field: string, value: unknown): string | undefined {
  return schemaMessage({ sites: [{ name: 'site', domains: ['example.com'], [field]: value }] }, ['sites', 0, field]);
}

/**
 * Domains from one or more answers, each possibly comma-separated. A name
 * given twice (in any case or form) is kept once, with a note. The
 * dashboard's host name, when already chosen, is refused: `loadConfig`
 * would refuse the pair.
 */
export function checkDomains(inputs: readonly string[], adminDomain?: string): Checked<string[]> {
  const domains: string[] = [];
  const notes: string[] = [];
  for (const input of inputs) {
    for (const part of input.split(',')) {
      const name = part.trim();
      if (name === '') {
        return { ok: false, message: `${show(input)} has an empty name (a comma at the start or end, or two in a row); separate names with single commas, e.g. "example.com,www.example.com"` };
      }
      const checked = checkHostName(name);
      if (!checked.ok) return { ok: false, message: checked.message };
      if (checked.host === adminDomain) {
        return { ok: false, message: `${show(name)} is the dashboard's host name (--admin-domain); give the site names of its own` };
      }
      if (domains.includes(checked.host)) {
        notes.push(`${checked.host} was given twice; it is listed once`);
      } else {
        domains.push(checked.host);
      }
    }
  }
  if (domains.length === 0) return { ok: false, message: 'no domain given; write a host name such as "example.com"' };
  return { ok: true, value: domains, notes };
}

export function checkRepo(repo: string): Checked<string> {
  if (repo.length > MAX_REPO_LENGTH) return { ok: false, message: `${show(repo)} is ${repo.length} characters long; a clone URL is at most ${MAX_REPO_LENGTH}` };
  const message = siteMessage('repo', repo);
  return message === undefined ? { ok: true, value: repo } : { ok: false, message };
}

export function checkBranch(branch: string): Checked<string> {
  if (branch.length > MAX_BRANCH_LENGTH) {
    return { ok: false, message: `${show(branch)} is ${branch.length} characters long; forges send refs of at most 255 characters, so use at most ${MAX_BRANCH_LENGTH}` };
  }
  const message = siteMessage('branch', branch);
  return message === undefined ? { ok: true, value: branch } : { ok: false, message };
}

export function checkSiteName(site: string): Checked<string> {
  if (SITE_NAME_PATTERN.test(site)) return { ok: true, value: site };
  return { ok: false, message: siteMessage('name', site) ?? `${show(site)} is not a valid site name` };
}

export function checkForge(forge: string): Checked<Forge> {
  const found = FORGES.find((candidate) => candidate === forge.trim().toLowerCase());
  return found === undefined ? { ok: false, message: `unknown forge ${show(forge)}; use one of ${FORGES.join(', ')}` } : { ok: true, value: found };
}

/** An empty answer means no email. */
export function checkEmail(email: string): Checked<string | undefined> {
  if (email === '') return { ok: true, value: undefined };
  if (email.length > 254) return { ok: false, message: `${show(email)} is ${email.length} characters long; an email address is at most 254` };
  const message = schemaMessage({ acme: { email } }, ['acme', 'email']);
  return message === undefined ? { ok: true, value: email } : { ok: false, message };
}

/**
 * The dashboard's host name, checked like a site's domain; an empty answer
 * means no dashboard. It cannot be one of the site's `domains`: requests to
 * a name go either to the site or to the dashboard.
 */
export function checkAdminDomain(input: string, domains: readonly string[]): Checked<string | undefined> {
  if (input === '') return { ok: true, value: undefined };
  const checked = checkHostName(input);
  if (!checked.ok) return { ok: false, message: checked.message };
  if (domains.includes(checked.host)) {
    const instead = suggestAdminDomain(domains);
    return {
      ok: false,
      message: `${show(input)} is one of the site's domains; the dashboard needs a host name of its own${instead === undefined ? '' : `, such as ${show(instead)}`}`,
    };
  }
  return { ok: true, value: checked.host };
}

/**
 * A host name to suggest for the dashboard: `berth.` before the primary
 * domain without its `www.` (`www.example.com` -> `berth.example.com`).
 * `undefined` for an IP address, or when the name would not be valid or
 * is already one of the site's.
 */
export function suggestAdminDomain(domains: readonly string[]): string | undefined {
  const primary = domains[0];
  if (primary === undefined || isIP(primary) !== 0) return undefined;
  const checked = checkHostName(`berth.${primary.replace(/^www\./, '')}`);
  return checked.ok && !domains.includes(checked.host) ? checked.host : undefined;
}

export function checkDataDir(dir: string): Checked<string> {
  if (dir.length > MAX_PATH_LENGTH) return { ok: false, message: `${show(dir)} is ${dir.length} characters long; a path is at most ${MAX_PATH_LENGTH}` };
  if (CONTROL.test(dir)) return { ok: false, message: `${show(dir)} contains a control character` };
  const message = schemaMessage({ data_dir: dir }, ['data_dir']);
  return message === undefined ? { ok: true, value: dir } : { ok: false, message };
}

/** The host part of a clone URL or scp-like address; `undefined` for a local path. */
export function repoHost(repo: string): string | undefined {
  if (!isRemoteRepo(repo)) return undefined;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) {
    if (!URL.canParse(repo)) return undefined;
    const host = new URL(repo).hostname.toLowerCase();
    return host === '' ? undefined : host;
  }
  // scp-like: [user@]host:path
  const beforeColon = repo.slice(0, repo.indexOf(':'));
  const host = beforeColon.slice(beforeColon.lastIndexOf('@') + 1).toLowerCase();
  return host === '' ? undefined : host;
}

const KNOWN_HOSTS: Readonly<Record<string, Forge>> = {
  'github.com': 'github',
  'gitlab.com': 'gitlab',
  'bitbucket.org': 'bitbucket',
  'codeberg.org': 'forgejo',
};

/**
 * The forge a repository is probably on, from its host: the public hosts by
 * name, a self-hosted one when its name says which software it runs
 * (`gitlab.example.com`, `gitea.example.org`), else `undefined`.
 */
export function guessForge(repo: string): Forge | undefined {
  const host = repoHost(repo);
  if (host === undefined) return undefined;
  const known = KNOWN_HOSTS[host] ?? KNOWN_HOSTS[host.replace(/^(www|ssh)\./, '')];
  if (known !== undefined) return known;
  const labels = host.split('.');
  for (const forge of ['forgejo', 'gitea', 'gitlab', 'github'] as const) {
    if (labels.includes(forge)) return forge;
  }
  return undefined;
}

/**
 * A site name from the primary domain: `www.` dropped, every run of other
 * characters made one hyphen, e.g. `www.example.com` -> `example-com`.
 */
export function siteNameFromDomain(domain: string): string {
  const name = domain
    .toLowerCase()
    .replace(/^www\./, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return SITE_NAME_PATTERN.test(name) ? name : 'site';
}
