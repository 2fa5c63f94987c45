/**
 * An outside URL (a forge's commit page) as a link target, or null when it
 * is not plain http(s). Escaping keeps a value inside its attribute; it does
 * not stop `javascript:` or `data:` from running when clicked, so anything
 * else is shown as text, never linked.
 */
export function httpUrl(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  // Credentials in a link would be shown to whoever hovers it.
  if (url.username !== '' || url.password !== '') return null;
  return url.href;
}
