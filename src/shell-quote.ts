/** `value` as one POSIX shell word, always single-quoted: safe inside a script Berth writes. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** `value` as one shell word, quoted only when it needs to be, so a command Berth prints reads as a person would type it. */
export function shellWord(value: string): string {
  return /^[\w./@%+=:,-]+$/.test(value) ? value : shellQuote(value);
}
