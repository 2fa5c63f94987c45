/**
 * One JSON log line as a person reads it on a terminal:
 * `16:31:02 info  deploy live  site=blog release=20261204T… ms=312`.
 * The time is local and to the second; the fields follow the message in the
 * order they were logged; a value with spaces or quotes is JSON-quoted, an
 * object is JSON. A line that is not a JSON object is returned as it is.
 */
export function readableLine(json: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return json.endsWith('\n') ? json : `${json}\n`;
  const { time, level, msg, ...fields } = entry as Record<string, unknown>;
  const when = typeof time === 'string' && !Number.isNaN(Date.parse(time)) ? new Date(time).toTimeString().slice(0, 8) : '--:--:--';
  const parts = [when, String(level ?? '').padEnd(5), String(msg ?? '')];
  const rest = Object.entries(fields).map(([key, value]) => `${key}=${shownValue(value)}`);
  return `${parts.join(' ')}${rest.length === 0 ? '' : `  ${rest.join(' ')}`}\n`;
}

function shownValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"'=]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    // An error: its message (and code) read better than its stack on a terminal; the JSON format keeps the stack.
    const error = value as { message: string; code?: unknown };
    return JSON.stringify(error.code === undefined ? error.message : `${error.message} [${String(error.code)}]`);
  }
  return JSON.stringify(value) ?? String(value);
}
