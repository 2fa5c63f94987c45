import { randomBytes } from 'node:crypto';
import { lstat, mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, FORGES } from '../../config/config-schema.ts';
import type { Forge } from '../../config/resolved-config.ts';
import { resolveSecretFile } from '../../config/secret.ts';
import { BerthError } from '../../errors.ts';
import { dnsInstructions, publicAddresses } from '../../init/dns-instructions.ts';
import { forgeInstructions, webhookUrl } from '../../init/forge-instructions.ts';
import {
  checkAdminDomain,
  checkBranch,
  checkDataDir,
  checkDomains,
  checkEmail,
  checkForge,
  checkRepo,
  checkSiteName,
  type Checked,
  DEFAULT_BRANCH,
  guessForge,
  type InitAnswers,
  siteNameFromDomain,
  suggestAdminDomain,
} from '../../init/init-answers.ts';
import { createPrompter, type Prompter } from '../../init/prompter.ts';
import { renderConfig } from '../../init/render-config.ts';
import { writeFileAtomic } from '../../tls/atomic-write.ts';
import type { Command, CommandIo } from '../command.ts';

/** Tests hand in their own input; a real run reads the process's. */
type InitIo = CommandIo & { stdin?: NodeJS.ReadableStream & { isTTY?: boolean } };

