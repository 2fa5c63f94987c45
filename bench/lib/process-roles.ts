/**
 * Which process of a `berth serve` tree does which job, read from outside
 * (/proc) so the measurement needs nothing from Berth: the process the
 * benchmark started is the supervisor; a process that holds a listening
 * socket on the server's ports (each worker does, with `reusePort`) or that
 * node:cluster started (`NODE_UNIQUE_ID` in its environment) is a serving
 * worker; another Node process is the control plane; anything else (git, a
 * build) is "other". Where no process is left for the control plane, it runs
 * inside the supervisor, as it did before the supervisor split.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processTree } from './proc.ts';

export type Role = 'supervisor' | 'control plane' | 'worker' | 'other';

/** What classification needs to know of one process. */
export interface ProcessFacts {
  pid: number;
  /** Holds a listening socket on one of the server's ports. */
  listens: boolean;
  /** Started by node:cluster (NODE_UNIQUE_ID set). */
  clusterWorker: boolean;
  /** Its executable is Node. */
  node: boolean;
}

/** The role of each process of a tree whose root is `root`. */
export function classify(root: number, facts: readonly ProcessFacts[]): Map<number, Role> {
  const roles = new Map<number, Role>();
  for (const f of facts) {
    if (f.pid === root) roles.set(f.pid, 'supervisor');
    else if (f.listens || f.clusterWorker) roles.set(f.pid, 'worker');
    else if (f.node) roles.set(f.pid, 'control plane');
    else roles.set(f.pid, 'other');
  }
  return roles;
}

/**
 * Inodes of the sockets listening on any of `ports`, from the text of
 * /proc/net/tcp or /proc/net/tcp6 (state 0A is LISTEN; the port is the hex
 * after the colon of the local address; the inode is the tenth column).
 */
export function listeningInodes(procNetTcp: string, ports: readonly number[]): Set<string> {
  const out = new Set<string>();
  for (const line of procNetTcp.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local || cols[3] !== '0A') continue;
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (ports.includes(port) && cols[9]) out.add(cols[9]);
  }
  return out;
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The socket inodes among a process's open files. */
function socketInodes(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.push(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

function isNode(pid: number): boolean {
  try {
    return /(^|\/)node[\d.]*$/.test(readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return false;
  }
}

/** Facts about every process of the tree rooted at `root`, from /proc. */
export function processFacts(root: number, ports: readonly number[]): ProcessFacts[] {
  const listening = new Set([...listeningInodes(read('/proc/net/tcp'), ports), ...listeningInodes(read('/proc/net/tcp6'), ports)]);
  return processTree(root).map((pid) => ({
    pid,
    listens: socketInodes(pid).some((i) => listening.has(i)),
    clusterWorker: read(`/proc/${pid}/environ`).split('\0').some((v) => v.startsWith('NODE_UNIQUE_ID=')),
    node: isNode(pid),
  }));
}
