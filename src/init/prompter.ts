import { createInterface } from 'node:readline/promises';
import { BerthError } from '../errors.ts';
import type { Checked } from './init-answers.ts';

/**
 * Questions on a terminal: each shows its default in brackets, an empty
 * answer takes the default, and an answer the check refuses is explained
 * and asked again. Lines are read through the interface's iterator, which
 * keeps lines typed (or pasted) ahead of their question.
 */

export interface Question<T> {
  /** e.g. `Domain(s), comma-separated` */
  text: string;
  /** The option that gives the answer without asking, e.g. `--forge`; named when the input ends. */
  option: string;
  /** Shown in brackets and used for an empty answer. */
  defaultAnswer?: string;
  /** Explains the question in a line before it, the first time only. */
  hint?: string;
  check(answer: string): Checked<T>;
}

export interface Prompter {
  ask<T>(question: Question<T>): Promise<T>;
  close(): void;
}

export function createPrompter(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Prompter {
  const terminal = (input as { isTTY?: boolean }).isTTY === true && (output as { isTTY?: boolean }).isTTY === true;
  const rl = createInterface({ input, output, terminal });
  const lines = rl[Symbol.asyncIterator]();
  let interrupted = false;
  let closed = false;
  rl.on('close', () => {
    closed = true;
  });
  // Ctrl-C in terminal mode reaches readline, not the process: stop here.
  rl.on('SIGINT', () => {
    interrupted = true;
    rl.close();
  });

  async function nextLine(option: string): Promise<string> {
    const next = await lines.next();
    if (next.done === true) {
      output.write('\n');
      throw new BerthError('E_USAGE', interrupted ? 'Interrupted; nothing was written' : `The input ended before ${option} was answered; nothing was written (give it as an option to skip the question)`);
    }
    return next.value;
  }

  return {
    async ask<T>(question: Question<T>): Promise<T> {
      if (question.hint !== undefined) output.write(`${question.hint}\n`);
      for (;;) {
        const shownDefault = question.defaultAnswer === undefined ? '' : ` [${question.defaultAnswer}]`;
        const prompt = `${question.text}${shownDefault}: `;
        // Input that has ended closes the interface, with its last lines still to be read.
        if (closed) {
          output.write(prompt);
        } else {
          rl.setPrompt(prompt);
          rl.prompt();
        }
        const typed = (await nextLine(question.option)).trim();
        const answer = typed === '' ? (question.defaultAnswer ?? '') : typed;
        const checked = question.check(answer);
        if (checked.ok) {
          for (const note of checked.notes ?? []) output.write(`  note: ${note}\n`);
          return checked.value;
        }
        output.write(`  ${checked.message}; try again\n`);
      }
    },
    close() {
      rl.close();
    },
  };
}
