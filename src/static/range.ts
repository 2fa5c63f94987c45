/**
 * Parses a `Range` header for a representation of `size` bytes (RFC 9110
 * 14.1.2). One range only: a multi-range request gets the whole file, which
 * every client accepts, rather than a multipart body few clients need.
 */
export type RangeResult =
  | { kind: 'none' }
  | { kind: 'range'; start: number; end: number }
  | { kind: 'unsatisfiable' };

const NONE: RangeResult = { kind: 'none' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };
const SINGLE = /^bytes=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined || header.length > 200) return NONE;
  const match = SINGLE.exec(header);
  if (match === null) return NONE;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return NONE;
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (!Number.isSafeInteger(length)) return NONE;
    if (length === 0 || size === 0) return UNSATISFIABLE;
    return { kind: 'range', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return NONE;
  if (start >= size) return UNSATISFIABLE;
  if (end < start) return NONE;
  return { kind: 'range', start, end: Math.min(end, size - 1) };
}
