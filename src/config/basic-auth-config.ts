/**
 * Resolves `[sites.basic_auth]`: each user's password comes from the
 * environment (`password = "${NAME}"`) or a file (`password_file`), through
 * the same secret mechanism as webhook secrets. A plain password written in
 * berth.toml is refused (config files get copied and committed); a `$scrypt$`
 * hash may be written there, since it does not reveal the password.
 *
 * The resolved config holds each password only in its stored form (see
 * src/static/basic-auth.ts), never as read.
 */

import path from 'node:path';
import { isPasswordHash, passwordHashProblem, storedPassword, type AuthUser } from '../static/basic-auth.ts';
import { resolveSecretFile, resolveSecretValue } from './secret.ts';

interface Finding {
  path: readonly PropertyKey[];
  message: string;
  severity: 'error' | 'warning';
}

const PASSWORD_KEYS = { value: 'password', file: 'password_file', what: 'the password' };

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A name to suggest for a user's password variable: site `blog`, user `alice` -> `BLOG_ALICE_PASSWORD`. */
function suggestName(site: unknown, user: unknown): string {
  const stem = `${typeof site === 'string' ? site : 'site'}_${typeof user === 'string' ? user : 'user'}`
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return /^[0-9]/.test(stem) ? `BERTH_${stem}_PASSWORD` : `${stem}_PASSWORD`;
}

/**
 * The users of every site with `basic_auth`, by site index, and the problems
 * found. Shapes the schema refuses (a missing name, a number for a password)
 * are left to its messages; messages here never contain a password.
 */
export async function resolveBasicAuth(
  raw: Record<string, unknown>,
  configDir: string,
  env: NodeJS.ProcessEnv,
): Promise<{ bySite: Map<number, AuthUser[]>; findings: Finding[] }> {
  const bySite = new Map<number, AuthUser[]>();
  const findings: Finding[] = [];
  const sites = Array.isArray(raw.sites) ? (raw.sites as unknown[]) : [];
  await Promise.all(
    sites.map(async (site, siteIndex) => {
      if (!isTable(site) || !isTable(site.basic_auth) || !Array.isArray(site.basic_auth.users)) return;
      const users: AuthUser[] = [];
      const names = new Set<string>();
      const entries = site.basic_auth.users as unknown[];
      await Promise.all(
        entries.map(async (user, userIndex) => {
          if (!isTable(user) || typeof user.name !== 'string') return;
          const at = ['sites', siteIndex, 'basic_auth', 'users', userIndex] as const;
          const error = (key: string | undefined, message: string): void => {
            findings.push({ path: key === undefined ? at : [...at, key], message, severity: 'error' });
          };
          if (names.has(user.name)) error('name', `user "${user.name}" is listed twice; list each user once`);
          names.add(user.name);
          if ((user.password === undefined) === (user.password_file === undefined)) {
            error(
              undefined,
              user.password === undefined
                ? `no password; set password = "\${${suggestName(site.name, user.name)}}" and that environment variable, or password_file = "/path/to/file"`
                : 'both password and password_file are set; keep one',
            );
            return;
          }
          let value: string;
          if (typeof user.password === 'string') {
            const written = user.password;
            if (isPasswordHash(written)) {
              value = written;
            } else {
              const result = resolveSecretValue(written, env, suggestName(site.name, user.name), PASSWORD_KEYS);
              if (!result.ok) return error('password', result.message);
              if (result.warning !== undefined) {
                return error(
                  'password',
                  `a plain password in the config file is refused; write password = "\${${suggestName(site.name, user.name)}}" and set that variable, use password_file, or write a $scrypt$ hash`,
                );
              }
              value = result.secret.reveal();
            }
          } else if (typeof user.password_file === 'string' && user.password_file !== '' && !user.password_file.includes('\0')) {
            const result = await resolveSecretFile(path.resolve(configDir, user.password_file), PASSWORD_KEYS);
            if (!result.ok) return error('password_file', result.message);
            value = result.secret.reveal();
          } else {
            return;
          }
          if (isPasswordHash(value)) {
            const problem = passwordHashProblem(value);
            if (problem !== undefined) return error(typeof user.password === 'string' ? 'password' : 'password_file', `the password hash ${problem}`);
          }
          users[userIndex] = { name: user.name, hash: storedPassword(value) };
        }),
      );
      bySite.set(
        siteIndex,
        users.filter((user) => user !== undefined),
      );
    }),
  );
  return { bySite, findings };
}
