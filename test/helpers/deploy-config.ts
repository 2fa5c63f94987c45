import { uniqueBuildUidBase } from './build-uids.ts';

/** What sets one test's berth.toml apart from the others that deploy a site. */
export interface DeployConfigOptions {
  /** The site's name; "blog" unless given. */
  site?: string;
  /** The site's domains; `["localhost"]` unless given. */
  domains?: string[];
  /** The bare repository to build; the site has none when left out. */
  repo?: string;
  /** `[deploy] build_uid_base`; a random one of this config's own (`uniqueBuildUidBase()`) when left out. */
  buildUidBase?: number;
  /** More `[deploy]` lines, such as `keep_deploys = 1`. */
  deploy?: string[];
  /** Lines after the site's `repo`: its keys and tables (`[sites.build]`, `[sites.webhook]`), then any further site. */
  more?: string[];
}

/**
 * The text of a berth.toml for a test that deploys a site: data in `data`
 * beside the file, HTTP on 127.0.0.1 port 0, no HTTPS and no ACME, so the
 * server needs nothing outside the machine.
 */
export function deployConfig(options: DeployConfigOptions = {}): string {
  // Never Berth's default: two tests at once that build a site of the same name as the same uid kill each other's builds.
  const deploy = [`build_uid_base = ${options.buildUidBase ?? uniqueBuildUidBase()}`, ...(options.deploy ?? [])];
  return [
    'data_dir = "data"',
    '[server]',
    'host = "127.0.0.1"',
    'http_port = 0',
    'https_port = false',
    '[acme]',
    'directory = "off"',
    '[deploy]',
    ...deploy,
    '[[sites]]',
    `name = ${JSON.stringify(options.site ?? 'blog')}`,
    `domains = ${JSON.stringify(options.domains ?? ['localhost'])}`,
    ...(options.repo === undefined ? [] : [`repo = ${JSON.stringify(options.repo)}`]),
    ...(options.more ?? []),
  ].join('\n');
}
