/**
 * Child processes for the benchmark: every server started here is tracked,
 * its pid written to a file (so bench/run.sh can clean up even if this
 * process dies hard), and killed when the benchmark exits for any reason.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { openSync, closeSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Tracked {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
  exited: Promise<number | null>;
  /** The signal that stops it cleanly (nginx: SIGQUIT). */
  stopSignal: NodeJS.Signals;
}

const tracked = new Set<Tracked>();
/** Short-lived helpers (wrk, h2load, publish): killed with the servers. */
const transient = new Set<ChildProcess>();

export function trackTransient(child: ChildProcess): void {
  transient.add(child);
  child.once('exit', () => transient.delete(child));
}
let pidDir = '';

export function setPidDir(dir: string): void {
  pidDir = dir;
}

/** Starts a long-running process with output going to `<logDir>/<name>.log`. */
export function startTracked(
  name: string,
  cmd: string,
  args: string[],
  logDir: string,
  opts: SpawnOptions = {},
  stopSignal: NodeJS.Signals = 'SIGTERM',
): Tracked {
  const logFile = join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.once('error', () => resolve(-1));
  });
  const t: Tracked = { name, child, pid: child.pid, logFile, exited, stopSignal };
  tracked.add(t);
  if (pidDir) writeFileSync(join(pidDir, `${name}.pid`), `${child.pid}\n`);
  void exited.then(() => {
    tracked.delete(t);
    if (pidDir) rmSync(join(pidDir, `${name}.pid`), { force: true });
  });
  return t;
}

export function isRunning(t: Tracked): boolean {
  return t.child.exitCode === null && t.child.signalCode === null;
}

/** Its stop signal, then SIGKILL to the whole tree after `graceMs`. */
export async function stopTracked(t: Tracked, graceMs = 5000): Promise<void> {
  if (!isRunning(t)) return;
  const tree = processTree(t.pid);
  t.child.kill(t.stopSignal);
  const done = await Promise.race([t.exited.then(() => true), sleep(graceMs).then(() => false)]);
  for (const pid of done ? tree.slice(1) : tree.reverse()) {
    try {
      // Leftover children (or, after a timeout, everything) are killed.
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  if (!done) await Promise.race([t.exited, sleep(2000)]);
}

/** SIGKILL every tracked process and all its descendants (nginx workers too). */
export function killAllNow(): void {
  for (const c of transient) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const t of tracked) {
    // Collect the tree first: once the parent is gone its children are re-parented.
    for (const pid of processTree(t.pid).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Asks every tracked process to stop with its own signal, then kills what is left. */
async function stopAll(graceMs: number): Promise<void> {
  const all = [...tracked];
  for (const t of all) {
    try {
      t.child.kill(t.stopSignal);
    } catch {
      // already gone
    }
  }
  await Promise.race([Promise.all(all.map((t) => t.exited)), sleep(graceMs)]);
  killAllNow();
}

/** Kill every tracked child when this process ends, however it ends. */
export function installExitHandlers(): void {
  process.once('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\nbench: ${sig}, stopping servers`);
      void stopAll(3000).finally(() => process.exit(130));
    });
  }
}

export function portIsOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Waits until nothing listens on the ports, so the next server started on
 * them gets them and no leftover of the last one answers in its place.
 * False when one is still open after `timeoutMs`.
 */
export async function waitPortsFree(ports: number[], timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (const port of ports) {
    while (await portIsOpen(port)) {
      if (performance.now() > deadline) return false;
      await sleep(50);
    }
  }
  return true;
}

/** Waits until every port accepts connections, the process dies, or time runs out. */
export async function waitForPorts(t: Tracked, ports: number[], timeoutMs = 20000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    for (;;) {
      if (!isRunning(t)) throw new Error(`${t.name} exited early; see ${t.logFile}:\n${tail(t.logFile)}`);
      if (await portIsOpen(port)) break;
      if (Date.now() > deadline) throw new Error(`${t.name} did not open port ${port} in ${timeoutMs} ms; see ${t.logFile}`);
      await sleep(100);
    }
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From the spawn to the end of its output. */
  ms: number;
  /** performance.now() when the process exited (its output may end a little later); undefined if it never started. */
  exitedAt?: number;
}

/** Runs a short command to completion, killed after `timeoutMs`. */
export function run(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    trackTransient(child);
    let stdout = '';
    let stderr = '';
    let exitedAt: number | undefined;
    child.once('exit', () => (exitedAt = performance.now()));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err), ms: performance.now() - started });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started, exitedAt });
    });
  });
}

/** Resident set size in KiB (VmRSS, or VmHWM for the peak) from /proc. */
export function procKiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The process and all its descendants (nginx workers, for example). */
export function processTree(pid: number): number[] {
  const out = [pid];
  // Each thread has its own children list: a multi-threaded parent (a Go
  // program such as adnanh/webhook) forks from whichever thread runs.
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    try {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const c of children.split(/\s+/).filter(Boolean)) out.push(...processTree(Number(c)));
    } catch {
      // the thread ended, or no children file: nothing to add
    }
  }
  return out;
}

export function treeRssKiB(pid: number): number | undefined {
  let sum = 0;
  let any = false;
  for (const p of processTree(pid)) {
    const v = procKiB(p);
    if (v !== undefined) {
      sum += v;
      any = true;
    }
  }
  return any ? sum : undefined;
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
