/**
 * Sizes in `berth.toml` are either a whole number of bytes (`16384`) or a
 * string with a unit (`"16KiB"`, `"1MB"`, `"512 B"`). Units are matched without
 * regard to case; `KB`/`MB`/`GB` are powers of 1000 and `KiB`/`MiB`/`GiB`
 * powers of 1024, as their names say.
 */

const BYTES_PER_UNIT: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1_000,
  kib: 1_024,
  mb: 1_000_000,
  mib: 1_048_576,
  gb: 1_000_000_000,
  gib: 1_073_741_824,
};

/** A number, an optional single space, an optional unit. Also used by the JSON Schema. */
export const BYTE_SIZE_PATTERN = /^\d+(?:\.\d+)? ?(?:[bB]|[kKmMgG][iI]?[bB])?$/;

const PARTS = /^(\d+(?:\.\d+)?) ?([a-zA-Z]*)$/;

/**
 * Parses a byte count or size string into whole bytes, or returns
 * `undefined` when it is neither. A fractional result (`"1.5B"`) is refused;
 * `"1.5KiB"` is 1536 bytes and accepted.
 *
 * @example parseByteSize('16KiB') // 16384
 */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (!BYTE_SIZE_PATTERN.test(value)) return undefined;
  const match = PARTS.exec(value);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase();
  const multiplier = unit === '' ? 1 : BYTES_PER_UNIT[unit];
  if (multiplier === undefined) return undefined;
  const exact = Number(match[1]) * multiplier;
  const bytes = Math.round(exact);
  // Binary floating point makes 1.1 * 1000 come out a hair off 1100.
  if (Math.abs(exact - bytes) > 1e-6 || !Number.isSafeInteger(bytes)) return undefined;
  return bytes;
}

/** Writes a byte count in the largest binary unit that divides it evenly (`16384` -> `"16KiB"`). */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['GiB', 1_073_741_824], ['MiB', 1_048_576], ['KiB', 1_024]] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
