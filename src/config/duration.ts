/**
 * Durations in `berth.toml` are strings such as `"10s"`, `"500ms"`, `"2m"`
 * or `"1m30s"`. A bare number is not accepted: it would be unclear whether
 * it meant seconds or milliseconds.
 */

const MS_PER_UNIT = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

type DurationUnit = keyof typeof MS_PER_UNIT;

/** One or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`. Also used by the JSON Schema. */
export const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration string into whole milliseconds (rounded), or returns
 * `undefined` when the text is not a duration.
 *
 * @example parseDuration('1m30s') // 90000
 */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_PATTERN.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(PART)) {
    const amount = Number(match[1]);
    const unit = match[2] as DurationUnit;
    total += amount * MS_PER_UNIT[unit];
  }
  const ms = Math.round(total);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Writes milliseconds the way a person would type them in `berth.toml`:
 * the largest unit that divides evenly (`90000` -> `"90s"`, `120000` -> `"2m"`).
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['h', 'm', 's'] as const) {
    if (ms % MS_PER_UNIT[unit] === 0) return `${ms / MS_PER_UNIT[unit]}${unit}`;
  }
  return `${ms}ms`;
}
