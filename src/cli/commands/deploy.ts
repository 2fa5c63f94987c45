import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import { BerthError } from '../../errors.ts';
import { createLogger, flushLogger } from '../../log/logger.ts';
import { createDeployReporting } from '../../deploy/deploy-reporting.ts';
import { observeDeploys } from '../../deploy/observe-deploys.ts';
import { startServerNotices } from '../../notify/server-notices.ts';
import { withoutOutputTail } from '../../deploy/build-runner.ts';
import { runDeploy } from '../../deploy/run-deploy.ts';
import { shellWord } from '../../shell-quote.ts';
import { stripAnsi } from '../../log/strip-ansi.ts';
import { activeReleaseId } from '../../releases/release-list.ts';
import { sitePaths } from '../../releases/site-paths.ts';
import { openStateStore } from '../../state/state-store.ts';
import { runningServerPid } from '../../state/data-dir-lock.ts';
import { handDeployToServer } from '../../app/hand-deploy-to-server.ts';
import { followDeploy } from '../../deploy/follow-deploy.ts';
import type { DeployRecord } from '../../deploy/deploy-types.ts';
import { configOption, type Command, type CommandIo } from '../command.ts';
import { selectSite, siteOption } from '../site-option.ts';

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

const deploy: Command = {
  name: 'deploy',
  summary: "fetch a site's branch (or a ref or commit), build it and make it live now",
  usage: 'deploy --site S [--ref R] [--sha COMMIT]',
  details: `Runs one deploy in this process, printing its log as it goes: fetch the
commit, build, publish, check that / answers, make it live. Works whether or
not \`berth serve\` runs (a running server switches at once); deploys of one
site never overlap. A failed deploy leaves the live site as it was. Ctrl-C
cancels the deploy.

With --trigger hook (what a post-receive hook runs) and a \`berth serve\`
running on the data dir, the server runs the deploy and this command shows
its log until it ends: Ctrl-C, or a push cut off, stops the showing, not the
deploy (\`berth logs ID --follow\` picks it up again). With no server, the
deploy runs in this process.

A site with [sites.status] gets the deploy's commit status, and [[notify]]
channels hear of it, as from the server; after the deploy ends the command
waits up to 15 s for them (a forge or channel that fails is said on
standard error and never changes the exit code).

Options:
  --site, -s S       the site (may be left out when the config has one site)
  --ref R            branch or ref to deploy (default: the site's branch)
  --sha COMMIT       deploy exactly this commit (40 hex digits)
  --trigger T        recorded trigger: cli (default) or hook
  --quiet, -q        print only the result, not the log
  --config, -c FILE  the config file

Exit codes: 0 live or already live (or, with --trigger hook, left to the
server by Ctrl-C, or replaced by a newer push), 1 the deploy failed or the
server refused it, 2 usage.`,
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
    // A hook hands the deploy to the server, which holds the secrets: the pusher's shell need not have them.
    let config = await loadConfig(configPath, io.env, trigger === 'hook' ? { secrets: 'optional' } : {});
    const site = selectSite(config, args.values.site as string | undefined);
    const rawRef = (args.values.ref as string | undefined) ?? site.branch;
    const ref = rawRef.startsWith('refs/') ? rawRef : `refs/heads/${rawRef}`;
    const quiet = args.values.quiet === true;
    const run: DeployRun = { io, configPath, dataDir: config.dataDir, site: site.name, ref, sha, quiet };
    if (trigger === 'hook') {
      const handed = await deployThroughServer(run);
      if (handed !== undefined) return handed;
      // Deploying here after all: now every secret is needed.
      config = await loadConfig(configPath, io.env);
    }
    const opened = openStateStore(config.dataDir);
    // A push to a locked site (a rollback from the dashboard) is kept in the repository, not deployed; `berth deploy` by hand still deploys.
    const lock = trigger === 'hook' ? opened.siteLock(site.name) : undefined;
    if (lock !== undefined) {
      opened.close();
      throw new BerthError('E_DEPLOYS_LOCKED', `Deploys of ${site.name} are locked by ${lock.by} since ${lock.at}; the push is kept in the repository: unlock the site in the dashboard and push again, or deploy it now with: ${againCommand(run, sha)}`);
    }
    // Commit statuses and [[notify]] channels hear of this deploy as of one the server runs; a forge
    // or channel that fails is said on standard error, and never changes the deploy's result.
    const reportLog = createLogger({ level: 'warn', format: 'text', destination: io.stderr });
    const notices = startServerNotices(config, reportLog);
    const reporting = createDeployReporting(config, opened, reportLog, notices?.deployEnded);
    const store = observeDeploys(opened, reporting.listener);
    // Ctrl-C (or the push that runs this from a hook being cut off) cancels the
    // deploy: its build process group is killed and the record says cancelled.
    const cancel = new AbortController();
    const onSignal = (): void => cancel.abort(new Error('interrupted'));
    for (const name of SIGNALS) process.on(name, onSignal);
    try {
      const record = store.createDeploy({ site: site.name, trigger, ref, sha });
      const result = await runDeploy(
        { config, store, logger: createLogger({ level: 'silent' }), echo: quiet ? undefined : (line) => io.stderr.write((io.stderr as { isTTY?: boolean }).isTTY === true ? line : stripAnsi(line)) },
        record,
        cancel.signal,
      );
      return await reportEnd(run, result, cancel.signal.aborted);
    } finally {
      for (const name of SIGNALS) process.off(name, onSignal);
      // This process exits next: what is still being sent gets a bounded wait, none after Ctrl-C.
      const wait = cancel.signal.aborted ? 0 : REPORT_WAIT_MS;
      await Promise.all([reporting.flush(wait), notices?.close(wait)]);
      await flushLogger(reportLog);
      store.close();
    }
  },
};

