import type { ConfigProblem } from '../config/load-config.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';

/**
 * What `berth check` says about builds run by a Berth of this uid: only
 * root can run each build as its site's uid (directly, or as the parent of
 * an unprivileged Berth); any other user cannot change uid, so a build would
 * run as Berth's own user, able to read its keys and secrets and change every
 * site. Such deploys fail with E_BUILD_UNISOLATED unless the config allows
 * them; either way, it is worth a warning. Undefined when nothing is built
 * (no site has a repository) or builds are isolated.
 */
export function unisolatedBuildWarning(config: ResolvedConfig, uid: number | undefined): ConfigProblem | undefined {
  if (uid === 0) return undefined;
  const built = config.sites.filter((site) => site.repo !== undefined).map((site) => site.name);
  if (built.length === 0) return undefined;
  const who = uid === undefined ? 'not as root' : `as uid ${uid}, not root`;
  const sites = built.length > 3 ? `${built.slice(0, 3).join(', ')}, …` : built.join(', ');
  const message = config.deploy.allowUnisolatedBuilds
    ? `builds are not isolated: Berth runs ${who}, so builds of ${sites} run as Berth's own user, which can read its certificate keys and secrets and change every site, and this key allows it; start Berth as root (it runs its own processes as [server] user and each build as its site's uid) to isolate them`
    : `Berth runs ${who}, so builds cannot run as users of their own: deploys of ${sites} that have a build command fail with E_BUILD_UNISOLATED; start Berth as root (it runs its own processes as [server] user and each build as its site's uid), or set [deploy] allow_unisolated_builds = true to build as Berth's own user, which can read its keys and secrets`;
  return { path: 'deploy.allow_unisolated_builds', line: undefined, message, severity: 'warning' };
}
