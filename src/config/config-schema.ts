import { isIP, isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import * as z from 'zod';
import { BYTE_SIZE_PATTERN, formatByteSize, parseByteSize } from './byte-size.ts';
import { DURATION_PATTERN, formatDuration, parseDuration } from './duration.ts';
import type { Forge, ResolvedLog } from './resolved-config.ts';
import { nearestName } from '../nearest-name.ts';
import { parseListenAddress } from './listen-address.ts';

/**
 * The schema of `berth.toml`, keys as written in the file (snake_case).
 *
 * It checks each value on its own and turns durations, sizes and host names
 * into their final form. What needs more than one value (duplicate names,
 * both-or-neither pairs), the environment or the disk (secrets, relative
 * paths) is done by `load-config.ts`.
 *
 * Every message names the bad value and what would be accepted, except for
 * secrets and build environment values, which are never echoed. The
 * `.describe()` texts become the JSON Schema (`berth.schema.json`) that editors
 * use for completion, so they are written for the person editing the file.
 */

export const FORGES = ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket', 'generic'] as const satisfies readonly Forge[];
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly ResolvedLog['level'][];
export const ACME_DIRECTORY_NAMES = ['off', 'letsencrypt', 'letsencrypt-staging'] as const;
export const DEFAULT_DATA_DIR = '/var/lib/berth';
export const DEFAULT_SIGNATURE_HEADER = 'X-Berth-Signature';
/** Site names become directory names and URL segments (`/_berth/hooks/<site>`). */
export const SITE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Timeouts longer than a day are a typo, and Node's timers stop at about 24.8 days anyway. */
const MAX_DURATION_MS = 24 * 3_600_000;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 9110 `token`, the characters a header name may use. */
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type RawIssue = z.core.$ZodRawIssue;

// ---------------------------------------------------------------------------
// Messages

/**
 * Shows a value from the file inside a message: strings quoted with escapes
 * (so control characters cannot reach the terminal) and shortened, other
 * values by kind.
 */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const chars = [...value];
    return JSON.stringify(chars.length > 60 ? `${chars.slice(0, 57).join('')}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return 'an array';
  return 'a table';
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'an array',
  object: 'a table',
  record: 'a table',
};

/** `missing; expected a string` or `expected a string, got 5`. */
function typeMessage(expected: string, input: unknown): string {
  return input === undefined ? `missing; expected ${expected}` : `expected ${expected}, got ${show(input)}`;
}

/** Names the kind of a value without showing it. */
function kindOf(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return show(value);
}

/** Keys whose values must never appear in a message. */
function isSensitivePath(path: readonly PropertyKey[] | undefined): boolean {
  const last = path?.at(-1);
  // A chat service's webhook URL carries its token: `url` is as secret as `token`.
  return path !== undefined && (last === 'secret' || last === 'hmac_key' || last === 'password' || last === 'token' || last === 'url' || path.includes('environment'));
}

/**
 * The fallback wording for issues whose schema has no message of its own.
 * Passed as the `error` option of `safeParse`.
 */
export function describeIssue(issue: RawIssue): string {
  const shown = isSensitivePath(issue.path) ? kindOf(issue.input) : show(issue.input);
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return issue.input === undefined ? `missing; expected ${expected}` : `expected ${expected}, got ${shown}`;
    }
    case 'too_small':
      return `${shown} is too small; use at least ${String(issue.minimum)}`;
    case 'too_big':
      return `${shown} is too large; use at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `${shown} is not accepted; use one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys':
      return `unknown keys ${issue.keys.map((key) => show(key)).join(', ')}`;
    default:
      return `${shown} is not accepted here`;
  }
}

// ---------------------------------------------------------------------------
// Value checks that zod has no built-in for

export type HostNameCheck = { ok: true; host: string } | { ok: false; message: string };

/**
 * Checks a name a site answers to and returns it in the form a `Host` header
 * carries: lower case, international names in punycode (`bücher.example` ->
 * `xn--bcher-kva.example`), IPv6 literals without brackets. `localhost`,
 * single-label names and IP literals are accepted; wildcards are not, since
 * certificates are obtained with the HTTP-01 challenge, which cannot prove
 * control of a wildcard.
 */
export function checkHostName(input: string): HostNameCheck {
  const value = show(input);
  const fail = (message: string): HostNameCheck => ({ ok: false, message });
  if (input === '') return fail('empty; write a host name such as "example.com"');
  if (/\s/.test(input)) return fail(`${value} contains white space; write just the host name`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    return fail(`${value} is a URL; write just the host name, without the scheme ("https://")`);
  }
  if (input.includes('/')) return fail(`${value} contains a path; write just the host name`);
  if (input.startsWith('*')) {
    return fail(`${value} is a wildcard, which is not supported (HTTP-01 cannot validate it); list each name`);
  }
  const bracketed = /^\[([^\]]*)\](:\d*)?$/.exec(input);
  if (bracketed) {
    if (bracketed[2] !== undefined) return fail(`${value} has a port; write the host name alone (ports are server.http_port and server.https_port)`);
    const inner = bracketed[1] ?? '';
    return isIPv6(inner) ? { ok: true, host: inner.toLowerCase() } : fail(`${value} is not a valid IPv6 address`);
  }
  if (isIPv6(input)) {
    if (input.includes('%')) return fail(`${value} has an IPv6 zone; zones cannot appear in a Host header`);
    return { ok: true, host: input.toLowerCase() };
  }
  if (/:\d*$/.test(input)) {
    return fail(`${value} has a port; write the host name alone (ports are server.http_port and server.https_port)`);
  }
  if (isIPv4(input)) return { ok: true, host: input };

  let host = input.toLowerCase();
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(host)) {
    host = domainToASCII(input);
    if (host === '') return fail(`${value} is not a valid international domain name`);
  }
  if (host.endsWith('.')) return fail(`${value} ends with a dot; remove it`);
  if (host.length > 253) return fail(`${value} is longer than 253 characters`);
  const labels = host.split('.');
  for (const label of labels) {
    if (label === '') return fail(`${value} has an empty label (a leading dot or two dots in a row)`);
    if (label.length > 63) return fail(`${value} has a label longer than 63 characters`);
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad) {
      return fail(`${value} contains ${JSON.stringify(bad[0])}, which a host name cannot; use letters, digits, hyphens and dots`);
    }
    if (label.startsWith('-') || label.endsWith('-')) return fail(`${value} has a label that starts or ends with a hyphen`);
  }
  if (/^[0-9]+$/.test(labels.at(-1) ?? '')) {
    return fail(`${value} is neither an IPv4 address nor a host name (its last label is a number)`);
  }
  return { ok: true, host };
}

/** Git's own rule: a repository is `scheme://…`, or scp-like `[user@]host:path` when a colon comes before any slash. */
export function isRemoteRepo(repo: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return true;
  const colon = repo.indexOf(':');
  const slash = repo.indexOf('/');
  return colon > 0 && (slash === -1 || colon < slash);
}

export function checkBranch(branch: string): string | undefined {
  const value = show(branch);
  if (branch === '') return 'empty; write a branch name such as "main"';
  // A leading "-" would be read by git as an option.
  if (branch.startsWith('-')) return `${value} starts with "-", which a branch name cannot`;
  if (
    // eslint-disable-next-line no-control-regex
    /[\x00-\x20\x7f~^:?*[\\]/.test(branch) ||
    branch.includes('..') ||
    branch.includes('@{') ||
    branch.includes('//') ||
    branch.startsWith('/') ||
    branch.endsWith('/') ||
    branch.endsWith('.') ||
    branch.endsWith('.lock') ||
    branch === '@'
  ) {
    return `${value} is not a valid git branch name`;
  }
  return undefined;
}

function checkRepo(repo: string): string | undefined {
  if (repo === '') return 'empty; write a clone URL such as "https://github.com/you/blog.git", or leave repo out';
  // A leading "-" would be read by git as an option (e.g. --upload-pack=…).
  if (repo.startsWith('-')) return `${show(repo)} starts with "-", which a repository cannot`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(repo)) return `${show(repo)} contains a control character`;
  return undefined;
}

function checkPublishDir(dir: string): string | undefined {
  if (dir === '') return 'empty; write the build output directory, e.g. "dist", or "." for the repository itself';
  if (dir.startsWith('/') || /^[a-z]:[\\/]/i.test(dir)) {
    return `${show(dir)} is absolute; write a directory inside the repository, e.g. "dist"`;
  }
  if (dir.split(/[\\/]/).includes('..')) return `${show(dir)} leaves the repository; write a directory inside it, e.g. "dist"`;
  if (dir.includes('\0')) return `${show(dir)} contains a NUL character`;
  return undefined;
}

function checkAcmeDirectory(directory: string): string | undefined {
  if ((ACME_DIRECTORY_NAMES as readonly string[]).includes(directory)) return undefined;
  if (URL.canParse(directory)) {
    const url = new URL(directory);
    if (url.protocol === 'https:' || url.protocol === 'http:') return undefined;
  }
  return `${show(directory)} is not an ACME directory; use ${ACME_DIRECTORY_NAMES.join(', ')} or a directory URL such as "https://acme.example/directory"`;
}

// ---------------------------------------------------------------------------
// Building blocks

/** A POSIX-portable account name, as useradd accepts it by default (a trailing "$" for machine accounts). */
const ACCOUNT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_.$-]?$/;

function nonEmptyString(expected: string) {
  return z
    .string({ error: (issue) => typeMessage(expected, issue.input) })
    .min(1, { error: `empty; expected ${expected}` });
}

function filePath(what: string) {
  return nonEmptyString(what)
    .refine((value) => !value.startsWith('~'), {
      error: (issue) => `${show(issue.input)} starts with "~", which is not expanded; write the full path`,
    })
    .refine((value) => !value.includes('\0'), { error: 'the path contains a NUL character' });
}

function integer(min: number, max: number, hint = '') {
  const range = `${min} to ${max}${hint}`;
  const error = (issue: RawIssue): string => {
    if (issue.code === 'too_small' || issue.code === 'too_big') return `${show(issue.input)} is out of range; use ${range}`;
    if (typeof issue.input === 'number') return `${issue.input} is not a whole number; use ${range}`;
    return typeMessage(`a whole number from ${range}`, issue.input);
  };
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** How many serving processes: a count, or `auto` for one per core. */
function workers() {
  const error = (issue: RawIssue): string => {
    if (typeof issue.input === 'number') return `${show(issue.input)} is not a worker count; use 1 to 64, or "auto" for one per CPU core`;
    return typeMessage('a number from 1 to 64, or "auto"', issue.input);
  };
  return z.union([z.literal('auto'), z.int({ error }).min(1, { error }).max(64, { error })], { error });
}

/** A TCP port, 0 for any free one, or `false` for no listener. */
function port() {
  const hint = ' (0 for any free port), or false to turn the listener off';
  const error = (issue: RawIssue): string => {
    if (typeof issue.input === 'number') return `${show(issue.input)} is not a port; use 0 to 65535${hint}`;
    return typeMessage(`a port from 0 to 65535${hint}`, issue.input);
  };
  return z.union([z.literal(false), z.int({ error }).min(0, { error }).max(65535, { error })], { error });
}

function duration(defaultText: string, minMs: number, description: string) {
  const range = `${formatDuration(minMs)} to 24h`;
  return z
    .string({ error: (issue) => typeMessage('a duration such as "10s", "500ms" or "2m"', issue.input) })
    .regex(DURATION_PATTERN, {
      error: (issue) => `${show(issue.input)} is not a duration; write a number and a unit (ms, s, m, h), e.g. "10s", "500ms", "2m"`,
    })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms < minMs || ms > MAX_DURATION_MS) {
        ctx.issues.push({ code: 'custom', input: text, message: `${show(text)} is out of range; use ${range}` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(defaultText)
    .describe(`${description} A duration: a number and a unit (ms, s, m, h), e.g. "500ms", "10s", "1m30s"; ${range}.`);
}

function byteSize(defaultText: string, minBytes: number, maxBytes: number, description: string) {
  const range = `${formatByteSize(minBytes)} to ${formatByteSize(maxBytes)}`;
  const sizeHint = 'a number of bytes (16384) or a size with a unit (B, KB, KiB, MB, MiB, GB, GiB), e.g. "16KiB"';
  const outOfRange = (input: unknown): string => `${show(input)} is out of range; use ${range}`;
  const bytesError = (issue: RawIssue): string => outOfRange(issue.input);
  const notASize = (issue: RawIssue): string => `${show(issue.input)} is not a size; write ${sizeHint}`;
  return z
    .union([z.int().min(minBytes, { error: bytesError }).max(maxBytes, { error: bytesError }), z.string().regex(BYTE_SIZE_PATTERN, { error: notASize })], {
      error: (issue) => {
        if (typeof issue.input === 'number') {
          return Number.isInteger(issue.input) ? outOfRange(issue.input) : `${issue.input} is not a whole number of bytes`;
        }
        if (typeof issue.input === 'string') return notASize(issue);
        return typeMessage(sizeHint, issue.input);
      },
    })
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === undefined) {
        ctx.issues.push({ code: 'custom', input: value, message: `${show(value)} is not a whole number of bytes` });
        return z.NEVER;
      }
      if (bytes < minBytes || bytes > maxBytes) {
        ctx.issues.push({ code: 'custom', input: value, message: outOfRange(value) });
        return z.NEVER;
      }
      return bytes;
    })
    .prefault(defaultText)
    .describe(`${description} Bytes as a number, or a string with a unit (B, KB, KiB, MB, MiB, GB, GiB); ${range}.`);
}

function table<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? typeMessage('a table', issue.input) : undefined),
  });
}

