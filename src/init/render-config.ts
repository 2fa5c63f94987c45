import { type InitAnswers, suggestAdminDomain } from './init-answers.ts';

/**
 * The text of the `berth.toml` that `berth init` writes: only what the
 * answers decide, the rest left to the documented defaults, with comments
 * pointing at what people usually change next. The secret itself is not in
 * it: `secret_file` names the file that holds it.
 */

/** A TOML basic string: quotes, backslashes and control characters escaped. */
export function tomlString(value: string): string {
  if (!value.isWellFormed()) throw new TypeError('a TOML string must be valid Unicode');
  // eslint-disable-next-line no-control-regex
  const escaped = value.replace(/[\\"\x00-\x1f\x7f]/g, (char) => {
    switch (char) {
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      case '\n':
        return '\\n';
      case '\t':
        return '\\t';
      case '\r':
        return '\\r';
      default:
        return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
  return `"${escaped}"`;
}

/**
 * @param secretFile the secret file's path as written in the config:
 *   relative to the config file's directory, with forward slashes
 */
export function renderConfig(answers: InitAnswers, secretFile: string): string {
  const lines = [
    '# Written by `berth init`. Every key is described in docs/configuration.md;',
    '# `berth check` validates this file, `berth serve` serves what it describes.',
    '',
    '# Releases, certificates, build caches, logs and state.',
    `data_dir = ${tomlString(answers.dataDir)}`,
    '',
    '[acme]',
    ...(answers.email === undefined ? ['# email = "you@example.com"    # contact for the certificate authority'] : [`email = ${tomlString(answers.email)}`]),
    'directory = "letsencrypt"        # "letsencrypt-staging" while trying things out',
    '',
    ...adminLines(answers),
    '',
    '[[sites]]',
    `name = ${tomlString(answers.site)}`,
    `domains = [${answers.domains.map(tomlString).join(', ')}]`,
    `repo = ${tomlString(answers.repo)}`,
    `branch = ${tomlString(answers.branch)}`,
    '',
    '# Without [sites.build], the build is taken from the repository (its own',
    '# berth.toml or netlify.toml, else a recognised preset); see docs/building.md.',
    '# [sites.build]',
    '# command = "npm ci && npm run build"',
    '# publish = "dist"',
    '',
    '[sites.webhook]',
    `forge = ${tomlString(answers.forge)}`,
    `secret_file = ${tomlString(secretFile)}   # made by berth init; give the forge the same secret`,
    '',
  ];
  return lines.join('\n');
}

/** `[admin]` when the dashboard is on; else the same, commented out, to show where it would go. */
function adminLines(answers: InitAnswers): string[] {
  const comment = '# The dashboard and JSON API, on a host name of their own; see docs/dashboard.md.';
  if (answers.adminDomain !== undefined) {
    return [comment, '# Nothing answers there until `berth admin add NAME` has made an admin.', '[admin]', `domain = ${tomlString(answers.adminDomain)}`];
  }
  const example = suggestAdminDomain(answers.domains) ?? 'berth.example.com';
  return [comment, '# [admin]', `# domain = ${tomlString(example)}`];
}
