import { setTimeout as sleep } from 'node:timers/promises';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import type { ResolvedConfig } from '../../config/resolved-config.ts';
import { BerthError, isBerthError } from '../../errors.ts';
import type { ConfigChanges } from '../../app/config-changes.ts';
import { readReloadStatus, type ReloadStatus } from '../../app/reload-status.ts';
import { runningServerPid } from '../../state/data-dir-lock.ts';
import { shellWord } from '../../shell-quote.ts';
import { configOption, type Command, type CommandIo } from '../command.ts';

/** How often the answer is looked for. */
const POLL_MS = 100;
const DEFAULT_WAIT_SECONDS = 120;

const reload: Command = {
  name: 'reload',
  summary: 'apply a changed berth.toml to the running berth serve without dropping a connection',
  usage: 'reload [--config FILE] [--wait SECONDS]',
  details: `Checks the config, then tells the berth serve that uses its data dir
to read it again (signal SIGUSR2). The server reads the file itself, with
its own environment (where its secrets are): a config it finds invalid is
refused, and it keeps running the one it has.

A valid config is applied the way nginx applies one: serving workers with
the new config load every site, then take over from the old ones, which
finish the requests they have and stop; the control plane (deploys, ACME)
is replaced once no deploy runs or waits. New sites, domains, HSTS, basic
auth, limits, webhooks, builds and ACME settings all apply, and so do
server.host and the ports: new ones are bound beside the running ones (a
port that cannot be bound fails the reload), a port that stays keeps its
sockets. data_dir and server.user keep their running values until berth
serve restarts, and are named when they changed.

Prints what changed, and waits until every process runs the new config (at
most --wait seconds; a deploy in progress is let finish first).

Exit codes: 0 when applied (or nothing changed); 1 when the config is not
valid, the server refused it or could not start with it (it then keeps the
running config), or no berth serve is running.

Options:
  --config, -c FILE   the config file (default ./berth.toml, then $BERTH_CONFIG);
                      the one berth serve was started with
  --wait SECONDS      longest to wait for the server to finish (default ${DEFAULT_WAIT_SECONDS})

Examples:
  berth reload --config /etc/berth/berth.toml
  systemctl reload berth                       (the unit runs berth reload)
  docker compose exec berth berth reload`,
  maxPositionals: 0,
  options: { ...configOption, wait: { type: 'string' } },
  async run(args, io) {
    const waitSeconds = parseWait(args.values.wait as string | undefined);
    const configPath = findConfigPath(args.values.config as string | undefined, io.env, io.cwd);
    let config: ResolvedConfig;
    try {
      config = await loadConfig(configPath, io.env);
    } catch (error) {
      if (!isBerthError(error)) throw error;
      throw new BerthError(error.code, `${error.message}\nNothing was reloaded: a running berth serve keeps its config. Fix the file (berth check lists every problem) and run berth reload again.`);
    }
    const pid = await runningServerPid(config.dataDir);
    if (pid === undefined) {
      throw new BerthError(
        'E_NOT_SERVING',
        `no berth serve is running with the data dir ${config.dataDir}, so nothing was reloaded; start it with: berth serve --config ${shellWord(config.configPath)} (a changed data_dir takes a restart of berth serve)`,
      );
    }
    const before = await readReloadStatus(config.dataDir);
    if (before === undefined || before.pid !== pid) {
      throw new BerthError('E_RELOAD_UNANSWERED', `berth serve (pid ${pid}) has not said it takes reloads: it is still starting (try again in a moment), or it is a Berth from before berth reload (restart it to apply the config)`);
    }
    if (before.configPath !== config.configPath) {
      throw new BerthError('E_USAGE', `berth serve (pid ${pid}) reads ${before.configPath}, not ${config.configPath}; edit that file, then run: berth reload --config ${shellWord(before.configPath)}`);
    }
    try {
      process.kill(pid, 'SIGUSR2');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new BerthError('E_NOT_SERVING', `berth serve (pid ${pid}) stopped just now; nothing was reloaded`);
      throw new BerthError(
        'E_RELOAD_UNANSWERED',
        `cannot signal berth serve (pid ${pid}): ${code === 'EPERM' ? 'it runs as another user; run berth reload as root (with systemd: systemctl reload berth)' : String(code)}`,
      );
    }
    // A signal during a reload brings one more after it: a reload under way may have read the file before it was saved.
    const target = before.generation + 1;
    const status = await waitForAnswer(config.dataDir, pid, target, waitSeconds * 1000, io);
    return report(status, pid, waitSeconds, io);
  },
};