const hostName = z
  .string({ error: (issue) => typeMessage('a host name such as "example.com"', issue.input) })
  .transform((text, ctx) => {
    const checked = checkHostName(text);
    if (!checked.ok) {
      ctx.issues.push({ code: 'custom', input: text, message: checked.message });
      return z.NEVER;
    }
    return checked.host;
  });

// ---------------------------------------------------------------------------
// Tables

const tlsShape = {
  cert_file: filePath('a certificate file path')
    .optional()
    .describe('PEM certificate chain to serve instead of obtaining one with ACME. Relative to the directory of berth.toml. Set together with key_file.'),
  key_file: filePath('a key file path')
    .optional()
    .describe('PEM private key for cert_file. Relative to the directory of berth.toml. Set together with cert_file.'),
};

const serverShape = {
  host: nonEmptyString('an address such as "::" or "127.0.0.1"')
    .refine((value) => isIP(value) !== 0 || checkHostName(value).ok, {
      error: (issue) => `${show(issue.input)} is not an address to listen on; use an IP address such as "::" (all) or "127.0.0.1", or a host name`,
    })
    .default('::')
    .describe('Address to listen on. "::" accepts IPv6 and IPv4 connections on every interface.'),
  http_port: port()
    .default(80)
    .describe('Port for plain HTTP: ACME challenges, webhooks, and redirects to HTTPS. false turns the listener off; 0 lets the system pick a free port (logged at start).'),
  https_port: port()
    .default(443)
    .describe('Port for HTTPS (HTTP/1.1 and HTTP/2). false turns the listener off; 0 lets the system pick a free port (logged at start).'),
  headers_timeout: duration('10s', 1, 'Time allowed to receive the request headers. At most request_timeout.'),
  request_timeout: duration('30s', 1, 'Time allowed to receive the whole request.'),
  idle_timeout: duration('60s', 1, 'How long an idle keep-alive connection stays open.'),
  shutdown_timeout: duration('10s', 0, 'How long a shutdown waits for requests in flight before closing connections.'),
  max_header_size: byteSize('16KiB', 1024, 1_048_576, 'Largest request header block accepted.'),
  max_connections: integer(1, 1_000_000)
    .default(10_000)
    .describe('Most concurrent connections per listener; more are refused.'),
  memory_cache: byteSize(
    '64MiB',
    0,
    17_179_869_184,
    'Memory each serving worker may hold file bodies in (shared by every site and release), kept by how recently and how often they are asked for; files larger than 1MiB or an eighth of this are always read from disk. 0 reads every file from disk.',
  ),
  workers: workers()
    .default('auto')
    .describe('Serving worker processes: a number, or "auto" for one per CPU core. Each holds the live releases in memory.'),
  access_log: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(true)
    .describe('Log one line per request.'),
  user: z
    .string({ error: (issue) => typeMessage('an account name such as "berth"', issue.input) })
    .regex(ACCOUNT_NAME, {
      error: (issue) => `${show(issue.input)} is not an account name; use letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters`,
    })
    .default('berth')
    .describe('When Berth starts as root, the account its own processes (the control plane, the serving workers, commands that write the data dir) run as; builds still run as their sites\' uids. "root" keeps everything root. A named account that does not exist is an error, except the default "berth", whose absence is a warning.'),
  https_redirect: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .optional()
    .describe('Answer plain HTTP requests (other than ACME challenges and /_berth/) with a 308 redirect to HTTPS. Default: true when certificates come from ACME or server.tls, false when ACME is off and no certificate is given.'),
  https_redirect_port: integer(1, 65535)
    .optional()
    .describe('The HTTPS port written in redirects, when clients reach HTTPS on another port than https_port (a port forward from 443, a container\'s published port). Default: https_port; 443 is left out of the URL.'),
  tls: table(tlsShape)
    .prefault({})
    .describe('Serve a certificate you provide instead of obtaining one with ACME.'),
};

