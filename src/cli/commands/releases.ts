import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { listReleases } from '../../releases/release-list.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { configHint } from '../config-hint.ts';
import { configOption, type Command } from '../command.ts';
import { formatBytes } from '../format.ts';
import { selectSite, siteOption } from '../site-option.ts';

const releases: Command = {
  name: 'releases',
  summary: "list a site's releases, newest first, the live one marked",
  usage: 'releases --site S [--json]',
  details: `Options:
  --site, -s S       the site (may be left out when the config has one site)
  --json             print JSON instead of a table
  --config, -c FILE  the config file`,
  maxPositionals: 0,
  options: { ...configOption, ...siteOption, json: { type: 'boolean' } },
  async run(args, io) {
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const site = selectSite(config, args.values.site as string | undefined);
    const list = await listReleases(sitePaths(config.dataDir, site.name));
    if (args.values.json === true) {
      io.stdout.write(`${JSON.stringify(list.map(({ summary, active }) => ({ ...summary, active })), null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      io.stdout.write(`${site.name} has no releases yet; publish one with \`berth publish <dir> --site ${site.name}${configHint(args.values.config, config.configPath)}\`\n`);
      return 0;
    }
    for (const { summary, active } of list) {
      io.stdout.write(`${active ? '*' : ' '} ${summary.id}  ${summary.createdAt}  ${String(summary.files).padStart(6)} files  ${formatBytes(summary.bytes).padStart(9)}${active ? '  (live)' : ''}\n`);
    }
    return 0;
  },
};

export default releases;
