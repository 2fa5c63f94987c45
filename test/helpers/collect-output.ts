import type { Readable } from 'node:stream';

/** A child's output as it arrives: `text()` is all of it so far; `reached` resolves once it holds `marker`. */
export function collectOutput(stream: Readable, marker: string): { text: () => string; reached: Promise<void> } {
  let text = '';
  const reached = new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes(marker)) resolve();
    });
  });
  return { text: () => text, reached };
}