const eabShape = {
  kid: nonEmptyString('the key id your CA gave you').describe('Key identifier from the CA.'),
  hmac_key: z
    // The value is never shown, not even when it has the wrong type.
    .string({ error: 'expected a string, e.g. "${ACME_EAB_HMAC_KEY}" to read the key from that environment variable' })
    .optional()
    .describe('Base64url HMAC key from the CA. Write "${NAME}" to read it from the environment variable NAME. Set this or hmac_key_file.'),
  hmac_key_file: filePath('a file path')
    .optional()
    .describe('File holding the HMAC key (one trailing newline is ignored). Relative to the directory of berth.toml. Set this or hmac_key.'),
};

const hstsShape = {
  max_age: integer(0, 63_072_000)
    .default(31_536_000)
    .describe('Seconds browsers remember to use HTTPS only (max-age). Default one year.'),
  include_subdomains: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(false)
    .describe('Apply the policy to every subdomain too (includeSubDomains). Only if all of them serve HTTPS.'),
  preload: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(false)
    .describe('Add the preload directive, for submission to browsers\' preload lists. Hard to undo.'),
};

const acmeShape = {
  email: z
    .email({
      error: (issue) =>
        typeof issue.input === 'string'
          ? `${show(issue.input)} is not an email address; write one such as "you@example.com"`
          : typeMessage('an email address', issue.input),
    })
    .optional()
    .describe('Contact address given to the certificate authority for the ACME account.'),
  directory: z
    .string({ error: (issue) => typeMessage(`one of ${ACME_DIRECTORY_NAMES.join(', ')} or a URL`, issue.input) })
    .superRefine((value, ctx) => {
      const message = checkAcmeDirectory(value);
      if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
    })
    .default('letsencrypt')
    .describe('Certificate authority: "letsencrypt", "letsencrypt-staging" (for trials; untrusted certificates), "off" (no ACME: self-signed or server.tls), or the URL of any ACME directory.'),
  profile: z
    .string({ error: (issue) => typeMessage('a profile name such as "shortlived"', issue.input) })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: (issue) => `${show(issue.input)} is not a profile name; use the name the CA lists under "profiles" in its directory, e.g. "classic"`,
    })
    .optional()
    .describe('Certificate profile to ask the CA for (an ACME profile the CA lists in its directory, e.g. "classic" or "shortlived"). Unset: the CA\'s default. Ignored, with a warning, by a CA that offers no profiles.'),
  ca_file: filePath('a PEM file path')
    .optional()
    .describe('PEM file with the root certificate(s) to trust when talking to the ACME server, for a private CA. Relative to the directory of berth.toml. The system roots are trusted as well.'),
  check_interval: duration('10m', 1000, 'How often certificates are checked for renewal (each check waits a random extra up to a tenth of this).'),
  retry_delay: duration('1m', 1000, 'Wait after a failed order before the next try; it doubles after each failure, up to 6 hours, and resets after a success.'),
  eab: table(eabShape)
    .optional()
    .describe('External Account Binding, for CAs that require one (ZeroSSL, Google Trust Services, many private CAs): the key id and HMAC key they give you.'),
};

