import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { onCleanup } from './cleanup.ts';
import { tempDir, writeTree } from './temp.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface ServeProcess {
  root: string;
  child: ChildProcess;
  httpPort: number;
  httpsPort: number;
  /** Every JSON line the process tree wrote to standard output, parsed, in order. */
  lines: Array<Record<string, unknown>>;
  /** Pids of the processes that said `listening` (the workers, or the one process). */
  servingPids: number[];
  /** Everything written to standard error (a crash's stack trace lands here). */
  stderr(): string;
  /** Whether the top process has exited. */
  exited(): boolean;
  /** Lines that report a child process dying (the supervisor logs each), and fatal ones. */
  workerDeaths(): Array<Record<string, unknown>>;
  /** Waits until a line matching `match` has been written, up to `timeoutMs`; returns it or undefined. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown> | undefined>;
}

export interface ServeProcessOptions {
  /** Extra TOML for `[server]`. */
  server?: string;
  /** TOML tables added after the site's (`[metrics]`, say). */
  tables?: string;
  /** Files published for the one site (domains `localhost` and `127.0.0.1`) before the server starts. */
  files: Record<string, string | Buffer>;
  /** Passed to the child's environment. */
  env?: Record<string, string>;
  /**
   * Runs the server as this uid and gid (the test runs as root, where file
   * modes stop nothing): the whole test directory is handed to it first.
   */
  user?: { uid: number; gid: number };
  /** The command line after Node's path, given the config file; `berth serve --config FILE` by default. */
  command?: (config: string) => string[];
}

/**
 * Runs `berth serve` as a real child process (so a crash is an exit, not a
 * failed test inside this process) and waits until every serving process
 * listens. Killed when the test ends.
 */
export async function startServeProcess(t: TestContext, options: ServeProcessOptions): Promise<ServeProcess> {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  const server = options.server ?? '';
  // The default is "auto": one worker per core.
  const workers = Number(/^\s*workers\s*=\s*(\d+)/m.exec(server)?.[1] ?? availableParallelism());
  await writeFile(
    config,
    ['data_dir = "data"', '[server]', 'host = "127.0.0.1"', 'http_port = 0', 'https_port = 0', server, '[acme]', 'directory = "off"', '[[sites]]', 'name = "site"', 'domains = ["localhost", "127.0.0.1"]', options.tables ?? ''].join('\n'),
  );
  await writeTree(join(root, 'out'), options.files);
  const sink = new PassThrough();
  let said = '';
  sink.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const published = await main(['publish', join(root, 'out'), '--config', config, '--site', 'site'], { stdout: sink, stderr: sink, env: {}, cwd: root });
  if (published !== 0) throw new Error(`publish failed: ${said}`);

  if (options.user !== undefined) execFileSync('chown', ['-R', `${options.user.uid}:${options.user.gid}`, root]);
  const child = spawn(process.execPath, options.command?.(config) ?? [cli, 'serve', '--config', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
  });
  let exited = false;
  const exit = once(child, 'exit').then(() => {
    exited = true;
  });
  onCleanup(t, async () => {
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const lines: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ match: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text, unparsed: true };
    }
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const waitForLine = (match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown> | undefined> => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const waiter = {
        match,
        resolve: (line: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      waiters.add(waiter);
      void exit.then(() => waiter.resolve(lines.find(match) ?? { msg: 'exited', exited: true }));
    });
  };

  const listening = (): Array<Record<string, unknown>> => lines.filter((line) => line.msg === 'listening');
  // Ports open before releases load (answering 503 meanwhile): wait until every serving process has loaded them too.
  const loaded = (): number => lines.filter((line) => line.msg === 'sites ready').length;
  await waitForLine(() => listening().length >= workers && loaded() >= workers, 60_000);
  const ready = listening();
  if (ready.length < workers || loaded() < workers) throw new Error(`berth serve did not start: ${errors}${JSON.stringify(lines)}`);
  const first = ready[0] as { http: number; https: number };
  return {
    root,
    child,
    httpPort: first.http,
    httpsPort: first.https,
    lines,
    servingPids: ready.map((line) => Number(line.worker ?? child.pid)),
    stderr: () => errors,
    exited: () => exited,
    workerDeaths: () => lines.filter((line) => String(line.msg).endsWith('exited; starting another') || line.level === 'fatal'),
    waitForLine,
  };
}

/** The pids of a process's children (Linux: /proc/PID/task/PID/children). */
export async function childPids(pid: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(' ').filter((word) => word !== '').map(Number);
}

/**
 * SIGKILL to `berth serve` and every process it started, as when the whole
 * service is killed (\`systemctl kill -s KILL\`, a power cut): the supervisor
 * first, so that it restarts nothing.
 */
export async function killServeTree(pid: number): Promise<void> {
  const children = await childPids(pid);
  process.kill(pid, 'SIGKILL');
  for (const child of children) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
