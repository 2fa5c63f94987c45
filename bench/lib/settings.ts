/**
 * What every benchmark script reads the same way: its settings from
 * environment variables (checked, with the range in the error) and a
 * timestamped progress line.
 */

/** An integer setting `name` in min..max, or `def` when it is unset or empty. */
export function envInt(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name}=${raw}: want an integer in ${min}..${max}`);
  return n;
}

/** A comma-separated list of integers in min..max, or `def` when unset or empty. */
export function envList(name: string, def: number[], min: number, max: number): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < min || n > max)) throw new Error(`${name}=${raw}: want integers in ${min}..${max}, comma-separated`);
  return list;
}

/** A progress logger: `[<label> HH:MM:SS] message` on stdout. */
export function progressLog(label: string): (msg: string) => void {
  return (msg) => console.log(`[${label} ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}
