import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configOption, type Command } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const deploys: Command = {
  name: 'deploys',
  summary: 'deploy history, newest first',
  usage: 'deploys [--site S] [--limit N] [--json]',
  details: `Options:
  --site, -s S       only this site
  --limit, -n N      how many (default 20)
  --json             print JSON
  --config, -c FILE  the config file`,
  maxPositionals: 0,
  options: { ...configOption, ...siteOption, limit: { type: 'string', short: 'n' }, json: { type: 'boolean' } },
  async run(args, io) {
    const limitText = (args.values.limit as string | undefined) ?? '20';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new BerthError('E_USAGE', `--limit "${limitText}" is not a number from 1 to 10000`);
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
    const site = args.values.site as string | undefined;
    // Without --site the history of every site is shown; with it, the name must be configured.
    if (site !== undefined) selectSite(config, site);
    const store = openStateStore(config.dataDir);
    try {
      const list = store.listDeploys({ site, limit });
      if (args.values.json === true) {
        io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return 0;
      }
      if (list.length === 0) {
        io.stdout.write('No deploys yet\n');
        return 0;
      }
      for (const d of list) {
        const took = d.startedAt !== undefined && d.finishedAt !== undefined ? `${((Date.parse(d.finishedAt) - Date.parse(d.startedAt)) / 1000).toFixed(1)}s` : '';
        const what = d.state === 'failed' || d.state === 'cancelled' ? `${d.errorCode ?? ''} ${d.errorMessage ?? ''}` : (d.releaseId ?? '');
        io.stdout.write(`${d.id}  ${d.site.padEnd(12)} ${d.state.padEnd(10)} ${(d.sha ?? '').slice(0, 12).padEnd(12)} ${d.trigger.padEnd(7)} ${took.padStart(7)}  ${what.trim()}\n`);
      }
      return 0;
    } finally {
      store.close();
    }
  },
};

export default deploys;
