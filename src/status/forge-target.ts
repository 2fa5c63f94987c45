import { BerthError } from '../errors.ts';
import type { ForgeTarget, StatusForge } from './commit-status.ts';

/**
 * Where a site's commit statuses go, worked out from its `repo` (the clone
 * URL) and the optional `forge` and `api` of `[sites.status]`.
 *
 * Accepted forms: `https://host/owner/repo(.git)`, `ssh://git@host[:port]/owner/repo(.git)`
 * and scp-like `git@host:owner/repo(.git)`. The well-known hosts name their
 * forge; any other host is self-hosted and needs `forge`. A URL carrying
 * credentials is refused and never repeated in the message: it would put
 * the credentials in the log.
 */

export interface ForgeTargetOptions {
  forge?: StatusForge;
  /** The API root, when it is not where the forge usually has it. */
  api?: string;
}

const KNOWN_HOSTS: Record<string, StatusForge> = {
  'github.com': 'github',
  'gitlab.com': 'gitlab',
  'bitbucket.org': 'bitbucket',
  'codeberg.org': 'forgejo',
};

const KNOWN_APIS: Record<string, string> = {
  'github.com': 'https://api.github.com',
  'gitlab.com': 'https://gitlab.com/api/v4',
  'bitbucket.org': 'https://api.bitbucket.org/2.0',
  'codeberg.org': 'https://codeberg.org/api/v1',
};

const FORGE_NAMES = ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket'] as const;

export interface RepoLocation {
  /** Lower-case host name, without port. */
  hostname: string;
  /** The web origin the forge's API sits under, for self-hosted forges: `https://host[:port]`. */
  webOrigin: string;
  /** The path after the host, without slashes at either end or `.git`. */
  path: string;
}

export function forgeTargetFromRepo(repoUrl: string, options: ForgeTargetOptions = {}): ForgeTarget {
  const location = parseRepoLocation(repoUrl);
  const known = KNOWN_HOSTS[location.hostname];
  if (options.forge !== undefined && !(FORGE_NAMES as readonly string[]).includes(options.forge)) {
    refuse(`forge must be one of ${FORGE_NAMES.join(', ')}`);
  }
  if (known !== undefined && options.forge !== undefined && options.forge !== known && !(known === 'forgejo' && options.forge === 'gitea')) {
    refuse(`repo is on ${location.hostname}, which runs ${known}, but forge says ${options.forge}; remove forge or correct repo`);
  }
  const forge = options.forge ?? known;
  if (forge === undefined) {
    refuse(`cannot tell which forge ${location.hostname} runs; set forge to one of ${FORGE_NAMES.join(', ')} in [sites.status]`);
  }

  const segments = location.path.split('/');
  if (forge === 'gitlab' ? segments.length < 2 : segments.length !== 2) {
    const shape = forge === 'gitlab' ? 'group/project (or group/subgroup/project)' : 'owner/repository';
    refuse(`the repo URL's path on ${location.hostname} is not ${shape}`);
  }

  return Object.freeze({ forge, apiBase: options.api === undefined ? defaultApi(forge, location, known !== undefined) : checkApi(options.api), repo: location.path });
}

function defaultApi(forge: StatusForge, location: RepoLocation, knownHost: boolean): string {
  const known = knownHost ? KNOWN_APIS[location.hostname] : undefined;
  if (known !== undefined) return known;
  switch (forge) {
    case 'github':
      // GitHub Enterprise Server.
      return `${location.webOrigin}/api/v3`;
    case 'gitlab':
      return `${location.webOrigin}/api/v4`;
    case 'gitea':
    case 'forgejo':
      return `${location.webOrigin}/api/v1`;
    case 'bitbucket':
      return refuse(`Berth speaks Bitbucket Cloud's API (bitbucket.org); for ${location.hostname} set api to a Bitbucket Cloud compatible API root`);
  }
}

function checkApi(api: string): string {
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    return refuse('api is not a URL; write it as https://host/path, e.g. https://git.example.com/api/v1');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refuse(`api must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '') refuse('api carries credentials; remove them from the URL and give the token with token or token_file');
  if (url.search !== '' || url.hash !== '') refuse('api must not have a query or a fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

const SCP_LIKE = /^(?:([^@/:\s]+)@)?([^@/:\s]+):(?!\/\/)(.+)$/;

export function parseRepoLocation(repoUrl: string): RepoLocation {
  const text = repoUrl.trim();
  if (text === '') refuse('repo is empty; commit statuses need the forge\'s clone URL');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return fromUrl(text);
  if (text.startsWith('/') || text.startsWith('.') || text.startsWith('~') || /^[a-z]:[\\/]/i.test(text)) {
    refuse('repo is a local path; commit statuses need the forge\'s URL (https://host/owner/repo.git or git@host:owner/repo.git)');
  }
  const scp = SCP_LIKE.exec(text);
  if (scp === null) refuse('repo is not a URL Berth can read; write https://host/owner/repo.git or git@host:owner/repo.git');
  const hostname = (scp[2] as string).toLowerCase();
  return { hostname, webOrigin: `https://${hostname}`, path: repoPath(scp[3] as string, hostname) };
}

function fromUrl(text: string): RepoLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse('repo is not a valid URL; write https://host/owner/repo.git or git@host:owner/repo.git');
  }
  const scheme = url.protocol;
  if (scheme === 'file:') refuse('repo is a file:// URL, a repository on this machine; commit statuses need the forge\'s URL');
  const web = scheme === 'https:' || scheme === 'http:';
  if (!web && scheme !== 'ssh:' && scheme !== 'git+ssh:' && scheme !== 'git:') {
    refuse(`repo has the scheme ${scheme.slice(0, 20)}, which is not a forge's; use https://, ssh:// or git@host:owner/repo.git`);
  }
  // An SSH user (git@) is an account name, not a secret; in an http(s) URL
  // any user part is a token or a login.
  if (url.password !== '' || (web && url.username !== '')) {
    refuse('repo carries credentials in its URL, which is not repeated here; remove them (give git its token with the site\'s token_env, and the status token with [sites.status] token)');
  }
  if (url.search !== '' || url.hash !== '') refuse('repo has a query or a fragment, which is not repeated here; write the clone URL alone');
  const hostname = url.hostname.toLowerCase();
  if (hostname === '') refuse('repo names no host');
  // An SSH port is not the web server's; an http(s) port is.
  const webOrigin = web ? `${scheme}//${url.host.toLowerCase()}` : `https://${hostname}`;
  let pathname: string;
  try {
    pathname = decodeURIComponent(url.pathname);
  } catch {
    return refuse(`the repo URL's path on ${hostname} is not valid percent-encoding`);
  }
  return { hostname, webOrigin, path: repoPath(pathname, hostname) };
}

function repoPath(raw: string, hostname: string): string {
  // "user:password@host:path" reads as host "user" and a path holding the
  // rest; no forge's repository path has these characters.
  if (/[@:\s\\]/.test(raw)) refuse(`the repo URL's path on ${hostname} holds characters no repository path has, so it is not repeated here; write https://host/owner/repo.git with no credentials`);
  const path = raw.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  const segments = path.split('/');
  if (path === '' || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    refuse(`the repo URL on ${hostname} names no owner and repository`);
  }
  return path;
}

function refuse(message: string): never {
  throw new BerthError('E_STATUS_CONFIG', `Cannot post commit statuses: ${message}`);
}
