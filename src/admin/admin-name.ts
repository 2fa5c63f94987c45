import { BerthError } from '../errors.ts';

/** The longest admin or API token name. */
export const MAX_NAME_LENGTH = 64;

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Refuses a name that is not 1 to 64 lower-case letters, digits, `.`, `_`
 * and `-`, starting with a letter or digit (E_USAGE). Admin and API token
 * names both follow this: they appear in lists, logs and shell commands.
 */
export function checkAdminName(name: string, what: 'admin' | 'API token'): void {
  if (NAME.test(name)) return;
  throw new BerthError(
    'E_USAGE',
    `${JSON.stringify(name)} is not a valid ${what} name; use 1 to 64 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit`,
  );
}
