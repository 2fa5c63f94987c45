import { readFile, stat } from 'node:fs/promises';
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
}

const WEBHOOK_KEYS: SecretKeys = { value: 'secret', file: 'secret_file', what: 'the webhook secret' };

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
 * @param file an absolute path
 */
export async function resolveSecretFile(file: string, keys: SecretKeys = WEBHOOK_KEYS): Promise<SecretResult> {
  const key = keys.file;
  let content: string;
  try {
    const info = await stat(file);
    if (info.isDirectory()) return { ok: false, message: `${key} ${file} is a directory, not a file` };
    if (info.size > SECRET_FILE_MAX_BYTES) {
      return { ok: false, message: `${key} ${file} is ${info.size} bytes; a secret file should hold only the secret (at most 64 KiB)` };
    }
    content = await readFile(file, 'utf8');
  } catch (error) {
    return { ok: false, message: `cannot read ${key} ${file}: ${describeFsError(error)}` };
  }
  const value = content.replace(/\r?\n$/, '');
  if (value === '') return { ok: false, message: `${key} ${file} is empty` };
  if (value.trim() === '') return { ok: false, message: `${key} ${file} holds only white space` };
  return { ok: true, secret: createSecret(value, `file ${file}`) };
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
    default:
      return code ?? String(error);
  }
}