const init: Command = {
  name: 'init',
  summary: 'write a berth.toml and a webhook secret for one site, and print the forge and DNS setup',
  usage: 'init [--domain D]... [--repo URL] [--branch B] [--forge F] [--email E] [--admin-domain D] [--site S] [--config FILE] [--data-dir DIR] [--force] [--yes]',
  details: `Writes a config (mode 0600) for one site served at its domains and deployed from REPO,
and a new random webhook secret in a file of its own beside it
(secrets/<site>-webhook-secret, mode 0600, directory 0700), which the config
names with secret_file. Then prints what to enter in the forge's webhook
settings (URL, content type, the secret, push events), the DNS records to
create and the ports to open. With --admin-domain, the config also serves
the dashboard there, and the next steps say how to make its first admin.

On a terminal it asks for every answer not given as an option, showing the
default in brackets, and asks again when an answer is not valid. With --yes,
or when standard input is not a terminal (a script), it asks nothing:
--domain and --repo are then required, a forge it cannot guess needs
--forge, and there is no dashboard unless --admin-domain is given.

The secret is printed once, for copying into the forge; afterwards it is only
in its file. An existing secret file is kept and reused, so running init again
(with --force) does not break a webhook already set up; delete the file to
get a new secret.

Options:
  --domain D         a domain the site answers to; repeat or separate with commas
                     (the first is the primary one, used in the webhook URL)
  --repo URL         the git repository to deploy from (URL, git@host:path or a path)
  --branch B         the branch whose pushes deploy (default ${DEFAULT_BRANCH})
  --forge F          ${FORGES.join(' | ')}; guessed from the repo's host when
                     it is github.com, gitlab.com, bitbucket.org, codeberg.org
                     (forgejo), or a host named gitlab., gitea., forgejo. or github.
  --email E          contact address for the certificate authority (optional)
  --admin-domain D   the host name the dashboard answers on, e.g. berth.example.com;
                     not one of the site's domains (optional; "" or left out: no
                     dashboard, which [admin] domain in the config can add later)
  --site S           the site's name (default: from the first domain, e.g.
                     www.example.com -> example-com)
  --config, -c FILE  the config file to write (default ./berth.toml)
  --data-dir DIR     data_dir in the config (default ${DEFAULT_DATA_DIR})
  --force            overwrite an existing config file
  --yes, -y          ask nothing; fail on a missing answer

Example:
  berth init --domain example.com,www.example.com --repo https://github.com/you/blog.git \\
    --email you@example.com --yes`,
  maxPositionals: 0,
  extraArgumentHint: 'give the domain with --domain',
  options: {
    domain: { type: 'string', multiple: true },
    repo: { type: 'string' },
    branch: { type: 'string' },
    forge: { type: 'string' },
    email: { type: 'string' },
    'admin-domain': { type: 'string' },
    site: { type: 'string' },
    config: { type: 'string', short: 'c' },
    'data-dir': { type: 'string' },
    force: { type: 'boolean' },
    yes: { type: 'boolean', short: 'y' },
  },
  async run(args, io: InitIo) {
    if (args.positionals.length > 0) {
      throw new BerthError('E_USAGE', `init takes no arguments, got ${JSON.stringify(args.positionals[0])}; give the domain with --domain`);
    }
    const flag = (name: string): string | undefined => args.values[name] as string | undefined;
    const force = args.values.force === true;
    const configPath = resolve(io.cwd, flag('config') ?? 'berth.toml');
    const notes: string[] = [];

    // Every option is checked before anything is asked or written.
    const domains = args.values.domain === undefined ? undefined : fromFlag('--domain', checkDomains(args.values.domain as string[]), notes);
    const given: GivenAnswers = {
      domains,
      // null: --admin-domain "" said no dashboard, so it is not asked.
      adminDomain: optional(flag('admin-domain'), (value) => fromFlag('--admin-domain', checkAdminDomain(value, domains ?? []), notes) ?? null),
      repo: optional(flag('repo'), (value) => fromFlag('--repo', checkRepo(value), notes)),
      branch: optional(flag('branch'), (value) => fromFlag('--branch', checkBranch(value), notes)),
      forge: optional(flag('forge'), (value) => fromFlag('--forge', checkForge(value), notes)),
      email: optional(flag('email'), (value) => fromFlag('--email', checkEmail(value), notes)),
      site: optional(flag('site'), (value) => fromFlag('--site', checkSiteName(value), notes)),
      dataDir: fromFlag('--data-dir', checkDataDir(flag('data-dir') ?? DEFAULT_DATA_DIR), notes),
    };
    await refuseExistingConfig(configPath, force);

    const stdin = io.stdin ?? process.stdin;
    const interactive = args.values.yes !== true && stdin.isTTY === true;
    let answers: InitAnswers;
    if (interactive) {
      const prompter = createPrompter(stdin, io.stderr);
      try {
        answers = await askMissing(given, prompter);
      } finally {
        prompter.close();
      }
    } else {
      answers = requireGiven(given);
    }
    for (const note of notes) io.stderr.write(`berth init: note: ${note}\n`);

    // Checked again: the questions took time, and someone may have written it since.
    await refuseExistingConfig(configPath, force);
    const configDir = dirname(configPath);
    const secretRelative = `secrets/${answers.site}-webhook-secret`;
    const secretPath = join(configDir, secretRelative);
    await mkdir(configDir, { recursive: true });
    const secret = await ensureSecret(secretPath, force);
    // 0600: a config may hold a secret written in literally, or a token added later.
    await writeFileAtomic(configPath, renderConfig(answers, secretRelative), 0o600);

    const url = webhookUrl(answers.domains[0] as string, answers.site);
    const dashboard = answers.adminDomain === undefined ? undefined : dashboardAddress(answers.adminDomain);
    const hosts = answers.adminDomain === undefined ? answers.domains : [...answers.domains, answers.adminDomain];
    const out = [
      `Wrote ${configPath} (mode 0600)`,
      `  site ${answers.site}: ${answers.domains.join(', ')}`,
      `  deploys ${answers.branch} of ${answers.repo}`,
      ...(dashboard === undefined ? [] : [`  the dashboard at ${dashboard}`]),
      secret.reused
        ? `Kept the webhook secret already in ${secretPath} (the forge may have it already)`
        : `Wrote ${secretPath} (mode 0600): a new webhook secret`,
      '',
      `The secret is printed below once, for copying into ${answers.forge === 'generic' ? 'the sender' : 'the forge'}; berth does not show it again.`,
      `It stays in ${secretPath}, readable only by its owner, like ${configPath}: run \`berth serve\` as this user, or chown both to that user.`,
      '',
      ...forgeInstructions({ forge: answers.forge, url, branch: answers.branch, secret: secret.value, secretFile: secretPath }),
      '',
      ...dnsInstructions(hosts, publicAddresses(networkInterfaces())),
      '',
      'Next:',
      `  berth check --config ${configPath}`,
      `  berth serve --config ${configPath}`,
      '  then push to the branch, or run `berth deploy` for a first deploy.',
      ...(dashboard === undefined
        ? []
        : [
            `  nothing answers at ${dashboard} until the dashboard has an admin: make the first one,`,
            '  which prints a one-time sign-in link (see docs/dashboard.md), with',
            `  berth admin add NAME --config ${configPath}`,
          ]),
      '',
    ];
    io.stdout.write(out.join('\n'));
    return 0;
  },
};

interface GivenAnswers {
  domains: string[] | undefined;
  /** `null`: --admin-domain "", no dashboard; `undefined`: not given. */
  adminDomain: string | null | undefined;
  repo: string | undefined;
  branch: string | undefined;
  forge: Forge | undefined;
  email: string | undefined;
  site: string | undefined;
  dataDir: string;
}

/** The dashboard's address with the default HTTPS port, which init leaves as it is. IPv6 literals get brackets. */
function dashboardAddress(domain: string): string {
  return `https://${domain.includes(':') ? `[${domain}]` : domain}/`;
}

