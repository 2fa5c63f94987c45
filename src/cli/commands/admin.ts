import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkAdminName } from '../../admin/admin-name.ts';
import { openAdminStore, type AdminStore, type ApiRight } from '../../admin/admin-store.ts';
import { API_RIGHTS, createApiTokens, type ApiTokenInfo } from '../../admin/api-tokens.ts';
import { listPasskeys, removePasskey, shortId } from '../../admin/passkeys.ts';
import { checkPasswordRules, hashPassword } from '../../admin/passwords.ts';
import { createSessions, type Sessions } from '../../admin/sessions.ts';
import { findConfigPath, loadConfig } from '../../config/load-config.ts';
import type { ResolvedConfig } from '../../config/resolved-config.ts';
import { dashboardUrl } from '../../admin/dashboard-url.ts';
import { BerthError } from '../../errors.ts';
import { nearestName } from '../../nearest-name.ts';
import { configOption, type Command, type CommandIo, type ParsedCommandArgs } from '../command.ts';
import { fitWidth, formatAge, formatLocalTime } from '../format.ts';
import { createSecretReader, readFirstLine, type SecretInput } from '../read-secret.ts';

/*
 * One command with ten subcommands, which share the checking of names and
 * options, the store's opening and the table output; each subcommand is a
 * function below.
 */

/** Standard input is the process's unless a test passes its own. */
type AdminIo = CommandIo & { stdin?: SecretInput };

interface Context {
  args: ParsedCommandArgs;
  io: AdminIo;
  config: ResolvedConfig;
  /** Names after the subcommand (after `token add|list|revoke` for tokens). */
  names: string[];
}

interface Subcommand {
  /** Options it takes, besides --config. */
  options: readonly string[];
  /** How many names it takes: [fewest, most]. */
  names: [number, number];
  run(context: Context): Promise<number>;
}

const USAGE = [
  'admin add NAME [--password | --password-stdin]',
  'admin link NAME',
  'admin password NAME [--password-stdin]',
  'admin list [--json]',
  'admin remove NAME',
  'admin sessions [NAME] [--revoke ID | --revoke-all] [--json]',
  'admin passkeys NAME [--remove ID] [--json]',
  'admin token add NAME --sites SITE[,SITE…]|all --rights read|deploy',
  'admin token list [--json]',
  'admin token revoke NAME',
].join('\n       ');

const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  add: { options: ['password', 'password-stdin'], names: [1, 1], run: add },
  link: { options: [], names: [1, 1], run: link },
  password: { options: ['password-stdin'], names: [1, 1], run: setPassword },
  list: { options: ['json'], names: [0, 0], run: list },
  remove: { options: [], names: [1, 1], run: remove },
  sessions: { options: ['revoke', 'revoke-all', 'json'], names: [0, 1], run: sessions },
  passkeys: { options: ['remove', 'json'], names: [1, 1], run: passkeys },
  'token add': { options: ['sites', 'rights'], names: [1, 1], run: tokenAdd },
  'token list': { options: ['json'], names: [0, 0], run: tokenList },
  'token revoke': { options: [], names: [1, 1], run: tokenRevoke },
};

