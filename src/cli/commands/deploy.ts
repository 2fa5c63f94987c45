import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { createLogger } from '../../log/logger.ts';
import { withoutOutputTail } from '../../deploy/build-runner.ts';
import { runDeploy } from '../../deploy/run-deploy.ts';
import { shellWord } from '../../shell-quote.ts';
import { stripAnsi } from '../../log/strip-ansi.ts';
import { activeReleaseId } from '../../releases/release-list.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { openStateStore } from '../../state/state-store.ts';
import { configOption, type Command } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

const deploy: Command = {
  name: 'deploy',
  summary: "fetch a site's branch (or a ref or commit), build it and make it live now",
  usage: 'deploy --site S [--ref R] [--sha COMMIT]',
  details: `Runs one deploy in this process, printing its log as it goes: fetch the
commit, build, publish, check that / answers, make it live. Works whether or
not \`berth serve\` runs (a running server switches at once); deploys of one
site never overlap. A failed deploy leaves the live site as it was.

Options:
  --site, -s S       the site (may be left out when the config has one site)
  --ref R            branch or ref to deploy (default: the site's branch)
  --sha COMMIT       deploy exactly this commit (40 hex digits)
  --trigger T        recorded trigger: cli (default) or hook
  --quiet, -q        print only the result, not the log
  --config, -c FILE  the config file

Exit codes: 0 live or already live, 1 the deploy failed, 2 usage.`,
  maxPositionals: 0,
  options: {
    ...configOption,
    ...siteOption,
    ref: { type: 'string' },
    sha: { type: 'string' },
    trigger: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  },
  async run(args, io) {
    if (args.positionals.length > 0) throw new BerthError('E_USAGE', `deploy takes no arguments; got "${args.positionals[0]}"`);
    const sha = args.values.sha as string | undefined;
    if (sha !== undefined && !SHA.test(sha)) throw new BerthError('E_USAGE', `--sha "${sha}" is not a full commit id (40 hex digits)`);
    const trigger = (args.values.trigger as string | undefined) ?? 'cli';
    if (trigger !== 'cli' && trigger !== 'hook') throw new BerthError('E_USAGE', `--trigger must be cli or hook, not "${trigger}"`);
    const configPath = findConfigPath(args.values.config as string | undefined, io.env, io.cwd);
    const config = await loadConfig(configPath, io.env);
    const site = selectSite(config, args.values.site as string | undefined);
    const rawRef = (args.values.ref as string | undefined) ?? site.branch;
    const ref = rawRef.startsWith('refs/') ? rawRef : `refs/heads/${rawRef}`;
    const store = openStateStore(config.dataDir);
    // Ctrl-C (or the push that runs this from a hook being cut off) cancels the
    // deploy: its build process group is killed and the record says cancelled.
    const cancel = new AbortController();
    const onSignal = (): void => cancel.abort(new Error('interrupted'));
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const name of signals) process.on(name, onSignal);
    try {
      const record = store.createDeploy({ site: site.name, trigger, ref, sha });
      const quiet = args.values.quiet === true;
      const result = await runDeploy(
        { config, store, logger: createLogger({ level: 'silent' }), echo: quiet ? undefined : (line) => io.stderr.write((io.stderr as { isTTY?: boolean }).isTTY === true ? line : stripAnsi(line)) },
        record,
        cancel.signal,
      );
      if (result.state === 'live') {
        io.stdout.write(`Deploy ${result.id} of ${site.name} is live: release ${result.releaseId} from ${result.sha}\n`);
        return 0;
      }
      if (result.state === 'skipped') {
        io.stdout.write(`Deploy ${result.id}: ${result.sha} is already live on ${site.name}; nothing to do\n`);
        return 0;
      }
      // Shown with its log above, a build's output is not printed a second time.
      const message = quiet || result.errorCode !== 'E_BUILD_FAILED' ? (result.errorMessage ?? '') : withoutOutputTail(result.errorMessage ?? '');
      io.stderr.write(`berth deploy: deploy ${result.id} ${result.state}: ${message} [${result.errorCode ?? 'E_DEPLOY_FAILED'}]\n`);
      // Said only when it is true: a first deploy that fails leaves no site at all.
      const live = await activeReleaseId(sitePaths(config.dataDir, site.name));
      io.stderr.write(`${live === undefined ? `${site.name} has no live release yet.` : `The live site is unchanged (release ${live}).`} Full log: berth logs ${result.id} --config ${shellWord(configPath)}\n`);
      if (cancel.signal.aborted) {
        // From a post-receive hook the branch has already moved: without this, the site silently stays behind it.
        const again = ['berth deploy', `--site ${shellWord(site.name)}`, `--ref ${shellWord(ref)}`, ...(result.sha === undefined && sha === undefined ? [] : [`--sha ${result.sha ?? sha ?? ''}`]), `--config ${shellWord(configPath)}`];
        io.stderr.write(`The deploy was interrupted before it finished; run it again with: ${again.join(' ')}\n`);
      }
      return 1;
    } finally {
      for (const name of signals) process.off(name, onSignal);
      store.close();
    }
  },
};

export default deploy;