function parseWait(text: string | undefined): number {
  if (text === undefined) return DEFAULT_WAIT_SECONDS;
  const seconds = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(seconds) || seconds < 1 || seconds > 86_400) {
    throw new BerthError('E_USAGE', `--wait ${JSON.stringify(text)} is not a number of seconds; give a whole number from 1 to 86400`);
  }
  return seconds;
}

/** The server's last word on reload `target`: final, or as far as it got in `waitMs`; undefined if it never started it. */
async function waitForAnswer(dataDir: string, pid: number, target: number, waitMs: number, io: CommandIo): Promise<ReloadStatus | undefined> {
  const deadline = Date.now() + waitMs;
  let latest: ReloadStatus | undefined;
  let shownStep: string | undefined;
  for (;;) {
    const status = await readReloadStatus(dataDir);
    if (status !== undefined && status.pid === pid && status.generation >= target) {
      latest = status;
      if (status.state !== 'applying') return status;
      // Progress on long work: each step once.
      if (status.step !== undefined && status.step !== shownStep) {
        shownStep = status.step;
        io.stderr.write(`reloading: ${status.step}\n`);
      }
    }
    if (Date.now() >= deadline) return latest;
    if ((await runningServerPid(dataDir)) !== pid) throw new BerthError('E_NOT_SERVING', `berth serve (pid ${pid}) stopped before it answered; see its log`);
    await sleep(POLL_MS);
  }
}

function report(status: ReloadStatus | undefined, pid: number, waitSeconds: number, io: CommandIo): number {
  if (status === undefined) {
    throw new BerthError('E_RELOAD_UNANSWERED', `berth serve (pid ${pid}) did not begin the reload within ${waitSeconds} s; see its log`);
  }
  if (status.state === 'refused') {
    throw new BerthError('E_RELOAD_REFUSED', `berth serve (pid ${pid}) refused the config and keeps running the one it has:\n${status.message ?? 'no reason given'}`);
  }
  if (status.state === 'failed') {
    throw new BerthError('E_RELOAD_FAILED', `berth serve (pid ${pid}): ${status.message ?? 'the reload failed; see its log'}`);
  }
  const lines: string[] = [];
  if (status.state === 'unchanged') lines.push(`berth serve (pid ${pid}) already runs this config; nothing to apply`);
  else if (status.state === 'applied') lines.push(`berth serve (pid ${pid}) runs the new config`);
  else lines.push(`berth serve (pid ${pid}) took the new config and is still applying it after ${waitSeconds} s: ${status.step ?? 'see its log'}`);
  if (status.changes !== undefined) lines.push(...describe(status.changes));
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

function describe(changes: ConfigChanges): string[] {
  const lines: string[] = [];
  const list = (label: string, names: readonly string[]): void => {
    if (names.length > 0) lines.push(`  ${label}: ${names.join(', ')}`);
  };
  list('sites added', changes.sitesAdded);
  list('sites removed', changes.sitesRemoved);
  list('sites changed', changes.sitesChanged);
  list('tables changed', changes.sectionsChanged.map((section) => (section === 'notify' ? '[[notify]]' : `[${section}]`)));
  for (const change of changes.restartOnly) {
    lines.push(`  ${change.key}: ${change.running} -> ${change.wanted} takes effect when berth serve restarts (until then it stays ${change.running})`);
  }
  return lines;
}

export default reload;
