/**
 * What a `_headers` rule may set, and how the headers of several matching
 * rules become the one table a response carries. The same rules run at
 * publish (to refuse a file, naming the line) and when a release loads (so a
 * release published by an older version, which checked less, still never
 * hands the responder a table that HTTP/1.1 or HTTP/2 cannot send: Node's
 * HTTP/2 throws on a repeated single-value header or a connection header).
 */

/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII, space and tab; never CR, LF or NUL. */
const VALUE = /^[\u0020-\u007e\t]*$/;

/**
 * Headers no rule may set, with the reason a message gives. Connection
 * headers are forbidden in HTTP/2 (RFC 9113 8.2.2) and would let one
 * HTTP/1.1 response frame another; the rest Berth computes per response from
 * what it actually sends.
 */
export const REFUSED_HEADERS: ReadonlyMap<string, string> = new Map([
  ['connection', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['keep-alive', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['proxy-connection', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['transfer-encoding', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['upgrade', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['http2-settings', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['te', 'it describes the connection, which HTTP/2 forbids in a response'],
  ['trailer', 'Berth sends no trailers'],
  ['host', 'it is a request header'],
  ['content-length', 'Berth sets it from the bytes it sends'],
  ['content-range', 'Berth sets it when answering a Range request'],
  ['content-encoding', 'Berth sets it for the compressed copy it picks'],
  ['accept-ranges', 'Berth sets it'],
  ['etag', 'Berth derives it from the content of the file'],
  ['last-modified', 'Berth sets it from the file'],
  ['date', 'Berth sets it'],
  ['www-authenticate', 'Berth sets it for Basic-Auth'],
]);

/**
 * Headers that hold one value: joining two with ", " would make them invalid
 * (`X-Frame-Options: DENY, SAMEORIGIN` is ignored by browsers) or, for the
 * ones Node's HTTP/2 knows as single-value, make it throw. When several rules
 * set one of these, the last matching rule in the file wins.
 */
export const SINGLE_VALUE_HEADERS: ReadonlySet<string> = new Set([
  // Node's HTTP/2 single-value list (the ones a response can carry).
  'access-control-allow-credentials',
  'access-control-max-age',
  'age',
  'content-language',
  'content-location',
  'content-md5',
  'content-type',
  'dnt',
  'expires',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'tk',
  'x-content-type-options',
  // Single by their own grammar.
  'access-control-allow-origin',
  'content-disposition',
  'cross-origin-embedder-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'referrer-policy',
  'strict-transport-security',
  'x-frame-options',
  'x-xss-protection',
]);

/** Sent as separate fields, never joined: a cookie's value may hold commas. */
const SEPARATE_FIELDS: ReadonlySet<string> = new Set(['set-cookie']);

/** The bytes (names and values) `_headers` may add to one response. */
export const MAX_CUSTOM_HEADER_BYTES = 16 * 1024;

/** A problem with one header, phrased to follow `header "Name"`, or undefined when it may be sent. */
export function headerProblem(name: string, value: string): string | undefined {
  if (!TOKEN.test(name)) return 'is not a valid header name; use letters, digits and -, as in X-Frame-Options';
  const refused = REFUSED_HEADERS.get(name.toLowerCase());
  if (refused !== undefined) return `cannot be set in _headers: ${refused}`;
  if (value === '') return 'has no value; give it one or remove the line';
  if (!VALUE.test(value)) return 'has a character in its value that is not printable ASCII; percent-encode anything else';
  return undefined;
}

/** True for a header of which one response carries one value. */
export function isSingleValue(name: string): boolean {
  return SINGLE_VALUE_HEADERS.has(name);
}

/**
 * Merges the headers of every rule matching a path, given in file order,
 * into a table where each name appears once (set-cookie excepted): values of
 * a single-value header replace earlier ones (the last rule wins), others are
 * joined with ", " in file order, a value already present is not repeated.
 * Headers that may not be sent are dropped (a release checked at publish has
 * none). Names must be lower-case.
 */
export function mergeHeaders(headers: Iterable<readonly [string, string]>): Array<[string, string]> {
  const table: Array<[string, string]> = [];
  const at = new Map<string, number>();
  for (const [name, value] of headers) {
    if (name !== name.toLowerCase() || headerProblem(name, value) !== undefined) continue;
    const existing = at.get(name);
    if (SEPARATE_FIELDS.has(name) || existing === undefined) {
      at.set(name, table.length);
      table.push([name, value]);
      continue;
    }
    const entry = table[existing] as [string, string];
    if (isSingleValue(name)) entry[1] = value;
    else if (!entry[1].split(', ').includes(value)) entry[1] = `${entry[1]}, ${value}`;
  }
  return table;
}

/** The bytes a table adds to a response: names, values and 4 for ": " and the line end. */
export function headerBytes(table: ReadonlyArray<readonly [string, string]>): number {
  return table.reduce((sum, [name, value]) => sum + name.length + value.length + 4, 0);
}

/**
 * The table cut to `MAX_CUSTOM_HEADER_BYTES`: publish refuses more, so only a
 * release published by an older version can lose headers here.
 */
export function withinHeaderBudget(table: Array<[string, string]>): Array<[string, string]> {
  let bytes = 0;
  const over = table.findIndex(([name, value]) => {
    bytes += name.length + value.length + 4;
    return bytes > MAX_CUSTOM_HEADER_BYTES;
  });
  return over === -1 ? table : table.slice(0, over);
}