const logShape = {
  level: z
    .enum(LOG_LEVELS, {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `unknown log level ${show(issue.input)}; use one of ${LOG_LEVELS.join(', ')}`
          : typeMessage(`one of ${LOG_LEVELS.join(', ')}`, issue.input),
    })
    .default('info')
    .describe('Least severe level written to the log.'),
};

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9187';

const metricsShape = {
  listen: z
    .union(
      [
        z.literal(false),
        z.string().superRefine((value, ctx) => {
          const checked = parseListenAddress(value);
          if (!checked.ok) ctx.addIssue({ code: 'custom', input: value, message: checked.message });
        }),
      ],
      { error: (issue) => typeMessage('an address and port such as "127.0.0.1:9187", or false', issue.input) },
    )
    .default(DEFAULT_METRICS_LISTEN)
    .describe('Address and port of the Prometheus metrics listener (GET /_berth/metrics), or false for none. Anything but a loopback address (127.0.0.1, ::1) needs token or token_file. Port 0 lets the system pick a free port (logged at start).'),
  token: secretString('BERTH_METRICS_TOKEN', 'Bearer token a scrape must send (Authorization: Bearer ...): "${NAME}" reads it from the environment variable NAME. Set this or token_file, or neither on a loopback address.'),
  token_file: filePath('a file path')
    .optional()
    .describe('File holding the bearer token (one trailing newline is ignored). Relative to the directory of berth.toml. Set this or token.'),
};

