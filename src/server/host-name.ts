/**
 * The host a request is for, from `Host` (HTTP/1.1) or `:authority`
 * (HTTP/2): lower-cased, without port or trailing dot. Undefined when the
 * value is missing or not a plausible host name.
 */
export function hostOf(value: string | undefined): string | undefined {
  if (value === undefined || value === '' || value.length > 300) return undefined;
  let host: string;
  if (value.charCodeAt(0) === 91 /* [ */) {
    const close = value.indexOf(']');
    if (close === -1) return undefined;
    host = value.slice(1, close);
  } else {
    const colon = value.indexOf(':');
    host = colon === -1 ? value : value.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) return undefined;
  return host.toLowerCase();
}
