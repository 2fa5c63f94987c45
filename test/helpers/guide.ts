import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * docs/guide.md, run as a reader would run it. Every ```sh block in the
 * guide carries a marker on the line above it:
 *
 *   <!-- guide-test: docker.build -->             run by a guide test under this id
 *   <!-- guide-test: none: why it cannot run here -->
 *
 * test/deploy-files/guide-blocks.test.ts checks that every block has one
 * and that the guide tests together run every block not marked `none`;
 * test/image/guide-*.ts run them, in a shell that lives as long as the
 * scenario, so `cd`, variables and aliases carry from one block to the
 * next as they do in the reader's terminal.
 */

export const GUIDE = join(import.meta.dirname, '..', '..', 'docs', 'guide.md');

export interface GuideBlock {
  /** The marker's id, or `none`. */
  readonly id: string;
  /** For `none`: why the tests do not run it. */
  readonly reason?: string;
  /** Line of the opening fence (1-based). */
  readonly line: number;
  /** The commands, without the fence's indentation. */
  readonly code: string;
}

/** The blocks each guide test runs; with the `none` blocks, they are all of them. */
export const GUIDE_RUNS = {
  systemd: [
    'both.health', 'both.source', 'systemd.oracle-firewall', 'systemd.ufw', 'systemd.packages', 'systemd.node', 'systemd.user',
    'systemd.clone', 'client.archive', 'systemd.unpack', 'systemd.npm', 'systemd.cli', 'systemd.init', 'systemd.unit', 'systemd.alias',
    'systemd.reload', 'both.deploy', 'both.deploys', 'both.certs', 'both.renew', 'systemd.upgrade', 'systemd.backup', 'systemd.restore',
    'move.systemd-prepare', 'move.systemd-start', 'move.check', 'systemd.upgrade-archive', 'move.systemd-stop-old',
  ],
  docker: [
    'both.health', 'both.source', 'docker.packages', 'docker.check-docker', 'docker.build', 'docker.files', 'docker.edit', 'docker.secret',
    'docker.start', 'docker.alias', 'docker.reload', 'both.deploy', 'both.deploys', 'both.certs', 'both.renew', 'docker.upgrade', 'docker.backup',
    'move.docker-stop-old', 'move.docker-restore', 'move.docker-start', 'move.check',
  ],
} as const;

const MARKER = /^(\s*)<!-- guide-test: (.+?) -->$/;

/** Every ```sh block of the guide with its marker; throws on a block without one. */
export function parseGuide(markdown: string): GuideBlock[] {
  const lines = markdown.split('\n');
  const blocks: GuideBlock[] = [];
  for (let index = 0; index < lines.length; index += 1) {
    const fence = /^(\s*)```(\S*)\s*$/.exec(lines[index] ?? '');
    if (fence === null) continue;
    const indent = fence[1] ?? '';
    const end = lines.findIndex((line, at) => at > index && line.trimEnd() === `${indent}\`\`\``);
    if (end === -1) throw new Error(`docs/guide.md:${index + 1}: the code block is never closed`);
    if (fence[2] === 'sh') {
      const marker = MARKER.exec(lines[index - 1] ?? '');
      if (marker === null || marker[1] !== indent) {
        throw new Error(`docs/guide.md:${index + 1}: the sh block has no <!-- guide-test: ID --> or <!-- guide-test: none: WHY --> line above it`);
      }
      const label = marker[2] ?? '';
      const none = /^none: (.+)$/.exec(label);
      const code = lines
        .slice(index + 1, end)
        .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line))
        .join('\n');
      blocks.push(none === null ? { id: label, line: index + 1, code } : { id: 'none', reason: none[1] ?? '', line: index + 1, code });
    }
    index = end;
  }
  return blocks;
}

export async function readGuide(): Promise<GuideBlock[]> {
  return parseGuide(await readFile(GUIDE, 'utf8'));
}

/** Text replaced in a block before it runs; a RegExp must be global (every match is replaced). */
export type Substitution = readonly [string | RegExp, string];

export interface GuideShellOptions {
  /** What points at the internet or at a real domain's server, replaced in every block. */
  readonly substitutions?: readonly Substitution[];
  readonly env?: NodeJS.ProcessEnv;
  /** Where the block files are written inside the shell's machine. */
  readonly scratch?: string;
}

/**
 * One bash, as the reader's terminal: `command` starts it (`bash`, or
 * `docker exec -i <vm> bash`). Each block is written to a file and sourced
 * with standard input from /dev/null, under `set -euo pipefail`: a command
 * that fails ends the shell, and `run` rejects with the transcript.
 */
export class GuideShell {
  readonly ran = new Set<string>();
  #child: ChildProcessWithoutNullStreams;
  #output = '';
  #exited: Promise<number | null>;
  #count = 0;
  readonly #blocks: Map<string, GuideBlock>;
  readonly #options: GuideShellOptions;
  readonly #substitutions: Substitution[];
  readonly #name: string;

