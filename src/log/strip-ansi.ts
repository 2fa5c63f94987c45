/**
 * Terminal escape sequences: CSI (colours, cursor moves: ESC [ … final byte),
 * OSC (titles, links: ESC ] … BEL or ESC \), and the two-byte ESC forms
 * (ESC c resets, ESC 7 saves the cursor).
 * Built from code points so the source holds no control characters.
 */
const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
const CSI_8BIT = String.fromCharCode(0x9b);
const SEQUENCE = new RegExp(`(?:${ESC}\\[|${CSI_8BIT})[0-?]*[ -/]*[@-~]|${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)?|${ESC}[0-~]`, 'g');

/** `text` without terminal escape sequences: what a build printed in colour, as plain text for a file or a pipe. */
export function stripAnsi(text: string): string {
  return text.includes(ESC) || text.includes(CSI_8BIT) ? text.replace(SEQUENCE, '') : text;
}
