/**
 * Turns the path of a request target into the key the release is looked up
 * by. Decodes once, then refuses anything that could name a file outside the
 * release or mean two things: `.`/`..` segments, backslashes, NUL and control
 * characters, encoded `/` or `\`, malformed percent escapes. Repeated slashes
 * are not guessed at: the client is redirected to the clean form.
 */
export type CleanPath =
  | { kind: 'ok'; path: string }
  | { kind: 'redirect'; location: string }
  | { kind: 'bad' };

const BAD: CleanPath = { kind: 'bad' };
/** Characters that make the fast path give way to full checking. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what we look for
const NEEDS_CHECK = /[%\\]|\/\/|\/\.|[\x00-\x1f\x7f]/;

export function cleanRequestPath(rawPath: string): CleanPath {
  if (rawPath.charCodeAt(0) !== 47 /* / */) return BAD;
  if (!NEEDS_CHECK.test(rawPath)) return { kind: 'ok', path: rawPath };
  if (/%(2f|5c|00)/i.test(rawPath)) return BAD;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    // Malformed escape (`%zz`, a lone `%`, invalid UTF-8): not a path we can name.
    return BAD;
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
  if (/[\\\x00-\x1f\x7f]/.test(decoded)) return BAD;
  const segments = decoded.split('/');
  for (const segment of segments) {
    if (segment === '.' || segment === '..') return BAD;
  }
  if (decoded.includes('//')) {
    // Collapse repeated slashes in the raw form so the redirect keeps the
    // client's encoding; the result starts with one `/`, so it stays on this site.
    return { kind: 'redirect', location: rawPath.replace(/\/{2,}/g, '/') };
  }
  return { kind: 'ok', path: decoded };
}

/** True when a decoded path names something private: a dot segment other than `.well-known`. */
export function isPrivatePath(path: string): boolean {
  let at = path.indexOf('/.');
  while (at !== -1) {
    if (!path.startsWith('/.well-known/', at) && !(path.length === at + 12 && path.endsWith('/.well-known'))) return true;
    at = path.indexOf('/.', at + 1);
  }
  return false;
}