const adminShape = {
  domain: hostName
    .optional()
    .describe('Host name the dashboard and the JSON API (/_berth/api/v1/) answer on, with its own certificate like a site. Unset: neither is served. Nothing answers there until an admin exists (berth admin add NAME). See docs/dashboard.md.'),
};

const deployShape = {
  concurrency: integer(1, 16)
    .default(1)
    .describe('Most deploys that build at the same time, across all sites (one per site at most). Keep 1 on a small machine.'),
  build_uid_base: integer(1000, 2_000_000_000)
    .default(200_000)
    .describe('When Berth runs as root, each site builds as a uid (and gid) of its own from build_uid_base to build_uid_base + 9999, picked from a hash of the site name. Choose a range no account, container or subordinate-uid range (/etc/subuid) uses.'),
  allow_unisolated_builds: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(false)
    .describe('Build even when builds cannot run as users of their own (Berth not started as root): builds then run as Berth\'s user and can read its keys and secrets and change every site. Without it such deploys fail with E_BUILD_UNISOLATED.'),
  keep_deploys: integer(1, 1_000_000)
    .default(100)
    .describe('Deploys kept in the history of each site (with their logs), newest first, however old. An older deploy is deleted once it is also older than keep_days.'),
  keep_days: integer(1, 36_500)
    .default(30)
    .describe('Deploys younger than this many days are kept in the history (with their logs), however many there are.'),
  keep_deliveries_days: integer(1, 36_500)
    .default(30)
    .describe('Days a received webhook delivery id is remembered, so that a forge sending it again is answered as a duplicate.'),
};

const buildShape = {
  command: nonEmptyString('a shell command')
    .optional()
    .describe('Shell command that builds the site in the checked-out repository, e.g. "npm ci && npm run build".'),
  publish: z
    .string({ error: (issue) => typeMessage('a directory inside the repository', issue.input) })
    .superRefine((value, ctx) => {
      const message = checkPublishDir(value);
      if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
    })
    .optional()
    .describe('Directory, relative to the repository root, that holds the built site, e.g. "dist".'),
  environment: z
    .record(
      z.string().regex(ENV_NAME_PATTERN),
      // Values may be tokens, so they are never echoed.
      z.string({ error: 'expected a string; put the value in quotes' }),
      {
        error: (issue) =>
          issue.code === 'invalid_key'
            ? `${show(issue.input)} is not a valid environment variable name; use letters, digits and underscores, not starting with a digit`
            : `expected a table of NAME = "value", got ${kindOf(issue.input)}`,
      },
    )
    .default({})
    .describe('Extra environment variables for the build command, as NAME = "value".'),
  timeout: duration('15m', 1000, 'Longest a build may run; after it the whole build process tree is killed and the deploy fails.'),
  max_processes: integer(16, 1_000_000)
    .default(1024)
    .describe('Most processes and threads the build may have at once; a build that reaches it is stopped and the deploy fails. When Berth is not root, Berth\'s own processes count towards it too.'),
  max_output_size: byteSize('1GiB', 1024, 1_099_511_627_776, 'Largest publish directory (sum of its file sizes) a build may produce; a larger one fails the deploy before anything is published.'),
};

const webhookShape = {
  forge: z
    .enum(FORGES, {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `unknown forge ${show(issue.input)}; use one of ${FORGES.join(', ')}`
          : typeMessage(`one of ${FORGES.join(', ')}`, issue.input),
    })
    .describe('The git host that sends the push webhook; decides how the signature is checked and the event read.'),
  secret: z
    // The value is never shown, not even when it has the wrong type.
    .string({ error: 'expected a string, e.g. "${BLOG_WEBHOOK_SECRET}" to read the secret from that environment variable' })
    .optional()
    .describe('Shared webhook secret. Write "${NAME}" to read it from the environment variable NAME; a secret written literally works but is reported as a warning. Set this or secret_file.'),
  secret_file: filePath('a file path')
    .optional()
    .describe('File holding the webhook secret (one trailing newline is ignored). Relative to the directory of berth.toml. Set this or secret.'),
  signature_header: z
    .string({ error: (issue) => typeMessage('a header name', issue.input) })
    .regex(HEADER_NAME_PATTERN, {
      error: (issue) => `${show(issue.input)} is not a valid header name; use letters, digits and hyphens, e.g. "X-Hub-Signature-256"`,
    })
    .default(DEFAULT_SIGNATURE_HEADER)
    .describe('Header carrying the hex HMAC-SHA256 signature of the body. Used only by the generic forge.'),
};

const basicAuthUserShape = {
  name: z
    .string({ error: (issue) => typeMessage('a user name such as "alice"', issue.input) })
    .regex(/^[\u0021-\u0039\u003b-\u007e]{1,128}$/, {
      error: (issue) => `${show(issue.input)} is not a valid user name; use 1 to 128 printable ASCII characters, no spaces or colons`,
    })
    .describe('User name visitors type in the browser\'s login prompt.'),
  password: z
    // The value is never shown, not even when it has the wrong type.
    .string({ error: 'expected a string, e.g. "${BLOG_PASSWORD}" to read the password from that environment variable' })
    .optional()
    .describe('The password: "${NAME}" reads it from the environment variable NAME; a $scrypt$ hash may be written as it is. A plain password written in the file is refused. Set this or password_file.'),
  password_file: filePath('a file path')
    .optional()
    .describe('File holding the password or a $scrypt$ hash of it (one trailing newline is ignored). Relative to the directory of berth.toml. Set this or password.'),
};