/** How long `berth deploy` waits for the forge and the notification channels after the deploy ended. */
const REPORT_WAIT_MS = 15_000;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** One deploy asked for on the command line. */
interface DeployRun {
  io: CommandIo;
  configPath: string;
  dataDir: string;
  site: string;
  ref: string;
  sha: string | undefined;
  quiet: boolean;
}

/**
 * A hook's deploy, handed to the running server (see app/deploy-socket.ts)
 * when there is one: the branch has moved already, and the pusher's Ctrl-C
 * or a dropped connection must not cancel the deploy that brings the site
 * to it. This process only follows the deploy's log; a signal stops the
 * following. Resolves undefined when no server takes it (none runs, or it
 * has no deploy socket): the deploy then runs in this process. A server
 * that refuses it is not second-guessed by deploying here beside it.
 */
async function deployThroughServer(run: DeployRun): Promise<number | undefined> {
  const { io, dataDir } = run;
  const pid = await runningServerPid(dataDir);
  if (pid === undefined) return undefined;
  const handoff = await handDeployToServer(dataDir, { site: run.site, ref: run.ref, ...(run.sha === undefined ? {} : { sha: run.sha }) });
  if (handoff.kind === 'unavailable') {
    io.stderr.write(`berth serve (pid ${pid}) takes no deploys on its socket (${handoff.reason}); deploying in this process\n`);
    return undefined;
  }
  if (handoff.kind === 'refused') {
    // Not deployed here instead: beside a running server, whose queue may hold it after all, that would be a second deploy of the site.
    io.stderr.write(`berth deploy: ${handoff.error} [${handoff.code}]\nRun it again with: ${againCommand(run, run.sha)}\n`);
    return 1;
  }
  const id = handoff.deploy;
  const followHint = `berth logs ${id} --follow --config ${shellWord(run.configPath)}`;
  if (!run.quiet) io.stderr.write(`berth serve (pid ${pid}) runs deploy ${id}; this shows its log (Ctrl-C stops showing it, not the deploy)\n`);
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  for (const name of SIGNALS) process.on(name, onSignal);
  const store = openStateStore(dataDir);
  try {
    const outcome = await followDeploy({
      dataDir,
      store,
      deployId: id,
      write: (chunk) => {
        if (!run.quiet) io.stderr.write(chunk);
      },
      signal: stop.signal,
      running: async () => (await runningServerPid(dataDir)) === pid,
    });
    if ('stopped' in outcome) {
      io.stderr.write(`The deploy goes on in the server; follow it with: ${followHint}\n`);
      return 0;
    }
    if ('missing' in outcome) {
      io.stderr.write(`berth deploy: deploy ${id} is no longer in the deploy history; see berth deploys --config ${shellWord(run.configPath)} [E_DEPLOY_NOT_FOUND]\n`);
      return 1;
    }
    if ('orphaned' in outcome) {
      io.stderr.write(`berth deploy: berth serve (pid ${pid}) stopped before deploy ${id} ended; it is recorded as interrupted when the server starts again [E_DEPLOY_INTERRUPTED]\n`);
      io.stderr.write(`Run it again with: ${againCommand(run, outcome.orphaned.sha ?? run.sha)}\n`);
      return 1;
    }
    const { ended } = outcome;
    return await reportEnd(run, ended, ended.state === 'cancelled' || ended.errorCode === 'E_DEPLOY_INTERRUPTED');
  } finally {
    for (const name of SIGNALS) process.off(name, onSignal);
    store.close();
  }
}

