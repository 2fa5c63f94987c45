import { BerthError } from '../../errors.ts';
import { deployLogPath } from '../../deploy/deploy-log.ts';
import { followDeploy, printLogFrom, type FollowOutcome } from '../../deploy/follow-deploy.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configHint } from '../config-hint.ts';
import { historyDir } from '../history-dir.ts';
import { configOption, type Command } from '../command.ts';

/** Ctrl-C and a closed terminal stop following; the deploy goes on. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const logs: Command = {
  name: 'logs',
  summary: "print a deploy's log, or follow it while it runs",
  usage: 'logs <deploy-id> [--follow]\n       logs --site S [--follow]',
  details: `The id may be shortened to any unique prefix (see \`berth deploys\`).
With --site instead of an id, the latest deploy of that site.

Options:
  --site, -s S       the latest deploy of site S
  --follow, -f       keep printing until the deploy ends (Ctrl-C stops
                     printing, not the deploy)
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
      let printed = 0;
      const write = (chunk: Buffer): void => {
        printed += chunk.length;
        io.stdout.write(chunk);
      };
      if (args.values.follow !== true) {
        await printLogFrom(file, 0, write);
        if (printed === 0) io.stderr.write(`Deploy ${record.id} has no log yet (${record.state})\n`);
        return 0;
      }
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      for (const name of SIGNALS) process.on(name, onSignal);
      let outcome: FollowOutcome;
      try {
        outcome = await followDeploy({ dataDir, store, deployId: record.id, write, signal: stop.signal, running: async () => store.ownerRunning(record.id) });
      } finally {
        for (const name of SIGNALS) process.off(name, onSignal);
      }
      if ('missing' in outcome) throw new BerthError('E_DEPLOY_NOT_FOUND', `Deploy ${record.id} is no longer in the deploy history`);
      if ('orphaned' in outcome) {
        // Without this the command would wait for an end that only a restarted server records.
        io.stderr.write(
          `berth logs: the process running deploy ${record.id} is gone, so it will not end by itself; \`berth serve\` records it interrupted when it starts [E_DEPLOY_INTERRUPTED]\n`,
        );
        return 1;
      }
      const last = 'ended' in outcome ? outcome.ended : outcome.stopped;
      if (printed === 0) io.stderr.write(`Deploy ${record.id} has no log yet (${last.state})\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};

export default logs;