function optional<T>(value: string | undefined, check: (value: string) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

/** The value of a valid option; a usage error naming the option otherwise. */
function fromFlag<T>(name: string, checked: Checked<T>, notes: string[]): T {
  if (!checked.ok) throw new BerthError('E_USAGE', `${name}: ${checked.message}`);
  notes.push(...(checked.notes ?? []));
  return checked.value;
}

/** Without questions: what the options gave, defaults, guesses, or a usage error naming the missing option. */
function requireGiven(given: GivenAnswers): InitAnswers {
  const missing = (option: string, what: string): never => {
    throw new BerthError('E_USAGE', `Missing ${option} ${what}; without a terminal (or with --yes) init asks nothing, so pass it as an option`);
  };
  const domains = given.domains ?? missing('--domain', 'DOMAIN, the name the site is served at');
  const repo = given.repo ?? missing('--repo', 'URL, the git repository to deploy from');
  const forge =
    given.forge ??
    guessForge(repo) ??
    missing('--forge', `FORGE (${FORGES.join(', ')}): it cannot be told from the repository ${JSON.stringify(repo)}`);
  return {
    domains,
    repo,
    branch: given.branch ?? DEFAULT_BRANCH,
    forge,
    site: given.site ?? siteNameFromDomain(domains[0] as string),
    email: given.email,
    adminDomain: given.adminDomain ?? undefined,
    dataDir: given.dataDir,
  };
}

/** Asks for each answer the options did not give, with the same checks. */
async function askMissing(given: GivenAnswers, prompter: Prompter): Promise<InitAnswers> {
  const domains =
    given.domains ??
    (await prompter.ask({
      text: 'Domain(s), comma-separated',
      option: '--domain',
      hint: 'The names the site is served at, e.g. example.com,www.example.com; the first is the primary one.',
      check: (answer) => checkDomains([answer], given.adminDomain ?? undefined),
    }));
  const suggested = suggestAdminDomain(domains);
  const adminDomain =
    given.adminDomain === undefined
      ? await prompter.ask({
          // Not a bracketed default: Enter takes the default, and Enter here means no dashboard.
          text: `Dashboard host name${suggested === undefined ? '' : `, e.g. ${suggested}`} (Enter for none)`,
          option: '--admin-domain',
          hint: "The dashboard and JSON API answer on a host name of their own, not one of the site's, with an A/AAAA record like theirs.",
          check: (answer) => checkAdminDomain(answer, domains),
        })
      : (given.adminDomain ?? undefined);
  const repo =
    given.repo ??
    (await prompter.ask({ text: 'Git repository to deploy from', option: '--repo', hint: 'A clone URL such as https://github.com/you/blog.git or git@github.com:you/blog.git.', check: checkRepo }));
  const forge = given.forge ?? (await prompter.ask({ text: `Forge (${FORGES.join(', ')})`, option: '--forge', defaultAnswer: guessForge(repo), check: checkForge }));
  const branch = given.branch ?? (await prompter.ask({ text: 'Branch to deploy', option: '--branch', defaultAnswer: DEFAULT_BRANCH, check: checkBranch }));
  const site = given.site ?? (await prompter.ask({ text: 'Site name', option: '--site', defaultAnswer: siteNameFromDomain(domains[0] as string), check: checkSiteName }));
  const email =
    given.email ?? (await prompter.ask({ text: 'Email for the certificate authority (Enter for none)', option: '--email', check: checkEmail }));
  return { domains, repo, forge, branch, site, email, adminDomain, dataDir: given.dataDir };
}

async function exists(file: string): Promise<{ directory: boolean } | undefined> {
  try {
    const info = await lstat(file);
    return { directory: info.isDirectory() };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function refuseExistingConfig(configPath: string, force: boolean): Promise<void> {
  const found = await exists(configPath);
  if (found === undefined) return;
  if (found.directory) throw new BerthError('E_INIT_EXISTS', `${configPath} is a directory; give the config file's path with --config`);
  if (!force) {
    throw new BerthError('E_INIT_EXISTS', `${configPath} already exists; pass --force to replace it, or --config to write another file`);
  }
}

/**
 * The webhook secret: the one already in the file when it holds a usable
 * one, else a new one (32 random bytes, hex). A file that exists but holds
 * no usable secret is replaced only with --force.
 */
async function ensureSecret(file: string, force: boolean): Promise<{ value: string; reused: boolean }> {
  const found = await exists(file);
  if (found !== undefined) {
    if (found.directory) throw new BerthError('E_INIT_EXISTS', `${file}, where the webhook secret goes, is a directory; remove it or choose another --site`);
    const current = await resolveSecretFile(file);
    if (current.ok) return { value: current.secret.reveal(), reused: true };
    if (!force) throw new BerthError('E_INIT_EXISTS', `${current.message}; pass --force to replace it with a new secret, or remove it`);
  }
  const value = randomBytes(32).toString('hex');
  await writeFileAtomic(file, `${value}\n`, 0o600);
  return { value, reused: false };
}

export default init;
