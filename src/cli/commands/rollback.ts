import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { activateRelease, previousReleaseId } from '../../releases/activate.ts';
import { activeReleaseId } from '../../releases/release-list.ts';
import { isReleaseId } from '../../releases/release-id.ts';
import { withSiteLock } from '../../releases/site-lock.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { configOption, type Command } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const rollback: Command = {
  name: 'rollback',
  summary: 'make the previous release (or a given one) live again',
  usage: 'rollback --site S [ID]',
  details: `Without ID, activates the newest release older than the live one. With ID
(from \`berth releases\`), activates that one. The switch is atomic and a running
\`berth serve\` picks it up at once.

Options:
  --site, -s S       the site (may be left out when the config has one site)
  --config, -c FILE  the config file`,
  maxPositionals: 1,
  options: { ...configOption, ...siteOption },
  async run(args, io) {
    if (args.positionals.length > 1) throw new BerthError('E_USAGE', 'rollback takes at most one release id');
    const wanted = args.positionals[0];
    if (wanted !== undefined && !isReleaseId(wanted)) {
      throw new BerthError('E_USAGE', `"${wanted}" is not a release id; ids look like 20261127T071500Z-1a2b3c4d (see \`berth releases\`)`);
    }
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const site = selectSite(config, args.values.site as string | undefined);
    const paths = sitePaths(config.dataDir, site.name);
    const [from, to] = await withSiteLock(paths.lockFile, async () => {
      const active = await activeReleaseId(paths);
      const target = wanted ?? (await previousReleaseId(paths));
      await activateRelease(paths, target);
      return [active, target] as const;
    });
    io.stdout.write(from === to ? `${site.name} release ${to} was already live\n` : `${site.name} is now on release ${to} (was ${from ?? 'none'})\n`);
    return 0;
  },
};

export default rollback;
