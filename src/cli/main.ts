#!/usr/bin/env node
import module from 'node:module';
import { parseArgs } from 'node:util';
import { isBerthError } from '../errors.ts';
import { nearestName } from '../nearest-name.ts';
import { nodeVersionProblem } from './node-version.ts';
import { handleClosedOutput } from './closed-output.ts';
import type { Command, CommandIo } from './command.ts';
// Compiled code (TypeScript after type stripping included) is kept in
// os.tmpdir()/node-compile-cache: every start after the first takes about
// half the time, which is most of the time to a first certificate.
module.enableCompileCache();

/** Each command's module, loaded after the cache is on so that its code comes from it. */
const COMMANDS: Readonly<Record<string, () => Promise<{ default: Command }>>> = {
  init: () => import('./commands/init.ts'),
  serve: () => import('./commands/serve.ts'),
  reload: () => import('./commands/reload.ts'),
  check: () => import('./commands/check.ts'),
  publish: () => import('./commands/publish.ts'),
  releases: () => import('./commands/releases.ts'),
  rollback: () => import('./commands/rollback.ts'),
  deploy: () => import('./commands/deploy.ts'),
  deploys: () => import('./commands/deploys.ts'),
  logs: () => import('./commands/logs.ts'),
  hook: () => import('./commands/hook.ts'),
  certs: () => import('./commands/certs.ts'),
  notify: () => import('./commands/notify.ts'),
  admin: () => import('./commands/admin.ts'),
};

/**
 * The commands named, or all of them (for the overview). A command loads
 * only its own modules: `berth serve`'s supervisor stays without the ACME
 * client, the deploy pipeline and the rest.
 */
async function loadCommands(names: readonly string[] = Object.keys(COMMANDS)): Promise<readonly Command[]> {
  const modules = await Promise.all(names.map((name) => (COMMANDS[name] as () => Promise<{ default: Command }>)()));
  return modules.map((loaded) => loaded.default);
}

/** Exit codes: 0 success, 1 the command failed, 2 the command line was wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'berth: push-to-deploy hosting for static sites on a server you own',
    '',
    'Usage: berth <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run `berth <command> --help` for a command\'s options.',
    'Docs: docs/configuration.md, docs/errors.md',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return `Usage: berth ${command.usage}\n\n${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.\n\n${command.details}\n`;
}

function unknownCommand(name: string): string {
  const near = nearestName(name, Object.keys(COMMANDS));
  return near === undefined ? `unknown command "${name}"` : `unknown command "${name}"; did you mean "${near}"?`;
}

/** Node's parseArgs message, said in Berth's words where it is about an option Berth knows the neighbours of. */
function argumentError(command: Command, error: unknown): string {
  const code = (error as { code?: string } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /'([^']+)'/.exec(message)?.[1] ?? message;
    const names = [...Object.entries(command.options).flatMap(([long, option]) => [`--${long}`, ...(option.short === undefined ? [] : [`-${option.short}`])]), '--help'];
    const bare = given.split('=')[0] as string;
    const near = nearestName(bare, names);
    return `unknown option ${bare}${near === undefined ? `; the options are ${names.join(', ')}` : `; did you mean ${near}?`}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // "Option '-s, --site <value>' argument missing": the long name, as the usage line shows it.
    const option = /'(?:-\w, )?(--?[\w-]+)/.exec(message)?.[1];
    return option === undefined ? message : `${option} needs a value, as ${option} VALUE`;
  }
  return message;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  // Help, the overview and an unknown name list every command.
  const known = name !== undefined && Object.hasOwn(COMMANDS, name);
  const commands = await loadCommands(known ? [name] : undefined);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const wanted = name === 'help' ? rest[0] : undefined;
    const topic = wanted === undefined ? undefined : commands.find((command) => command.name === wanted);
    if (wanted !== undefined && topic === undefined) {
      io.stderr.write(`berth: ${unknownCommand(wanted)}\n\n${overview(commands)}`);
      return EXIT_USAGE;
    }
    (name === undefined ? io.stderr : io.stdout).write(topic === undefined ? overview(commands) : commandHelp(topic));
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write('berth 0.1.0\n');
    return 0;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.stderr.write(`berth: ${unknownCommand(name)}\n\n${overview(commands)}`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  let args;
  try {
    args = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true });
  } catch (error) {
    io.stderr.write(`berth ${command.name}: ${argumentError(command, error)}\n\nUsage: berth ${command.usage}\n`);
    return EXIT_USAGE;
  }
  if (args.positionals.length > command.maxPositionals) {
    const extra = args.positionals[command.maxPositionals] as string;
    const takes = command.maxPositionals === 0 ? 'takes no arguments besides its options' : `takes at most ${command.maxPositionals} argument${command.maxPositionals === 1 ? '' : 's'}`;
    const hint = command.extraArgumentHint ?? "an option's value is given after the option, as --site S";
    io.stderr.write(`berth ${command.name}: ${takes}; ${JSON.stringify(extra)} is one too many (${hint})\n\nUsage: berth ${command.usage}\n`);
    return EXIT_USAGE;
  }
  try {
    // As root, a command that writes the data dir runs again as Berth's service user.
    const { runAsServiceUser } = await import('../app/drop-privileges.ts');
    const dropped = await runAsServiceUser(command.name, args, argv, io);
    if (dropped !== undefined) return dropped;
    return await command.run(args, io);
  } catch (error) {
    if (isBerthError(error)) {
      io.stderr.write(`berth ${command.name}: ${error.message} [${error.code}]\n`);
      if (error.code === 'E_USAGE') {
        io.stderr.write(`\nUsage: berth ${command.usage}\n`);
        return EXIT_USAGE;
      }
      return EXIT_FAILURE;
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.stderr.write(`berth ${command.name}: unexpected failure; please report it with this output\n${message}\n`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  const tooOld = nodeVersionProblem(process.versions.node);
  if (tooOld !== undefined) {
    process.stderr.write(`${tooOld}\n`);
    process.exit(EXIT_FAILURE);
  }
  // Everything Berth creates (state.db, logs, releases, caches, certificates) is
  // its own user's alone; the few paths a build must walk through are opened up
  // explicitly (src/state/data-dir-modes.ts, src/deploy/build-dirs.ts).
  process.umask(0o077);
  handleClosedOutput(process.stdout, process.stderr, (code) => process.exit(code));
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  process.exitCode = code;
}