const basicAuthShape = {
  users: z
    .array(table(basicAuthUserShape), { error: (issue) => typeMessage('an array of { name, password } tables', issue.input) })
    .min(1, { error: 'empty; list at least one user, e.g. users = [{ name = "alice", password = "${ALICE_PASSWORD}" }]' })
    .max(100, { error: 'more than 100 users; the limit is 100' })
    .describe('Who may see the site: each user a name and a password (or password_file).'),
};

export const STATUS_FORGES = ['github', 'gitlab', 'gitea', 'forgejo', 'bitbucket'] as const;

/** A value that may be a secret: "${NAME}" reads the environment; never echoed in a message. */
function secretString(example: string, description: string) {
  return z
    // The value is never shown, not even when it has the wrong type.
    .string({ error: `expected a string, e.g. "\${${example}}" to read it from that environment variable` })
    .optional()
    .describe(description);
}

function httpUrl(description: string) {
  return nonEmptyString('an https:// URL')
    .superRefine((value, ctx) => {
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
        ctx.addIssue({ code: 'custom', input: value, message: `${show(value)} is not an http:// or https:// URL` });
      } else if (url.username !== '' || url.password !== '') {
        ctx.addIssue({ code: 'custom', input: value, message: 'the URL carries a user name or password; give the token in token or token_file instead' });
      }
    })
    .describe(description);
}

const statusShape = {
  token: secretString('BLOG_STATUS_TOKEN', 'Access token allowed to write commit statuses: "${NAME}" reads it from the environment variable NAME. Set this or token_file.'),
  token_file: filePath('a file path')
    .optional()
    .describe('File holding the access token (one trailing newline is ignored). Relative to the directory of berth.toml. Set this or token.'),
  forge: z
    .enum(STATUS_FORGES, {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `unknown forge ${show(issue.input)}; use one of ${STATUS_FORGES.join(', ')}`
          : typeMessage(`one of ${STATUS_FORGES.join(', ')}`, issue.input),
    })
    .optional()
    .describe('The forge the repository is on. Needed only for a self-hosted forge: github.com, gitlab.com, bitbucket.org and codeberg.org are known from the repo URL.'),
  api: httpUrl('Base URL of the forge\'s API, for a self-hosted forge whose API is not at the usual place, e.g. "https://git.example.com/api/v1".').optional(),
  repo: nonEmptyString('a repository URL such as "https://github.com/you/blog"')
    .optional()
    .describe('The repository on the forge, when the site\'s repo is not its URL: a mirror, or a repository on this server that is also pushed to the forge. Default: the site\'s repo.'),
};

export const NOTIFY_TYPES = ['webhook', 'slack', 'discord', 'ntfy', 'email'] as const;
export const NOTIFY_EVENTS = ['deploy.failed', 'deploy.succeeded', 'deploy.recovered', 'certificate.renewal_failed', 'certificate.expiring'] as const;
export const DEFAULT_NOTIFY_EVENTS = ['deploy.failed', 'deploy.recovered', 'certificate.renewal_failed', 'certificate.expiring'] as const;
export const SMTP_SECURITY = ['starttls', 'tls', 'none'] as const;
const EMAIL_ADDRESS = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+$/;

function emailAddress() {
  return z
    .string({ error: (issue) => typeMessage('an e-mail address such as "ops@example.com"', issue.input) })
    .max(254, { error: 'longer than 254 characters, which no e-mail address is' })
    .regex(EMAIL_ADDRESS, { error: (issue) => `${show(issue.input)} is not an e-mail address; write it as "name@example.com"` });
}

