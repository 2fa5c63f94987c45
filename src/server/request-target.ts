/**
 * The request target in absolute-form (`GET http://example.com/path
 * HTTP/1.1`), which RFC 9112 section 3.2.2 says a server must accept: its
 * authority takes the place of `Host` and the rest is the path. Undefined for
 * any other form, and for targets that are not plain http(s) URIs with a
 * host: those keep the usual 400. A userinfo part (`http://user@host/`) is
 * refused too (RFC 9110 section 4.2.4): it has no business in a request and
 * is a classic way to disguise a host name.
 */
export function fromAbsoluteForm(target: string | undefined): { authority: string; path: string } | undefined {
  if (target === undefined || target.charCodeAt(0) === 47 /* / */) return undefined;
  const match = /^https?:\/\/([^/?#]*)(.*)$/is.exec(target);
  if (match === null) return undefined;
  const authority = match[1] as string;
  const rest = match[2] as string;
  if (authority === '' || authority.includes('@')) return undefined;
  return { authority, path: rest.startsWith('/') ? rest : `/${rest}` };
}
