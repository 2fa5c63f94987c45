import { constants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { BerthError } from '../errors.ts';
import { readAtMost } from '../read-at-most.ts';
import type { Secret } from './resolved-config.ts';

/**
 * Webhook secrets come from the environment (`secret = "${NAME}"`), from a
 * file (`secret_file = "/run/secrets/x"`), or, discouraged, literally from
 * `berth.toml`. Whatever the source, the value is wrapped so that printing,
 * logging or serialising the config shows only where it came from.
 *
 * Nothing in this module puts a secret value into a message.
 */

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

class SecretValue implements Secret {
  readonly #value: string;
  readonly source: string;

  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
    Object.freeze(this);
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return `[secret from ${this.source}]`;
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT](): string {
    return this.toString();
  }
}

/**
 * Wraps a secret value. `source` says where it came from, e.g.
 * `env BLOG_WEBHOOK_SECRET`; it is what `toString`, `toJSON` and
 * `util.inspect` show instead of the value.
 */
export function createSecret(value: string, source: string): Secret {
  return new SecretValue(value, source);
}

/**
 * A secret this process could not resolve, for a command that never uses
 * it (reading the deploy history needs no webhook secret): using it throws
 * `E_CONFIG_SECRET` with `problem`, the message resolving it gave.
 */
export function unavailableSecret(source: string, problem: string): Secret {
  const secret: Secret = {
    source,
    reveal(): string {
      throw new BerthError('E_CONFIG_SECRET', `The secret from ${source} is needed here but could not be resolved: ${problem}`);
    },
  };
  Object.defineProperty(secret, 'toString', { value: () => `[secret from ${source}, not resolved]` });
  return Object.freeze(secret);
}

/** The outcome of resolving one secret: a value, or a message that never contains it. */
export type SecretResult =
  | { ok: true; secret: Secret; warning?: string }
  | { ok: false; message: string };

const ENV_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** `"${NAME}"` -> `"NAME"`; anything else -> `undefined`. Only a whole-value reference counts. */
export function parseEnvReference(text: string): string | undefined {
  return ENV_REFERENCE.exec(text)?.[1];
}

/**
 * A name to suggest when a secret is written literally in the file:
 * site `my-blog` -> `MY_BLOG_WEBHOOK_SECRET`.
 */
export function suggestEnvName(siteName: string): string {
  const stem = siteName.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return stem === '' || /^[0-9]/.test(stem) ? `BERTH_WEBHOOK_SECRET` : `${stem}_WEBHOOK_SECRET`;
}

/** The keys a secret is written with, for messages: `secret`/`secret_file`, or `hmac_key`/`hmac_key_file`. */
export interface SecretKeys {
  value: string;
  file: string;
  /** What the secret is, e.g. "the webhook secret". */
  what: string;
  /** Fewest characters accepted; none when the value is not ours to choose (a key a CA hands out). */
  minLength?: number;
}

/**
 * Fewest characters of a webhook secret. Whoever knows the secret can make
 * Berth deploy, and a short one can be guessed offline from a single signed
 * request: 16 characters is the floor, `openssl rand -hex 32` (64) the advice.
 */
export const WEBHOOK_SECRET_MIN_LENGTH = 16;

const WEBHOOK_KEYS: SecretKeys = { value: 'secret', file: 'secret_file', what: 'the webhook secret', minLength: WEBHOOK_SECRET_MIN_LENGTH };

/** A message for a secret shorter than `keys.minLength`, else undefined. The value and its length are not told. */
function tooShort(value: string, keys: SecretKeys, where: string): string | undefined {
  const min = keys.minLength;
  if (min === undefined || [...value].length >= min) return undefined;
  return `${keys.what} ${where} is shorter than ${min} characters, so it could be guessed; make a long random one, e.g. with \`openssl rand -hex 32\`, and give the forge the same value`;
}

/**
 * Resolves the `secret` key: a `${NAME}` reference is looked up in `env`;
 * any other non-empty string is used as it is, with a warning that it belongs
 * in the environment or a file.
 *
 * @param suggestedName the variable name to propose in that warning
 */