const admin: Command = {
  name: 'admin',
  summary: 'add and remove admins, end their sessions, remove passkeys, and make API tokens',
  usage: USAGE,
  details: `Admins are who may use Berth's dashboard and API (docs/dashboard.md).
Neither is served yet: these commands prepare the accounts, sessions and
tokens they will use. Run them on the server; they change state.db in the
data dir, so a running berth serve sees the change at once.

  add NAME             add an admin and print a one-time sign-in link
                       (/_berth/sign-in?token=…, for 15 minutes, once)
      --password       instead, set a password, typed twice without echo
                       (standard input must be a terminal)
      --password-stdin instead, set the password read from the first line
                       of standard input
  link NAME            a new one-time sign-in link for an admin
  password NAME        set or replace an admin's password (typed, or
                       --password-stdin); their sessions are ended
  list                 the admins, whether each has a password, sessions
  remove NAME          remove an admin: their sign-in links, sessions and
                       passkeys end, API tokens they made are revoked
  sessions [NAME]      active sessions (of NAME, or of every admin)
      --revoke ID      end one session
      --revoke-all     end every session of NAME, or of every admin
  passkeys NAME        an admin's passkeys: ID (its start), LABEL, ADDED,
                       LAST USED. Passkeys are added from the dashboard
                       once signed in (it takes a browser), never here
      --remove ID      remove one (the ID as listed, or all of it); it
                       signs no one in from then on
  token add NAME       make an API token for scripts, printed this once
                       (Berth keeps only its hash)
      --sites S,S|all  the sites it may act on ("all": sites added later too)
      --rights R       read (history, status) or deploy (read and deploy)
  token list           the API tokens, never the tokens themselves
  token revoke NAME    revoke an API token now

Names are 1 to 64 lower-case letters, digits, ".", "_" and "-". A password
needs at least 12 characters.

Options:
  --json             print JSON (list, sessions, passkeys, token list)
  --config, -c FILE  the config file

Examples:
  berth admin add alice
  printf '%s\\n' "$PASSWORD" | berth admin add ci-bot --password-stdin
  berth admin sessions alice --revoke-all
  berth admin passkeys alice --remove 3q2-7wEAAAAB
  berth admin token add deploy-bot --sites blog --rights deploy`,
  maxPositionals: 3,
  extraArgumentHint: 'a command takes one name at most',
  options: {
    ...configOption,
    password: { type: 'boolean' },
    'password-stdin': { type: 'boolean' },
    revoke: { type: 'string' },
    remove: { type: 'string' },
    'revoke-all': { type: 'boolean' },
    sites: { type: 'string' },
    rights: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(args, io) {
    const [first, ...rest] = args.positionals;
    const isToken = first === 'token';
    const key = isToken ? `token ${rest[0] ?? ''}` : (first ?? '');
    const subcommand = Object.hasOwn(SUBCOMMANDS, key) ? SUBCOMMANDS[key] : undefined;
    if (subcommand === undefined) throw unknownSubcommand(first, isToken ? rest[0] : undefined);
    const names = isToken ? rest.slice(1) : rest;
    const shown = `berth admin ${key}`;
    const [fewest, most] = subcommand.names;
    if (names.length < fewest) throw new BerthError('E_USAGE', `${shown} needs a name, as ${shown} NAME`);
    if (names.length > most) {
      throw new BerthError('E_USAGE', `${shown} takes ${most === 0 ? 'no name' : 'one name'}; ${JSON.stringify(names[most])} is one too many`);
    }
    for (const option of Object.keys(args.values)) {
      if (option !== 'config' && args.values[option] !== undefined && !subcommand.options.includes(option)) {
        throw new BerthError('E_USAGE', `--${option} does not go with ${shown}${subcommand.options.length === 0 ? '' : `; it takes ${subcommand.options.map((name) => `--${name}`).join(', ')}`}`);
      }
    }
    // Reading needs no secret: a shell without the server's environment manages admins too.
    const config = await loadConfig(findConfigPath(args.values.config as string | undefined, io.env, io.cwd), io.env, { secrets: 'optional' });
    return subcommand.run({ args, io, config, names });
  },
};

function unknownSubcommand(first: string | undefined, second: string | undefined): BerthError {
  if (first === 'token') {
    const near = second === undefined ? undefined : nearestName(second, ['add', 'list', 'revoke']);
    return new BerthError('E_USAGE', `berth admin token takes add, list or revoke${second === undefined ? '' : `, not "${second}"`}${near === undefined ? '' : `; did you mean "${near}"?`}`);
  }
  const choices = ['add', 'link', 'password', 'list', 'remove', 'sessions', 'passkeys', 'token'];
  const near = first === undefined ? undefined : nearestName(first, choices);
  return new BerthError(
    'E_USAGE',
    first === undefined ? `berth admin needs a command: ${choices.join(', ')}` : `"${first}" is not a berth admin command${near === undefined ? `; use ${choices.join(', ')}` : `; did you mean "${near}"?`}`,
  );
}

/** Opens the admin tables for a change, closing them after `work`. */
async function withStore<T>(config: ResolvedConfig, work: (store: AdminStore, sessions: Sessions) => Promise<T> | T): Promise<T> {
  const store = openAdminStore(config.dataDir);
  try {
    return await work(store, createSessions(store));
  } finally {
    store.close();
  }
}

/** For a command that only reads: with no state.db yet there is nothing to read, and none is created. */
async function readStore<T>(config: ResolvedConfig, empty: T, work: (store: AdminStore, sessions: Sessions) => T): Promise<T> {
  if (!existsSync(join(config.dataDir, 'state.db'))) return empty;
  return withStore(config, work);
}

async function add({ args, io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  checkAdminName(name, 'admin');
  const wantsPassword = args.values.password === true || args.values['password-stdin'] === true;
  return withStore(config, async (store, sessions) => {
    if (store.getAdmin(name) !== undefined) throw new BerthError('E_ADMIN_EXISTS', `An admin named "${name}" exists already; berth admin link ${name} makes them a new sign-in link`);
    if (wantsPassword) {
      const hash = await hashPassword(await readPassword(args, io, `berth admin add ${name}`));
      store.addAdmin({ name, passwordHash: hash, createdAt: Date.now() });
      io.stdout.write(`Admin "${name}" added, with a password.\n${servedNote(config)}\n`);
      return 0;
    }
    store.addAdmin({ name, passwordHash: undefined, createdAt: Date.now() });
    io.stdout.write(`Admin "${name}" added, without a password: they sign in with a one-time link.\n`);
    printLink(io, config, sessions, name);
    return 0;
  });
}

async function link({ io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  return withStore(config, (_store, sessions) => {
    printLink(io, config, sessions, name);
    return 0;
  });
}

async function setPassword({ args, io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  return withStore(config, async (store, sessions) => {
    if (store.getAdmin(name) === undefined) throw new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; add one with berth admin add ${name} --password`);
    const hash = await hashPassword(await readPassword(args, io, `berth admin password ${name}`));
    store.setPasswordHash(name, hash);
    const ended = sessions.revokeAll(name);
    io.stdout.write(`Password of "${name}" set${ended === 0 ? '' : `; ${plural(ended, 'session')} ended`}.\n`);
    return 0;
  });
}

async function list({ args, io, config }: Context): Promise<number> {
  const rows = await readStore(config, [], (store, sessions) => {
    const active = sessions.list();
    const passkeys = store.listPasskeys();
    return store.listAdmins().map((record) => ({
      name: record.name,
      password: record.passwordHash !== undefined,
      createdAt: new Date(record.createdAt).toISOString(),
      sessions: active.filter((session) => session.admin === record.name).length,
      passkeys: passkeys.filter((passkey) => passkey.admin === record.name).length,
    }));
  });
  if (args.values.json === true) {
    io.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write('No admins yet; add one with berth admin add NAME\n');
    return 0;
  }
  const now = new Date();
  printTable(
    io,
    ['ADMIN', 'PASSWORD', 'ADDED', 'SESSIONS', 'PASSKEYS'],
    rows.map((row) => [row.name, row.password ? 'set' : row.passkeys > 0 ? 'none' : 'none (links only)', formatAge(new Date(row.createdAt), now), String(row.sessions), String(row.passkeys)]),
  );
  return 0;
}

async function remove({ io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  return withStore(config, (store, sessions) => {
    if (store.getAdmin(name) === undefined) throw new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; berth admin list shows the admins`);
    const ended = sessions.list(name).length;
    const tokens = createApiTokens(store).list().filter((token) => token.createdBy === name && token.revokedAt === undefined).length;
    const passkeys = store.listPasskeys(name).length;
    store.removeAdmin(name, Date.now());
    const notes = [
      ended > 0 ? `${plural(ended, 'session')} ended` : '',
      passkeys > 0 ? `${plural(passkeys, 'passkey')} removed` : '',
      tokens > 0 ? `${plural(tokens, 'API token')} they made revoked` : '',
    ].filter((note) => note !== '');
    io.stdout.write(`Admin "${name}" removed${notes.length === 0 ? '' : `; ${notes.join(', ')}`}.\n`);
    return 0;
  });
}

async function sessions({ args, io, config, names }: Context): Promise<number> {
  const name = names[0];
  const revoke = args.values.revoke as string | undefined;
  const revokeAll = args.values['revoke-all'] === true;
  if (revoke !== undefined && revokeAll) throw new BerthError('E_USAGE', 'Give --revoke ID or --revoke-all, not both');
  if (revoke !== undefined && args.values.json === true) throw new BerthError('E_USAGE', '--json lists sessions; it does not go with --revoke');
  if (revoke !== undefined || revokeAll) {
    return withStore(config, (store, all) => {
      if (name !== undefined && store.getAdmin(name) === undefined) throw new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; berth admin list shows the admins`);
      if (revoke !== undefined) {
        const session = store.getSession(revoke);
        if (name !== undefined && session !== undefined && session.admin !== name) {
          throw new BerthError('E_ADMIN_SESSION_UNKNOWN', `Session "${revoke}" is not one of ${name}'s; berth admin sessions ${name} lists theirs`);
        }
        all.revoke(revoke);
        io.stdout.write(`Session ${revoke}${session === undefined ? '' : ` of ${session.admin}`} ended.\n`);
        return 0;
      }
      const ended = all.revokeAll(name);
      io.stdout.write(`${ended === 0 ? 'No session was active' : `${plural(ended, 'session')} ended`}${name === undefined ? '' : ` for ${name}`}.\n`);
      return 0;
    });
  }
  const rows = await readStore(config, [], (store, all) => {
    if (name !== undefined && store.getAdmin(name) === undefined) throw new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; berth admin list shows the admins`);
    return all.list(name);
  });
  if (args.values.json === true) {
    const shown = rows.map((session) => ({
      id: session.id,
      admin: session.admin,
      createdAt: new Date(session.createdAt).toISOString(),
      lastSeenAt: new Date(session.lastSeenAt).toISOString(),
      expiresAt: new Date(session.expiresAt).toISOString(),
      userAgent: session.userAgent ?? null,
    }));
    io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write(`No active sessions${name === undefined ? '' : ` for ${name}`}\n`);
    return 0;
  }
  const now = new Date();
  printTable(
    io,
    ['ID', 'ADMIN', 'SIGNED IN', 'LAST SEEN', 'ENDS BY', 'BROWSER'],
    rows.map((session) => [
      session.id,
      session.admin,
      formatLocalTime(new Date(session.createdAt)),
      formatAge(new Date(session.lastSeenAt), now),
      formatLocalTime(new Date(session.expiresAt)),
      fitWidth(session.userAgent ?? '', 60),
    ]),
  );
  return 0;
}

async function passkeys({ args, io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  const removing = args.values.remove as string | undefined;
  if (removing !== undefined) {
    if (args.values.json === true) throw new BerthError('E_USAGE', '--json lists passkeys; it does not go with --remove');
    return withStore(config, (store) => {
      const removed = removePasskey(store, name, removing);
      io.stdout.write(`Passkey ${shortId(removed.id)} ("${removed.label}") of ${name} removed; it signs no one in from now on.\n`);
      return 0;
    });
  }
  const rows = await readStore(config, undefined, (store) => listPasskeys(store, name));
  if (rows === undefined) throw new BerthError('E_ADMIN_UNKNOWN', `There is no admin named "${name}"; berth admin list shows the admins`);
  if (args.values.json === true) {
    const shown = rows.map((passkey) => ({
      id: passkey.id,
      label: passkey.label,
      createdAt: new Date(passkey.createdAt).toISOString(),
      lastUsedAt: passkey.lastUsedAt === undefined ? null : new Date(passkey.lastUsedAt).toISOString(),
      deviceType: passkey.deviceType,
      backedUp: passkey.backedUp,
      transports: passkey.transports,
    }));
    io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write(`${name} has no passkeys; they add one from the dashboard once signed in\n`);
    return 0;
  }
  const now = new Date();
  printTable(
    io,
    ['ID', 'LABEL', 'ADDED', 'LAST USED'],
    rows.map((passkey) => [shortId(passkey.id), fitWidth(passkey.label, 64), formatLocalTime(new Date(passkey.createdAt)), passkey.lastUsedAt === undefined ? 'never' : formatAge(new Date(passkey.lastUsedAt), now)]),
  );
  return 0;
}

async function tokenAdd({ args, io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  const sitesText = args.values.sites as string | undefined;
  const rightsText = args.values.rights as string | undefined;
  if (sitesText === undefined || rightsText === undefined) {
    throw new BerthError('E_USAGE', `berth admin token add needs ${sitesText === undefined ? '--sites SITE[,SITE…] (or --sites all)' : ''}${sitesText === undefined && rightsText === undefined ? ' and ' : ''}${rightsText === undefined ? '--rights read|deploy' : ''}`);
  }
  if (!(API_RIGHTS as readonly string[]).includes(rightsText)) throw new BerthError('E_USAGE', `--rights ${JSON.stringify(rightsText)} is not known; give --rights read or --rights deploy`);
  const sites = parseSites(sitesText, config);
  return withStore(config, (store) => {
    const { token, info } = createApiTokens(store).create({ name, sites, rights: rightsText as ApiRight });
    io.stdout.write(
      `API token "${info.name}" made, for ${describeSites(info.sites)}, to ${info.rights === 'deploy' ? 'read and deploy' : 'read'}.\n` +
        'It is shown this once (Berth keeps only its hash); store it now, as a CI secret or in a password manager:\n' +
        `${token}\n`,
    );
    return 0;
  });
}

async function tokenList({ args, io, config }: Context): Promise<number> {
  const rows = await readStore(config, [] as ApiTokenInfo[], (store) => createApiTokens(store).list());
  if (args.values.json === true) {
    const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
    const shown = rows.map((token) => ({
      name: token.name,
      sites: token.sites,
      rights: token.rights,
      createdBy: token.createdBy ?? null,
      createdAt: iso(token.createdAt),
      lastUsedAt: iso(token.lastUsedAt),
      revokedAt: iso(token.revokedAt),
    }));
    io.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  if (rows.length === 0) {
    io.stdout.write('No API tokens; make one with berth admin token add NAME --sites SITE --rights read\n');
    return 0;
  }
  const now = new Date();
  printTable(
    io,
    ['TOKEN', 'SITES', 'RIGHTS', 'MADE', 'BY', 'LAST USED', 'STATE'],
    rows.map((token) => [
      token.name,
      fitWidth(token.sites === 'all' ? 'all' : token.sites.join(','), 40),
      token.rights,
      formatLocalTime(new Date(token.createdAt)),
      token.createdBy ?? '(command line)',
      token.lastUsedAt === undefined ? 'never' : formatAge(new Date(token.lastUsedAt), now),
      token.revokedAt === undefined ? 'active' : `revoked ${formatAge(new Date(token.revokedAt), now)}`,
    ]),
  );
  return 0;
}

async function tokenRevoke({ io, config, names }: Context): Promise<number> {
  const name = names[0] as string;
  return withStore(config, (store) => {
    createApiTokens(store).revoke(name);
    io.stdout.write(`API token "${name}" revoked.\n`);
    return 0;
  });
}

function servedNote(config: ResolvedConfig): string {
  const url = dashboardUrl(config);
  return url === undefined ? 'The dashboard is off: set [admin] domain in berth.toml to serve it (docs/dashboard.md).' : `The dashboard is at ${url}/`;
}

function printLink(io: CommandIo, config: ResolvedConfig, sessions: Sessions, name: string): void {
  const created = sessions.createSignInLink(name);
  const minutes = Math.round(sessions.options.linkMs / 60_000);
  const url = dashboardUrl(config);
  io.stdout.write(
    `One-time sign-in link for "${name}", valid once, for ${minutes} minutes (until ${formatLocalTime(new Date(created.expiresAt))}):\n` +
      `  ${url ?? ''}${created.path}\n` +
      (url === undefined ? `It is a path on the admin host, after https://<admin host>. ${servedNote(config)}\n` : '') +
      `berth admin link ${name} makes a new link when this one has expired.\n`,
  );
}

/** The password for `add`/`password`: typed twice on a terminal, or the first line of standard input with --password-stdin. */
async function readPassword(args: ParsedCommandArgs, io: AdminIo, shown: string): Promise<string> {
  const stdin = io.stdin ?? (process.stdin as SecretInput);
  if (args.values['password-stdin'] === true) {
    const password = await readFirstLine(stdin);
    checkPasswordRules(password);
    return password;
  }
  if (stdin.isTTY !== true) {
    throw new BerthError('E_USAGE', `${shown} --password reads the password from a terminal, and standard input is not one; pipe the password in with --password-stdin instead`);
  }
  const reader = createSecretReader(stdin, io.stderr);
  try {
    const password = await reader.read('Password: ');
    checkPasswordRules(password);
    const again = await reader.read('Password again: ');
    if (again !== password) throw new BerthError('E_ADMIN_PASSWORD', 'The two passwords typed differ; nothing was changed');
    return password;
  } finally {
    reader.close();
  }
}

function parseSites(text: string, config: ResolvedConfig): readonly string[] | 'all' {
  if (text.trim() === 'all') return 'all';
  const names = text.split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (names.length === 0) throw new BerthError('E_USAGE', '--sites needs site names separated by commas, or all');
  const known = config.sites.map((site) => site.name);
  for (const name of names) {
    if (!known.includes(name)) {
      const near = nearestName(name, known);
      throw new BerthError('E_SITE_UNKNOWN', `No site is named "${name}" in ${config.configPath}${near === undefined ? `; the sites are ${known.join(', ') || '(none)'}` : `; did you mean "${near}"?`}`);
    }
  }
  return names;
}

function describeSites(sites: readonly string[] | 'all'): string {
  return sites === 'all' ? 'all sites' : `${sites.length === 1 ? 'site' : 'sites'} ${sites.join(', ')}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function printTable(io: CommandIo, header: readonly string[], rows: readonly string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => [...(row[column] ?? '')].length)));
  for (const row of [header, ...rows]) io.stdout.write(`${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()}\n`);
}

export default admin;
