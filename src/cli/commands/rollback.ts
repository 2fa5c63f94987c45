import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { userInfo } from 'node:os';
import { rollBack, type RollbackOutcome } from '../../deploy/roll-back.ts';
import { isReleaseId } from '../../releases/release-id.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configOption, type Command } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const rollback: Command = {
  name: 'rollback',
  summary: 'make the previous release (or a given one) live again',
  usage: 'rollback --site S [ID]',
  details: `Without ID, activates the newest release older than the live one. With ID
(from \`berth releases\`), activates that one. The switch is atomic and a running
\`berth serve\` picks it up at once. The rollback is recorded in the deploy
history (\`berth deploys\`, trigger "rollback"). Automatic deploys are not
locked: the next push deploys as usual (the dashboard's rollback locks them).

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
    const store = openStateStore(config.dataDir);
    let outcome: RollbackOutcome;
    try {
      outcome = await rollBack({ dataDir: config.dataDir, site, release: wanted, by: `berth rollback as ${shellUser(io.env)}`, store });
    } finally {
      store.close();
    }
    const { from, to, deploy } = outcome;
    if (from === to) {
      io.stdout.write(`${site.name} release ${to} was already live\n`);
      return 0;
    }
    io.stdout.write(`${site.name} is now on release ${to} (was ${from ?? 'none'})${deploy === undefined ? '' : `; recorded as deploy ${deploy.id}`}\n`);
    if (outcome.recordError !== undefined) {
      const reason = outcome.recordError instanceof Error ? outcome.recordError.message : String(outcome.recordError);
      io.stderr.write(`warning: the rollback is done but is not in the deploy history: ${reason}\n`);
    }
    return 0;
  },
};

/** Who ran the command, as the shell knows them (sudo's caller first). */
function shellUser(env: NodeJS.ProcessEnv): string {
  const named = env.SUDO_USER ?? env.USER ?? env.LOGNAME;
  if (named !== undefined && named !== '') return named;
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

export default rollback;
