import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../errors.ts';
import { deployLogPath } from '../../deploy/deploy-log.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configHint } from '../config-hint.ts';
import { historyDir } from '../history-dir.ts';
import { configOption, type Command } from '../command.ts';

const ACTIVE = new Set(['queued', 'building', 'publishing']);

const logs: Command = {
  name: 'logs',
  summary: "print a deploy's log, or follow it while it runs",
  usage: 'logs <deploy-id> [--follow]\n       logs --site S [--follow]',
  details: `The id may be shortened to any unique prefix (see \`berth deploys\`).
With --site instead of an id, the latest deploy of that site.

Options:
  --site, -s S       the latest deploy of site S
  --follow, -f       keep printing until the deploy ends
  --config, -c FILE  the config file (default ./berth.toml, $BERTH_CONFIG,
                     /etc/berth/berth.toml; with none of them, the history
                     in /var/lib/berth)`,
  maxPositionals: 1,
  options: { ...configOption, site: { type: 'string', short: 's' }, follow: { type: 'boolean', short: 'f' } },
  async run(args, io) {
    const wanted = args.positionals[0];
    const siteName = args.values.site as string | undefined;
    if ((wanted === undefined) === (siteName === undefined)) {
      throw new BerthError('E_USAGE', 'logs takes one deploy id (`berth logs 20261127T085500Z-1a2b3c`) or --site S for the latest deploy of a site, not both');
    }
    const { dataDir, config } = await historyDir(args.values.config as string | undefined, io.env, io.cwd);
    if (siteName !== undefined && config !== undefined && !config.sites.some((site) => site.name === siteName)) {
      throw new BerthError('E_USAGE', `No site ${JSON.stringify(siteName)} in the config; the sites are ${config.sites.map((site) => site.name).join(', ')}`);
    }
    const store = openStateStore(dataDir);
    try {
      const record = siteName === undefined ? store.findDeploy(wanted as string) : store.listDeploys({ site: siteName, limit: 1 })[0];
      if (record === undefined) {
        const hint = config === undefined ? '' : configHint(args.values.config, config.configPath);
        throw new BerthError(
          'E_DEPLOY_NOT_FOUND',
          siteName === undefined ? `No deploy ${String(wanted)}; see \`berth deploys${hint}\`` : `Site ${siteName} has no deploys yet; \`berth deploy --site ${siteName}${hint}\` runs one`,
        );
      }
      const file = deployLogPath(dataDir, record.id);
      let offset = 0;
      const printNew = async (): Promise<void> => {
        let handle;
        try {
          handle = await open(file, 'r');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
        try {
          const buffer = Buffer.alloc(64 * 1024);
          for (;;) {
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
            if (bytesRead === 0) break;
            offset += bytesRead;
            io.stdout.write(buffer.subarray(0, bytesRead));
          }
        } finally {
          await handle.close();
        }
      };
      await printNew();
      if (args.values.follow === true) {
        while (ACTIVE.has(store.getDeploy(record.id)?.state ?? '')) {
          await sleep(200);
          await printNew();
        }
        await printNew();
      }
      const final = store.getDeploy(record.id);
      if (offset === 0) io.stderr.write(`Deploy ${record.id} has no log yet (${final?.state ?? record.state})\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};

export default logs;