const notifyShape = {
  name: z
    .string({ error: (issue) => typeMessage('a name such as "team-chat"', issue.input) })
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, {
      error: (issue) => `${show(issue.input)} is not a valid channel name; use 1 to 63 lower-case letters, digits, hyphens and underscores`,
    })
    .describe('Name of the channel, shown by `berth notify status`. Unique.'),
  type: z
    .enum(NOTIFY_TYPES, {
      error: (issue) =>
        typeof issue.input === 'string'
          ? `unknown type ${show(issue.input)}; use one of ${NOTIFY_TYPES.join(', ')}`
          : typeMessage(`one of ${NOTIFY_TYPES.join(', ')}`, issue.input),
    })
    .describe('How to notify: a signed JSON webhook (Standard Webhooks), a Slack or Discord webhook, an ntfy topic, or e-mail.'),
  events: z
    .array(
      z.enum(NOTIFY_EVENTS, {
        error: (issue) =>
          typeof issue.input === 'string' ? `unknown event ${show(issue.input)}; use ${NOTIFY_EVENTS.join(', ')}` : typeMessage('an event name', issue.input),
      }),
      { error: (issue) => typeMessage(`a list of events such as ["deploy.failed"]`, issue.input) },
    )
    .min(1, { error: `empty; list at least one of ${NOTIFY_EVENTS.join(', ')}` })
    .default([...DEFAULT_NOTIFY_EVENTS])
    .describe(`Events sent to this channel: ${NOTIFY_EVENTS.join(', ')}. Default: all but deploy.succeeded.`),
  sites: z
    .array(z.string({ error: (issue) => typeMessage('a site name', issue.input) }), { error: (issue) => typeMessage('a list of site names', issue.input) })
    .min(1, { error: 'empty; leave sites out for every site, or list at least one' })
    .optional()
    .describe('Only these sites\' events (certificate events count for the site whose domain the certificate names). Default: every site.'),
  expiring_days: integer(1, 90)
    .default(14)
    .describe('certificate.expiring is sent when a certificate has fewer than this many days left (at most once a day per certificate).'),
  allow_private: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(false)
    .describe('Allow the channel to reach loopback and private network addresses (10/8, 192.168/16, fc00::/7 ...). Off: such addresses are refused before connecting.'),
  url: secretString('TEAM_CHAT_WEBHOOK_URL', 'Where to send (webhook, slack, discord, ntfy): an https:// URL, or "${NAME}" to read it from the environment (chat webhook URLs carry their token, so keep those out of the file). Set this or url_file.'),
  url_file: filePath('a file path').optional().describe('File holding the URL. Relative to the directory of berth.toml. Set this or url.'),
  secret: secretString('NOTIFY_WEBHOOK_SECRET', 'For type = "webhook": the signing secret, "whsec_" and the base64 of at least 24 random bytes. Set this or secret_file.'),
  secret_file: filePath('a file path').optional().describe('File holding the signing secret. Relative to the directory of berth.toml. Set this or secret.'),
  token: secretString('NTFY_TOKEN', 'For type = "ntfy": an access token sent as a Bearer token. Or token_file.'),
  token_file: filePath('a file path').optional().describe('File holding the ntfy access token. Relative to the directory of berth.toml.'),
  smtp_host: nonEmptyString('a host name').optional().describe('For type = "email": the SMTP server.'),
  smtp_port: integer(1, 65535).optional().describe('For type = "email": the SMTP port. Default 587 (465 with smtp_security = "tls", 25 with "none").'),
  smtp_security: z
    .enum(SMTP_SECURITY, { error: (issue) => `${show(issue.input)} is not accepted; use starttls, tls or none` })
    .default('starttls')
    .describe('For type = "email": "starttls" (the default: STARTTLS required), "tls" (TLS from the first byte, port 465) or "none" (plain text; only for a server on this machine).'),
  username: nonEmptyString('a user name').optional().describe('For type = "email": the SMTP user name; with password or password_file.'),
  password: secretString('SMTP_PASSWORD', 'For type = "email": the SMTP password, "${NAME}" to read it from the environment. Or password_file.'),
  password_file: filePath('a file path').optional().describe('File holding the SMTP password. Relative to the directory of berth.toml.'),
  from: emailAddress().optional().describe('For type = "email": the sender address.'),
  to: z
    .array(emailAddress(), { error: (issue) => typeMessage('a list of e-mail addresses', issue.input) })
    .min(1, { error: 'empty; list at least one address' })
    .max(50, { error: 'more than 50 addresses; use a mailing list' })
    .optional()
    .describe('For type = "email": the recipients.'),
  ca_file: filePath('a file path').optional().describe('For type = "email": extra CA certificates (PEM) to trust for the SMTP server\'s certificate. Relative to the directory of berth.toml.'),
};

const siteShape = {
  name: z
    .string({ error: (issue) => typeMessage('a site name such as "blog"', issue.input) })
    .regex(SITE_NAME_PATTERN, {
      error: (issue) =>
        `${show(issue.input)} is not a valid site name; use 1 to 63 lower-case letters, digits and hyphens, starting with a letter or digit`,
    })
    .describe('Short name of the site; used for its directory under data_dir and its webhook URL /_berth/hooks/<name>. Unique.'),
  domains: z
    .array(hostName, { error: (issue) => typeMessage('a list of host names such as ["example.com"]', issue.input) })
    .min(1, { error: 'empty; list at least one host name, e.g. ["example.com"]' })
    .describe('Host names the site answers to; the first is the primary one. No scheme, port or path. Each name belongs to one site.'),
  repo: nonEmptyString('a git repository URL')
    .superRefine((value, ctx) => {
      const message = checkRepo(value);
      if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
    })
    .optional()
    .describe('Git repository to deploy from: a URL, an scp-like address (git@host:path), or a local path (relative to the directory of berth.toml).'),
  branch: z
    .string({ error: (issue) => typeMessage('a branch name such as "main"', issue.input) })
    .superRefine((value, ctx) => {
      const message = checkBranch(value);
      if (message !== undefined) ctx.addIssue({ code: 'custom', input: value, message });
    })
    .default('main')
    .describe('Branch whose pushes are deployed.'),
  retain: integer(1, 1000)
    .default(10)
    .describe('How many releases to keep on disk; the active one is never removed.'),
  deploy_key_file: filePath('a file path')
    .optional()
    .describe('SSH private key for a private repository reached over SSH (a deploy key). Relative to the directory of berth.toml.'),
  token_env: z
    .string({ error: (issue) => typeMessage('an environment variable name', issue.input) })
    .regex(ENV_NAME_PATTERN, {
      error: (issue) => `${show(issue.input)} is not a valid environment variable name; use letters, digits and underscores, not starting with a digit`,
    })
    .optional()
    .describe('Name of the environment variable holding an access token for a private repository reached over HTTPS. The token is sent as an HTTP header, never written to disk or logs.'),
  submodules: z
    .boolean({ error: (issue) => typeMessage('true or false', issue.input) })
    .default(false)
    .describe('Also fetch the git submodules of each deployed commit.'),
  poll: duration('0s', 0, 'How often to ask the repository for a new commit on the branch, for servers a forge cannot reach; "0s" turns polling off, values under 10s count as 10s.'),
  build: table(buildShape)
    .prefault({})
    .describe('How to build the site.'),
  webhook: table(webhookShape)
    .optional()
    .describe('Push webhook from the git host. Without it, deploy with `berth deploy` or `berth publish`.'),
  basic_auth: table(basicAuthShape)
    .optional()
    .describe('Require a user name and password (HTTP Basic authentication) for every page of the site; /_berth/ and ACME challenges stay open.'),
  status: table(statusShape)
    .optional()
    .describe('Report each deploy as a commit status on the forge (GitHub, GitLab, Gitea, Forgejo, Bitbucket): pending, then success or failure, under the context berth/<site>. See docs/statuses.md.'),
  hsts: z
    .union([z.boolean(), table(hstsShape)], { error: (issue) => typeMessage('true, false, or a table with max_age, include_subdomains, preload', issue.input) })
    .default(false)
    .describe('Send Strict-Transport-Security on HTTPS responses: true for one year, or a table to set max_age, include_subdomains and preload. Off by default: once a browser has seen it, the site must stay on HTTPS.'),
};

