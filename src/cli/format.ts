/** Small helpers for human-readable CLI output. */

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Colour only for a terminal that wants it (not NO_COLOR, TERM=dumb or CI). */
export function useColour(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): boolean {
  return (
    (stream as NodeJS.WriteStream).isTTY === true &&
    env.NO_COLOR === undefined &&
    env.TERM !== 'dumb' &&
    env.CI === undefined
  );
}
