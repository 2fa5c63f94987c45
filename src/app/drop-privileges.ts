import { fork } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { CommandIo, ParsedCommandArgs } from '../cli/command.ts';
import { findConfigPath, loadConfig } from '../config/load-config.ts';
import type { ResolvedConfig } from '../config/resolved-config.ts';
import { BUILD_HOST_PARENT } from '../deploy/build-host.ts';
import { createLogger } from '../log/logger.ts';
import { serveBuildHost } from './build-host-server.ts';
import { answerReloadRequests } from './reload-server.ts';
import { handDataDirTo } from './service-data-dir.ts';
import { resolveServiceUser } from './service-user.ts';

const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Commands that write the data dir (and, for deploy, build). Run as root
 * they would leave root-owned files there that the unprivileged control
 * plane cannot change, and a build run by them would have root's reach.
 * `serve` drops privileges in its own supervisor; the other commands only
 * read, or write outside the data dir (`hook install`, `init`).
 */
function writesDataDir(command: string, args: ParsedCommandArgs): boolean {
  if (command === 'deploy' || command === 'publish' || command === 'rollback' || command === 'admin') return true;
  return command === 'certs' && args.values.renew !== undefined;
}

/**
 * Re-runs a command that writes the data dir as Berth's service user, when
 * it was started as root and `[server] user` names an account (see
 * service-user.ts): the same arguments in a child process of that uid and
 * gid (no supplementary groups), with standard input and output passed on,
 * while this root process prepares the data dir for that user and answers
 * the child's build host requests (build-host-server.ts), so that builds
 * still run as their sites' uids. Signals are passed on to the child; its
 * exit code is returned (128 + the signal's number when a signal ended it).
 *
 * Returns undefined when the command is to run here as it is: not root, a
 * command that does not write the data dir, a config that does not load
 * (the command itself reports it), or no service user (`[server] user =
 * "root"`, or the default account missing, which `berth serve` warns
 * about and a command does not repeat each time). Throws
 * E_CONFIG_INVALID for a named account that does not exist.
 *
 * The child reads what the command names (a directory to publish, the
 * config) as the service user: from a directory only root may enter, it
 * fails with that user's permission error.
 */
export async function runAsServiceUser(command: string, args: ParsedCommandArgs, argv: readonly string[], io: CommandIo): Promise<number | undefined> {
  if (process.getuid?.() !== 0 || io.env.BERTH_BUILD_HOST === BUILD_HOST_PARENT || !writesDataDir(command, args)) return undefined;
  let config: ResolvedConfig;
  try {
    config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env);
  } catch {
    return undefined;
  }
  // Without the default account the command runs as root, as before there was a service user; `berth serve` says so.
  const user = resolveServiceUser(config, { warn: () => undefined });
  if (user === undefined) return undefined;

  const logger = createLogger({ level: 'warn', destination: io.stderr as NodeJS.WritableStream & { write(text: string): boolean } });
  await handDataDirTo(config, user, logger);
  const direct = io.stdout === process.stdout && io.stderr === process.stderr;
  const child = fork(CLI, [...argv], {
    cwd: io.cwd,
    env: { ...io.env, BERTH_BUILD_HOST: BUILD_HOST_PARENT, HOME: config.dataDir, USER: user.name, LOGNAME: user.name },
    uid: user.uid,
    gid: user.gid,
    execArgv: [],
    stdio: direct ? ['inherit', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  if (!direct) {
    child.stdout?.pipe(io.stdout, { end: false });
    child.stderr?.pipe(io.stderr, { end: false });
  }
  const stopBuildHost = serveBuildHost(child, config, logger, { serviceUser: user });
  // `certs --renew` tells a running berth serve, which may be root's, to load the new certificate.
  const stopReload = answerReloadRequests(child, config.dataDir);
  const stop = (): void => {
    stopBuildHost();
    stopReload();
  };
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    const ended = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const failed = once(child, 'error').then(([error]) => {
      throw error;
    });
    let code: number | null;
    let signal: NodeJS.Signals | null;
    try {
      [code, signal] = await Promise.race([ended, failed]);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? String(error);
      io.stderr.write(`berth ${command}: cannot run as the service user "${user.name}" (uid ${user.uid}) in ${io.cwd}: ${reason}; run it from a directory that user may enter\n`);
      return 1;
    }
    if (code !== null) return code;
    return 128 + (signal === null ? 0 : constants.signals[signal]);
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    stop();
  }
}
