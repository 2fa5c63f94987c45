import { readFile, readdir, readlink } from 'node:fs/promises';

/**
 * The inodes of the TCP sockets listening on `port` (any address), from
 * /proc/net/tcp and /proc/net/tcp6: one entry per socket, so several
 * SO_REUSEPORT sockets on one port are several entries.
 */
export async function listeningInodes(port: number): Promise<string[]> {
  const inodes: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, , state] = fields;
      // State 0A is LISTEN; the port is the hex after the colon.
      if (state !== '0A' || local === undefined) continue;
      if (Number.parseInt(local.split(':')[1] ?? '', 16) === port) inodes.push(fields[9] as string);
    }
  }
  return inodes;
}

/** The socket inodes a process has open (/proc/PID/fd links `socket:[inode]`). */
export async function socketInodesOf(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match !== null) inodes.add(match[1] as string);
  }
  return inodes;
}

/** The files a process has open, as the paths its /proc/PID/fd links name. */
export async function openFilesOf(pid: number): Promise<string[]> {
  const files: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) files.push(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
  return files;
}

/** For each pid, the listening sockets of `port` it holds. */
export async function listenersOfPort(port: number, pids: readonly number[]): Promise<Map<number, string[]>> {
  const listening = await listeningInodes(port);
  const owners = new Map<number, string[]>();
  for (const pid of pids) {
    const open = await socketInodesOf(pid);
    owners.set(pid, listening.filter((inode) => open.has(inode)));
  }
  return owners;
}
