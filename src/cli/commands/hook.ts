import { resolve } from 'node:path';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { installPostReceiveHook } from '../../deploy/post-receive-hook.ts';
import { configOption, type Command } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const hook: Command = {
  name: 'hook',
  summary: 'install a post-receive hook so git push to a repository here deploys',
  usage: 'hook install --site S --repo PATH [--force]',
  details: `Writes PATH/hooks/post-receive (or PATH/.git/hooks/post-receive): each push
to the site's branch runs \`berth deploy --trigger hook\` for the pushed
commit, and the push shows the deploy's log. With \`berth serve\` running,
the server runs the deploy and Ctrl-C on the push stops only the showing.
Set the site's repo to the same PATH.

Options:
  --site, -s S       the site
  --repo PATH        the repository people push to (bare or not)
  --force            replace a post-receive hook berth did not write
  --config, -c FILE  the config file`,
  maxPositionals: 1,
  options: { ...configOption, ...siteOption, repo: { type: 'string' }, force: { type: 'boolean' } },
  async run(args, io) {
    if (args.positionals[0] !== 'install' || args.positionals.length > 1) {
      throw new BerthError('E_USAGE', 'the only hook command is `berth hook install --site S --repo PATH`');
    }
    const repo = args.values.repo as string | undefined;
    if (repo === undefined) throw new BerthError('E_USAGE', 'hook install needs --repo PATH, the repository pushed to');
    const configPath = findConfigPath(args.values.config as string | undefined, io.env, io.cwd);
    // Writing the hook needs no secret: the shell installing it may not have the server's environment.
    const config = await loadConfig(configPath, io.env, { secrets: 'optional' });
    const site = selectSite(config, args.values.site as string | undefined);
    const repoPath = resolve(io.cwd, repo);
    const file = await installPostReceiveHook({
      repoPath,
      site: site.name,
      branch: site.branch,
      configPath: config.configPath,
      node: process.execPath,
      cli: resolve(import.meta.dirname, '..', 'main.ts'),
      force: args.values.force === true,
    });
    io.stdout.write(`Installed ${file}: pushes to ${site.branch} deploy ${site.name}\n`);
    if (site.repo !== repoPath) {
      io.stderr.write(`Note: ${site.name}'s repo is ${site.repo ?? 'not set'}; set repo = "${repoPath}" in ${config.configPath} so deploys fetch from it\n`);
    }
    return 0;
  },
};

export default hook;