const rootShape = {
  data_dir: filePath('a directory path')
    .default(DEFAULT_DATA_DIR)
    .describe('Directory for releases, certificates, caches, logs and state. Relative to the directory of berth.toml.'),
  server: table(serverShape)
    .prefault({})
    .describe('Listeners, timeouts and limits.'),
  acme: table(acmeShape)
    .prefault({})
    .describe('Obtaining certificates with ACME.'),
  log: table(logShape)
    .prefault({})
    .describe('Logging.'),
  deploy: table(deployShape)
    .prefault({})
    .describe('Deploys across all sites.'),
  admin: table(adminShape)
    .prefault({})
    .describe('The dashboard and the JSON API. See docs/dashboard.md and docs/api.md.'),
  metrics: table(metricsShape)
    .prefault({})
    .describe('Prometheus metrics on a listener of their own. See docs/metrics.md.'),
  sites: z
    .array(table(siteShape), {
      error: (issue) =>
        Array.isArray(issue.input) || issue.input === undefined
          ? typeMessage('an array of tables', issue.input)
          : `expected [[sites]] tables, got ${show(issue.input)}; write each site under its own [[sites]] header`,
    })
    .default([])
    .describe('The sites to serve, one [[sites]] table each.'),
  notify: z
    .array(table(notifyShape), {
      error: (issue) =>
        Array.isArray(issue.input) || issue.input === undefined
          ? typeMessage('an array of tables', issue.input)
          : `expected [[notify]] tables, got ${show(issue.input)}; write each channel under its own [[notify]] header`,
    })
    .max(50, { error: 'more than 50 notification channels; the limit is 50' })
    .default([])
    .describe('Where to tell people about failed and recovered deploys and certificates in trouble, one [[notify]] table each. See docs/notifications.md.'),
};

/** `berth.toml`, parsed: keys as in the file, defaults applied, durations in ms, sizes in bytes. */
export const configSchema = table(rootShape).describe('Configuration of Berth, push-to-deploy static site hosting (berth.toml).');

export type BerthToml = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;

// ---------------------------------------------------------------------------
// Which keys each table accepts, for "unknown key" messages

interface TableInfo {
  /** How the table is written in TOML, e.g. `[sites.webhook]`. */
  title: string;
  keys: readonly string[];
}

const TABLES: ReadonlyMap<string, TableInfo> = new Map([
  ['', { title: 'the top level', keys: Object.keys(rootShape) }],
  ['server', { title: '[server]', keys: Object.keys(serverShape) }],
  ['server.tls', { title: '[server.tls]', keys: Object.keys(tlsShape) }],
  ['acme', { title: '[acme]', keys: Object.keys(acmeShape) }],
  ['acme.eab', { title: '[acme.eab]', keys: Object.keys(eabShape) }],
  ['log', { title: '[log]', keys: Object.keys(logShape) }],
  ['deploy', { title: '[deploy]', keys: Object.keys(deployShape) }],
  ['metrics', { title: '[metrics]', keys: Object.keys(metricsShape) }],
  ['admin', { title: '[admin]', keys: Object.keys(adminShape) }],
  ['sites[]', { title: '[[sites]]', keys: Object.keys(siteShape) }],
  ['sites[].build', { title: '[sites.build]', keys: Object.keys(buildShape) }],
  ['sites[].webhook', { title: '[sites.webhook]', keys: Object.keys(webhookShape) }],
  ['sites[].hsts', { title: '[sites.hsts]', keys: Object.keys(hstsShape) }],
  ['sites[].basic_auth', { title: '[sites.basic_auth]', keys: Object.keys(basicAuthShape) }],
  ['sites[].basic_auth.users[]', { title: 'a user of [sites.basic_auth]', keys: Object.keys(basicAuthUserShape) }],
  ['sites[].status', { title: '[sites.status]', keys: Object.keys(statusShape) }],
  ['notify[]', { title: '[[notify]]', keys: Object.keys(notifyShape) }],
]);

/** The table at a key path (`['sites', 0, 'build']`), if it is one of the config's tables. */
export function tableAt(path: readonly PropertyKey[]): TableInfo | undefined {
  const key = path.map((segment) => (typeof segment === 'number' ? '[]' : `.${String(segment)}`)).join('');
  return TABLES.get(key.replace(/^\./, ''));
}

/** The message for a key that `table` does not accept, with a suggestion when one is near. */
export function unknownKeyMessage(key: string, table: TableInfo): string {
  const near = closestKey(key, table.keys);
  if (near !== undefined) return `unknown key ${show(key)} in ${table.title}; did you mean ${show(near)}?`;
  const home = [...TABLES.values()].find((other) => other !== table && other.keys.includes(key));
  if (home !== undefined) return `unknown key ${show(key)} in ${table.title}; it belongs in ${home.title}`;
  return `unknown key ${show(key)} in ${table.title}; accepted keys are ${table.keys.join(', ')}`;
}

function closestKey(key: string, candidates: readonly string[]): string | undefined {
  const normal = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replaceAll('-', '_')
    .toLowerCase();
  return nearestName(normal, candidates);
}
