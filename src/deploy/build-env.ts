import { delimiter, dirname, join } from 'node:path';

/**
 * The environment a build command sees. A build runs code from the site's
 * repository and from every package it installs, so it gets only what it
 * needs from Berth's own environment: never Berth's tokens, webhook secrets
 * or `NODE_OPTIONS`.
 */

/** Variables copied from Berth's own environment when set; everything else is left behind. */
export const INHERITED_VARIABLES: readonly string[] = [
  'PATH',
  'LANG',
  'LC_ALL',
  'TZ',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  // Which certificate authorities to trust (a proxy's, a private registry's):
  // paths, not credentials. Without them npm and git cannot fetch behind such a proxy.
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'npm_config_cafile',
  'NPM_CONFIG_CAFILE',
];

/**
 * Names that look like credentials. Checked on top of the allow-list, so a
 * later addition to `INHERITED_VARIABLES` can never leak one by mistake.
 */
const SECRET_LIKE = /SECRET|TOKEN|KEY|PASSWORD/i;

const FALLBACK_PATH = '/usr/local/bin:/usr/bin:/bin';

export interface BuildEnvironmentOptions {
  /** `HOME` for the build: a per-site directory that persists between builds. */
  home: string;
  /** The site's cache directory (`data_dir/sites/<site>/cache`); npm's cache goes in `npm/` below it. */
  cacheDir: string;
  /**
   * `TMPDIR` for the build: a directory of the site's own, so temporary
   * files of one site's build are not in a directory every build shares.
   * Left unset when absent.
   */
  tmpDir?: string;
  /** Berth's own environment; `process.env` when absent (tests pass their own). */
  parentEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Put first on `PATH`, so `node` (and npm, which starts through
   * `#!/usr/bin/env node`) is the Node that runs Berth rather than an older
   * one on the machine. The `node_modules` cache key names that Node's major
   * version, so the two must agree. Defaults to the directory of
   * `process.execPath`; pass `''` to leave `PATH` as inherited.
   */
  nodeBinDir?: string;
}

/**
 * Builds the complete environment for a build command, in layers where a
 * later one wins: the allow-listed part of Berth's environment and Berth's
 * own variables, then the repository's `[build] environment`
 * (`settingsEnv`), then `[sites.build] environment` from the server config
 * (`siteEnv`). The repository and the server config may set any name,
 * including ones that look like tokens: those were put there on purpose.
 * `NODE_ENV` is not set, so `npm ci` still installs devDependencies.
 */
export function buildEnvironment(
  settingsEnv: Readonly<Record<string, string>>,
  siteEnv: Readonly<Record<string, string>>,
  options: BuildEnvironmentOptions,
): Record<string, string> {
  const parent = options.parentEnv ?? process.env;
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = parent[name];
    if (value !== undefined && !SECRET_LIKE.test(name)) env[name] = value;
  }
  env.PATH = withFirstOnPath(env.PATH ?? FALLBACK_PATH, options.nodeBinDir ?? dirname(process.execPath));
  env.HOME = options.home;
  if (options.tmpDir !== undefined) env.TMPDIR = options.tmpDir;
  env.CI = 'true';
  env.BERTH = '1';
  env.npm_config_cache = join(options.cacheDir, 'npm');
  // Quieter, faster installs; a repository can turn any of them back on.
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  Object.assign(env, settingsEnv, siteEnv);
  return env;
}

function withFirstOnPath(path: string, dir: string): string {
  if (dir === '') return path;
  const rest = path.split(delimiter).filter((entry) => entry !== '' && entry !== dir);
  return [dir, ...rest].join(delimiter);
}
