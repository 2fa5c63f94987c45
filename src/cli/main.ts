#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isBerthError } from '../errors.ts';
import type { Command, CommandIo } from './command.ts';
import check from './commands/check.ts';
import publish from './commands/publish.ts';
import releases from './commands/releases.ts';
import rollback from './commands/rollback.ts';
import serve from './commands/serve.ts';
import deploy from './commands/deploy.ts';
import deploys from './commands/deploys.ts';
import logs from './commands/logs.ts';
import hook from './commands/hook.ts';
import certs from './commands/certs.ts';

const COMMANDS: readonly Command[] = [serve, check, publish, releases, rollback, deploy, deploys, logs, hook, certs];

/** Exit codes: 0 success, 1 the command failed, 2 the command line was wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    'berth: push-to-deploy hosting for static sites on a server you own',
    '',
    'Usage: berth <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Run `berth <command> --help` for a command\'s options.',
    'Docs: docs/configuration.md, docs/errors.md',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return `Usage: berth ${command.usage}\n\n${command.summary[0]?.toUpperCase()}${command.summary.slice(1)}.\n\n${command.details}\n`;
}

export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const wanted = name === 'help' ? rest[0] : undefined;
    const topic = wanted === undefined ? undefined : COMMANDS.find((command) => command.name === wanted);
    if (wanted !== undefined && topic === undefined) {
      io.stderr.write(`berth: unknown command "${wanted}"\n\n${overview()}`);
      return EXIT_USAGE;
    }
    (name === undefined ? io.stderr : io.stdout).write(topic === undefined ? overview() : commandHelp(topic));
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write('berth 0.1.0\n');
    return 0;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.stderr.write(`berth: unknown command "${name}"\n\n${overview()}`);
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
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`berth ${command.name}: ${message}\n\nUsage: berth ${command.usage}\n`);
    return EXIT_USAGE;
  }
  try {
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
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
  process.exitCode = code;
}
