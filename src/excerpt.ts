/**
 * What an error may quote of a file that a repository or a build controls.
 *
 * Such a file can be anything a build chose to put there: a symlink to a
 * private key, `/etc/shadow` copied in, a secret the build read from its own
 * environment. An error message travels to the deploy log, the server's
 * output, `state.db` and a forge's commit status, so it must never carry a
 * file's contents: at most a short excerpt with control characters made
 * visible, enough to find the line in an editor.
 */

/** Characters of a line an error message may quote. */
export const EXCERPT_MAX_CHARS = 40;

/**
 * A quotable excerpt of one line: control and format characters escaped,
 * cut to `max` characters with an ellipsis, wrapped in double quotes.
 */
export function excerpt(text: string, max: number = EXCERPT_MAX_CHARS): string {
  const chars = Array.from(text);
  const cut = chars.length > max;
  let out = '';
  for (const char of cut ? chars.slice(0, max) : chars) out += visible(char);
  return `"${out}${cut ? '…' : ''}"`;
}

function visible(char: string): string {
  if (char === '"') return '\\"';
  if (char === '\\') return '\\\\';
  // C0/C1 controls, DEL, and bidirectional/format characters that could make a log line lie about its content.
  if (/[\p{Cc}\p{Cf}\u2028\u2029]/u.test(char)) {
    const code = char.codePointAt(0) ?? 0;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  }
  return char;
}
