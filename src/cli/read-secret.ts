import { BerthError } from '../errors.ts';

/** Standard input as the commands see it; a terminal has `isTTY` and `setRawMode`. */
export type SecretInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };

/** Most characters one typed line may have; more is refused rather than kept in memory. */
const MAX_LINE = 4096;

export interface SecretReader {
  /** Shows `prompt` on `output` and reads one line typed without echo. */
  read(prompt: string): Promise<string>;
  /** Gives the terminal back (echo and line editing on). */
  close(): void;
}

/**
 * Reads lines from a terminal without showing them: the terminal goes into
 * raw mode (no echo) while a line is read, Backspace deletes, Enter ends the
 * line and Ctrl-C or Ctrl-D on an empty line stops (E_USAGE: nothing was
 * changed). Characters typed or pasted ahead are kept for the next line.
 */
export function createSecretReader(input: SecretInput, output: NodeJS.WritableStream): SecretReader {
  let ahead = '';
  let ended = false;
  let pending: { line: string; resolve: (line: string) => void; reject: (error: Error) => void } | undefined;

  const finish = (error: Error | undefined): void => {
    const current = pending;
    if (current === undefined) return;
    pending = undefined;
    input.setRawMode?.(false);
    input.pause();
    output.write('\n');
    if (error === undefined) current.resolve(current.line);
    else current.reject(error);
  };

  /** Feeds characters to the line being read; returns the ones left once it ended. */
  const feed = (text: string): string => {
    const chars = [...text];
    for (let index = 0; index < chars.length; index++) {
      const current = pending;
      if (current === undefined) return chars.slice(index).join('');
      const char = chars[index] as string;
      if (char === '\r' || char === '\n') {
        // A \r\n pair is one end of line.
        if (char === '\r' && chars[index + 1] === '\n') index++;
        finish(undefined);
      } else if (char === '\u0003' || (char === '\u0004' && current.line === '')) {
        finish(new BerthError('E_USAGE', 'Interrupted; nothing was changed'));
      } else if (char === '\u007f' || char === '\b') {
        current.line = [...current.line].slice(0, -1).join('');
      } else if (char >= ' ') {
        if (current.line.length >= MAX_LINE) finish(new BerthError('E_USAGE', `The line typed is longer than ${MAX_LINE} characters; nothing was changed`));
        else current.line += char;
      }
    }
    return '';
  };

  const onData = (chunk: Buffer | string): void => {
    ahead = feed(ahead + chunk.toString());
  };
  const onEnd = (): void => {
    ended = true;
    finish(new BerthError('E_USAGE', 'The input ended before the line was typed; nothing was changed'));
  };
  input.on('data', onData);
  input.on('end', onEnd);
  input.pause();

  return {
    read(prompt) {
      output.write(prompt);
      return new Promise((resolve, reject) => {
        pending = { line: '', resolve, reject };
        const kept = ahead;
        ahead = '';
        ahead = feed(kept);
        if (pending === undefined) return;
        if (ended) {
          onEnd();
          return;
        }
        input.setRawMode?.(true);
        input.resume();
      });
    },
    close() {
      input.off('data', onData);
      input.off('end', onEnd);
      input.setRawMode?.(false);
      input.pause();
    },
  };
}

/** The first line of standard input when it is not a terminal (`--password-stdin`), without its line end. */
export async function readFirstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) {
    text += chunk.toString();
    if (/[\r\n]/.test(text) || text.length > MAX_LINE) break;
  }
  const line = text.split(/\r?\n|\r/)[0] ?? '';
  if (line.length > MAX_LINE) throw new BerthError('E_USAGE', `The first line of standard input is longer than ${MAX_LINE} characters; nothing was changed`);
  return line;
}