export function resolveSecretValue(text: string, env: NodeJS.ProcessEnv, suggestedName: string, keys: SecretKeys = WEBHOOK_KEYS): SecretResult {
  const name = parseEnvReference(text);
  if (name !== undefined) {
    const value = env[name];
    if (value === undefined) {
      return { ok: false, message: `environment variable ${name} is not set; export it before starting berth, or use ${keys.file}` };
    }
    if (value === '') {
      return { ok: false, message: `environment variable ${name} is empty; give it ${keys.what}` };
    }
    const short = tooShort(value, keys, `in environment variable ${name}`);
    if (short !== undefined) return { ok: false, message: short };
    return { ok: true, secret: createSecret(value, `env ${name}`) };
  }
  if (text.includes('${')) {
    // Almost certainly a reference typed wrongly, and a literal secret with
    // "${" in it would be a surprise either way. The value is not echoed.
    return {
      ok: false,
      message: 'looks like an environment reference but is not one; write the whole value as "${NAME}", NAME made of letters, digits and underscores',
    };
  }
  if (text === '') {
    return { ok: false, message: `empty; use ${keys.value} = "\${${suggestedName}}" and set that variable` };
  }
  const short = tooShort(text, keys, 'written in the config file');
  if (short !== undefined) return { ok: false, message: short };
  return {
    ok: true,
    secret: createSecret(text, 'config file'),
    warning: `the secret is written in the config file, which tends to get copied around; it is safer in the environment (${keys.value} = "\${${suggestedName}}") or in a ${keys.file}`,
  };
}

/** Secret files larger than this are surely the wrong file. */
const SECRET_FILE_MAX_BYTES = 64 * 1024;

/**
 * Reads a secret file. One trailing newline (`\n` or `\r\n`) is removed,
 * since editors and `echo` add one; anything else is kept as it is.
 *
 * Only a regular file is read. A named pipe would block the read until
 * something writes to it (`berth check` would hang), and a device such as
 * `/dev/zero` never ends: so the type is checked before the file is opened,
 * the open does not wait (O_NONBLOCK), the opened file is checked again (it
 * may have been swapped in between), and the read stops past the size limit
 * whatever the file claims its size is. Symbolic links are followed: the
 * path is the operator's (Docker and Kubernetes secrets are links), not
 * something a repository controls.
 *
 * @param file an absolute path
 */
export async function resolveSecretFile(file: string, keys: SecretKeys = WEBHOOK_KEYS): Promise<SecretResult> {
  const key = keys.file;
  let bytes: Buffer;
  let handle: FileHandle | undefined;
  try {
    const refused = notARegularFile(await stat(file), key, file);
    if (refused !== undefined) return { ok: false, message: refused };
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const info = await handle.stat();
    const swapped = notARegularFile(info, key, file);
    if (swapped !== undefined) return { ok: false, message: swapped };
    if (info.size > SECRET_FILE_MAX_BYTES) return { ok: false, message: tooLarge(key, file, info.size) };
    bytes = await readAtMost(handle, SECRET_FILE_MAX_BYTES + 1);
  } catch (error) {
    return { ok: false, message: `cannot read ${key} ${file}: ${describeFsError(error)}` };
  } finally {
    await handle?.close();
  }
  // The file grew after it was measured.
  if (bytes.length > SECRET_FILE_MAX_BYTES) return { ok: false, message: tooLarge(key, file, undefined) };
  const value = bytes.toString('utf8').replace(/\r?\n$/, '');
  if (value === '') return { ok: false, message: `${key} ${file} is empty` };
  if (value.trim() === '') return { ok: false, message: `${key} ${file} holds only white space` };
  const short = tooShort(value, keys, `in ${key} ${file}`);
  if (short !== undefined) return { ok: false, message: short };
  return { ok: true, secret: createSecret(value, `file ${file}`) };
}

function notARegularFile(info: Stats, key: string, file: string): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isDirectory()) return `${key} ${file} is a directory, not a file`;
  const kind = info.isFIFO()
    ? 'a named pipe (FIFO)'
    : info.isCharacterDevice() || info.isBlockDevice()
      ? 'a device'
      : info.isSocket()
        ? 'a socket'
        : 'not a regular file';
  return `${key} ${file} is ${kind}; point ${key} at a regular file that holds only the secret`;
}

function tooLarge(key: string, file: string, size: number | undefined): string {
  const what = size === undefined ? 'is larger than 64 KiB' : `is ${size} bytes`;
  return `${key} ${file} ${what}; a secret file should hold only the secret (at most 64 KiB)`;
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a parent of it is not a directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENXIO':
      return 'nothing is behind it (a socket or a device without a driver)';
    default:
      return code ?? String(error);
  }
}
