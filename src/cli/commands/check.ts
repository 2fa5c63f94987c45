import { formatByteSize } from '../../config/byte-size.ts';
import { formatDuration } from '../../config/duration.ts';
import { displayPath, formatProblems, summarizeProblems } from '../../config/format-problems.ts';
import { findConfigPath, readConfig, type ConfigProblem } from '../../config/load-config.ts';
import type { ResolvedConfig } from '../../config/resolved-config.ts';
import { resolveServiceUser } from '../../app/service-user.ts';
import { unisolatedBuildWarning } from '../../deploy/build-isolation.ts';
import { isBerthError } from '../../errors.ts';
import { configOption, type Command } from '../command.ts';

/**
 * `berth check`: validates the config and reports every problem at once.
 * Problems go to stderr, one line each with file, line and key; the summary
 * of a valid config goes to stdout. Exit 0 when the config is usable
 * (warnings allowed), 1 when it has errors.
 */
const check: Command = {
  name: 'check',
  summary: 'validate the config and print every problem with its place',
  usage: 'check [--config FILE]',
  details: `Reads the config, resolves its secrets (from the environment and secret
files, as \`berth serve\` would) and reports every problem at once, each as
  berth.toml:12 sites[0].domains[1]: "example.com:8080" has a port; …
Warnings are printed too but do not fail the check.

Exit codes: 0 the config is valid, 1 it has errors.

Options:
  --config, -c FILE  the config file (default ./berth.toml, then $BERTH_CONFIG)`,
  maxPositionals: 0,
  options: { ...configOption },
  async run(args, io) {
    const flag = typeof args.values.config === 'string' ? args.values.config : undefined;
    const file = findConfigPath(flag, io.env, io.cwd);
    const shown = displayPath(file, io.cwd);
    const read = await readConfig(file, io.env);
    const { config } = read;
    const isolation = config === undefined ? undefined : unisolatedBuildWarning(config, process.getuid?.());
    const problems = isolation === undefined ? [...read.problems] : [...read.problems, isolation];
    if (config !== undefined) problems.push(...serviceUserProblems(config));
    io.stderr.write(formatProblems(problems, shown));
    if (config === undefined || problems.some((problem) => problem.severity === 'error')) {
      io.stderr.write(read.missing ? `${shown} cannot be checked: it cannot be read (above)\n` : `${shown} is not valid: ${summarizeProblems(problems)}\n`);
      return 1;
    }
    io.stdout.write(describeConfig(config, problems.length === 0 ? '' : ` (${summarizeProblems(problems)})`));
    return 0;
  },
};

export default check;

/**
 * As root, whether `[server] user` names an account Berth can run as
 * (app/service-user.ts): a named account that does not exist is an error.
 * The default account missing is left to `berth serve`'s one warning. Not
 * root: nothing to say.
 */
function serviceUserProblems(config: ResolvedConfig): ConfigProblem[] {
  try {
    resolveServiceUser(config, { warn: () => undefined });
    return [];
  } catch (error) {
    if (!isBerthError(error)) throw error;
    return [{ path: 'server.user', line: undefined, message: error.message.replace(`${config.configPath}: `, ''), severity: 'error' }];
  }
}

/** What `berth serve` would run with, minus anything secret (a secret's source is shown, never its value). */
function describeConfig(config: ResolvedConfig, note: string): string {
  const { server } = config;
  const listeners = [
    server.httpPort === 0 ? '' : `http :${server.httpPort}`,
    server.httpsPort === 0 ? '' : `https :${server.httpsPort}`,
  ].filter((part) => part !== '');
  const certificates =
    server.tls.certFile !== undefined
      ? `from ${server.tls.certFile}`
      : config.acme.directory === 'off'
        ? 'self-signed (ACME is off)'
        : `ACME ${config.acme.directory}${config.acme.email === undefined ? '' : ` (${config.acme.email})`}`;
  const lines = [
    `Config ${config.configPath} is valid${note}`,
    `  data dir     ${config.dataDir}`,
    `  listen       ${listeners.join(', ')} on ${server.host}`,
    `  certificates ${certificates}`,
    `  limits       headers ${formatDuration(server.headersTimeoutMs)}, request ${formatDuration(server.requestTimeoutMs)}, ` +
      `max header ${formatByteSize(server.maxHeaderBytes)}, ${server.maxConnections} connections`,
    `  sites        ${config.sites.length === 0 ? 'none' : config.sites.length}`,
  ];
  for (const site of config.sites) {
    lines.push(`    ${site.name}: ${site.domains.join(', ')}`);
    if (site.repo !== undefined) lines.push(`      repo ${withoutCredentials(site.repo)} (${site.branch})`);
    if (site.webhook !== undefined) lines.push(`      webhook ${site.webhook.forge}, secret from ${site.webhook.secret.source}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A clone URL can carry a token (`https://user:token@host/…`); show it without. */
function withoutCredentials(repo: string): string {
  if (!URL.canParse(repo)) return repo;
  const url = new URL(repo);
  if (url.username === '' && url.password === '') return repo;
  url.username = '***';
  url.password = '';
  return url.href;
}
