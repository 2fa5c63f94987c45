/**
 * Release ids sort by time: `20261127T071500Z-<8 hex of the content hash>`.
 * Sorting the ids as strings sorts the releases oldest first.
 */
export function createReleaseId(now: Date, contentHash: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stamp}-${contentHash.slice(0, 8)}`;
}

const RELEASE_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{8}$/;

export function isReleaseId(value: string): boolean {
  return RELEASE_ID.test(value);
}

/** The time (ms since the epoch) a release id was stamped with. */
export function releaseIdTime(id: string): number | undefined {
  const m = RELEASE_ID.exec(id);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
}