/** Prints how a deploy ended, as one result line (and, on failure, what is live and where the log is); returns the exit code. */
async function reportEnd(run: DeployRun, result: DeployRecord, interrupted: boolean): Promise<number> {
  const { io, site } = run;
  if (result.state === 'live') {
    io.stdout.write(`Deploy ${result.id} of ${site} is live: release ${result.releaseId ?? ''} from ${result.sha ?? ''}\n`);
    return 0;
  }
  if (result.state === 'skipped') {
    io.stdout.write(`Deploy ${result.id}: ${result.sha ?? ''} is already live on ${site}; nothing to do\n`);
    return 0;
  }
  if (result.state === 'superseded') {
    // A newer push to the branch came before it started: that one brings the site up to date.
    io.stdout.write(`Deploy ${result.id} of ${site} did not run: ${result.errorMessage ?? 'replaced by a newer deploy'}\n`);
    return 0;
  }
  // Shown with its log above, a build's output is not printed a second time.
  const message = run.quiet || result.errorCode !== 'E_BUILD_FAILED' ? (result.errorMessage ?? '') : withoutOutputTail(result.errorMessage ?? '');
  io.stderr.write(`berth deploy: deploy ${result.id} ${result.state}: ${message} [${result.errorCode ?? 'E_DEPLOY_FAILED'}]\n`);
  // Said only when it is true: a first deploy that fails leaves no site at all.
  const live = await activeReleaseId(sitePaths(run.dataDir, site));
  io.stderr.write(`${live === undefined ? `${site} has no live release yet.` : `The live site is unchanged (release ${live}).`} Full log: berth logs ${result.id} --config ${shellWord(run.configPath)}\n`);
  if (interrupted) {
    // From a post-receive hook the branch has already moved: without this, the site silently stays behind it.
    io.stderr.write(`The deploy was interrupted before it finished; run it again with: ${againCommand(run, result.sha ?? run.sha)}\n`);
  }
  return 1;
}

/** The command that deploys the same commit again. */
function againCommand(run: DeployRun, sha: string | undefined): string {
  return ['berth deploy', `--site ${shellWord(run.site)}`, `--ref ${shellWord(run.ref)}`, ...(sha === undefined ? [] : [`--sha ${sha}`]), `--config ${shellWord(run.configPath)}`].join(' ');
}

export default deploy;