  /** `name` names the transcript written to $BERTH_GUIDE_LOG/<name>.log when that is set. */
  constructor(name: string, blocks: GuideBlock[], command: readonly [string, ...string[]], options: GuideShellOptions = {}) {
    this.#name = name;
    this.#blocks = new Map(blocks.filter((block) => block.id !== 'none').map((block) => [block.id, block]));
    this.#options = options;
    this.#substitutions = [...(options.substitutions ?? [])];
    // Its own process group, so closing it also ends a command still running in it (a build, a follow).
    this.#child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, detached: true });
    this.#child.stdout.setEncoding('utf8');
    this.#child.stderr.setEncoding('utf8');
    this.#child.stdout.on('data', (chunk: string) => (this.#output += chunk));
    this.#child.stderr.on('data', (chunk: string) => (this.#output += chunk));
    // 'close' comes after the output is drained, so a failure's message has all of it.
    this.#exited = new Promise((resolve) => {
      this.#child.once('close', (code) => resolve(code));
      this.#child.once('error', (error) => {
        this.#output += `\n[the shell could not start: ${error.message}]\n`;
        resolve(null);
      });
    });
    this.#child.stdin.on('error', () => undefined);
    this.#child.stdin.write('set -euo pipefail\nshopt -s expand_aliases\nexec 2>&1\n');
  }

  /** Runs the guide's block `id` (with the substitutions) and returns what it printed. */
  async run(id: string, timeoutMs = 10 * 60_000): Promise<string> {
    const block = this.#blocks.get(id);
    if (block === undefined) throw new Error(`docs/guide.md has no block marked ${id}`);
    const output = await this.exec(this.#prepare(block.code), timeoutMs, `${id} (docs/guide.md:${block.line})`);
    this.ran.add(id);
    return output;
  }

  /**
   * For a block a test cannot run as written (an editor): `step` does what
   * the reader would, and the block counts as run.
   */
  async instead(id: string, step: () => Promise<void>): Promise<void> {
    if (!this.#blocks.has(id)) throw new Error(`docs/guide.md has no block marked ${id}`);
    await step();
    this.#output += `[${id}: done by the test in place of the block]\n`;
    this.ran.add(id);
  }

  /** Runs the test's own commands in the same shell (its steps between the guide's). */
  async exec(script: string, timeoutMs = 10 * 60_000, label = 'the test'): Promise<string> {
    this.#count += 1;
    const tag = `__GUIDE_${process.pid}_${this.#count}__`;
    const file = `${this.#options.scratch ?? '/tmp'}/guide-block-${this.#count}.sh`;
    const begin = this.#output.length;
    this.#child.stdin.write(`cat >${file} <<'${tag}EOF'\n${script}\n${tag}EOF\nprintf '%s\\n' '${tag}BEGIN'\nsource ${file} </dev/null\nprintf '\\n%s\\n' '${tag}END'\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.#output.slice(begin);
      const end = text.indexOf(`${tag}END`);
      if (end !== -1) {
        const start = text.indexOf(`${tag}BEGIN\n`);
        return text.slice(start + tag.length + 6, end).trimEnd();
      }
      const code = await Promise.race([this.#exited, new Promise<'wait'>((resolve) => setTimeout(() => resolve('wait'), 100))]);
      if (code !== 'wait') {
        throw new Error(`${label} failed: the shell exited with ${String(code)}. What it printed:\n${this.#output.slice(begin).slice(-6000)}`);
      }
      if (Date.now() > deadline) throw new Error(`${label} did not finish within ${timeoutMs / 1000} s. What it printed:\n${this.#output.slice(begin).slice(-6000)}`);
    }
  }

  /** Adds a substitution for the blocks that run from now on (a value the test learns on the way, such as a deploy id). */
  substitute(from: string | RegExp, to: string): void {
    this.#substitutions.push([from, to]);
  }

  async close(): Promise<void> {
    const logDir = process.env.BERTH_GUIDE_LOG;
    if (logDir !== undefined && logDir !== '') {
      await mkdir(logDir, { recursive: true });
      await writeFile(join(logDir, `${this.#name}.log`), this.#output);
    }
    if (this.#child.exitCode !== null || this.#child.pid === undefined) return;
    this.#child.stdin.end('exit 0\n');
    await Promise.race([this.#exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (this.#child.exitCode === null) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  #prepare(code: string): string {
    let text = code;
    // replaceAll refuses a RegExp without the g flag rather than replacing only its first match.
    for (const [from, to] of this.#substitutions) text = text.replaceAll(from, to);
    // A command that follows a log forever runs for a few seconds; `timeout` ending it is success.
    return text
      .split('\n')
      .map((line) => (/^(sudo )?(journalctl|docker compose logs|docker-compose logs)\b.* -f\b/.test(line) ? `timeout 5 ${line} || [ $? -eq 124 ]` : line))
      .join('\n');
  }
}
