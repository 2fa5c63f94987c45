import type { ParseArgsOptionsConfig } from 'node:util';

/** What a command may touch of the outside world; tests pass their own. */
export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface ParsedCommandArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
}

export interface Command {
  name: string;
  /** One line for `berth --help`. */
  summary: string;
  /** Usage line(s) after `berth `, e.g. `publish <dir> --site S`. */
  usage: string;
  /** Extra help text: what the options mean, examples. */
  details: string;
  options: ParseArgsOptionsConfig;
  /** Arguments besides options it takes at most; more are refused before it runs. */
  maxPositionals: number;
  /** What to do instead, said when it is given an argument too many (the default: give an option's value after the option). */
  extraArgumentHint?: string;
  /** Returns the process exit code. */
  run(args: ParsedCommandArgs, io: CommandIo): Promise<number>;
}

/** Options every command that reads the config accepts. */
export const configOption = {
  config: { type: 'string', short: 'c' },
} as const satisfies ParseArgsOptionsConfig;
