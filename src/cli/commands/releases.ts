import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { listReleases } from '../../releases/release-list.ts';
import { openStateStore } from '../../state/state-store.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { configHint } from '../config-hint.ts';
import { configOption, type Command } from '../command.ts';
import { formatAge, formatBytes, formatLocalTime } from '../format.ts';
import { selectSite, siteOption } from '../site-option.ts';

const releases: Command = {
  name: 'releases',
  summary: "list a site's releases, newest first, the live one marked",
  usage: 'releases --site S [--json]',
  details: `One line per kept release: * and (live) on the one served now, its id
(for \`berth rollback --site S ID\`), when it was made (local time and age),
its files and size, the commit it was built from, and the deploy that made
it (\`berth logs ID\`), or "publish" for one made by berth publish.

Options:
  --site, -s S       the site (may be left out when the config has one site)
  --json             print JSON: each release's summary, "active", and "deploy" (the id, when a deploy made it)
  --config, -c FILE  the config file`,
  maxPositionals: 0,
  options: { ...configOption, ...siteOption, json: { type: 'boolean' } },
  async run(args, io) {
    // Reading needs no secret: a shell without the server's environment still reads the history.
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { secrets: 'optional' });
    const site = selectSite(config, args.values.site as string | undefined);
    const list = await listReleases(sitePaths(config.dataDir, site.name));
    const madeBy = deploysByRelease(config.dataDir, site.name);
    if (args.values.json === true) {
      io.stdout.write(`${JSON.stringify(list.map(({ summary, active }) => ({ ...summary, active, ...(madeBy.has(summary.id) ? { deploy: madeBy.get(summary.id) } : {}) })), null, 2)}\n`);
      return 0;
    }
    if (list.length === 0) {
      io.stdout.write(`${site.name} has no releases yet; publish one with \`berth publish <dir> --site ${site.name}${configHint(args.values.config, config.configPath)}\`\n`);
      return 0;
    }
    const now = new Date();
    for (const { summary, active } of list) {
      const made = new Date(summary.createdAt);
      const when = `${formatLocalTime(made)} (${formatAge(made, now)})`;
      const deploy = madeBy.get(summary.id);
      const origin = deploy !== undefined ? `deploy ${deploy}` : summary.commit === undefined ? 'publish' : '';
      const cells = [
        `${active ? '*' : ' '} ${summary.id}`,
        when.padEnd(29),
        `${String(summary.files).padStart(6)} files`,
        formatBytes(summary.bytes).padStart(9),
        (summary.commit ?? '').slice(0, 7).padEnd(7),
        origin,
        active ? '(live)' : '',
      ];
      io.stdout.write(`${cells.join('  ').trimEnd()}\n`);
    }
    return 0;
  },
};

/** Release id -> the id of the deploy that made it, from the deploy history (which may have let old deploys go). */
function deploysByRelease(dataDir: string, site: string): Map<string, string> {
  // Listing releases creates nothing: with no deploy history yet there is no state.db to open.
  if (!existsSync(join(dataDir, 'state.db'))) return new Map();
  const store = openStateStore(dataDir);
  try {
    const made = new Map<string, string>();
    // Newest first, so the oldest (the deploy that published it, not a later rollback to it) is set last.
    for (const deploy of store.listDeploys({ site, limit: 10_000, states: ['live'] })) if (deploy.releaseId !== undefined && deploy.trigger !== 'rollback') made.set(deploy.releaseId, deploy.id);
    return made;
  } finally {
    store.close();
  }
}

export default releases;
