/**
 * Load generators: wrk for HTTP/1.1 (plain and TLS), h2load for HTTP/2.
 * Both are run as child processes; their text output is parsed here.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, trackTransient } from './proc.ts';

export interface LoadResult {
  tool: 'wrk' | 'h2load';
  url: string;
  requests: number;
  seconds: number;
  rps: number;
  /** Latency percentiles in milliseconds (wrk only). */
  p50Ms?: number;
  p90Ms?: number;
  p99Ms?: number;
  meanMs?: number;
  /** Responses outside 2xx/3xx. */
  non2xx: number;
  /** Connect/read/write/timeout errors (wrk) or failed/errored requests (h2load). */
  errors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1.23ms" -> 1.23, "850.00us" -> 0.85, "2.01s" -> 2010 */
export function parseDurationMs(text: string): number | undefined {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const unit = UNIT_MS[m[2] ?? ''];
  return unit === undefined ? undefined : Number(m[1]) * unit;
}

export function parseWrk(url: string, out: string): LoadResult {
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const pct = (p: string): number | undefined => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out);
    return m?.[1] ? parseDurationMs(m[1]) : undefined;
  };
  const done = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  const rps = num(/Requests\/sec:\s+([\d.]+)/);
  if (!done || rps === undefined) throw new Error(`could not parse wrk output:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const avg = /^\s*Latency\s+(\S+)/m.exec(out);
  return {
    tool: 'wrk',
    url,
    requests: Number(done[1]),
    seconds: (parseDurationMs(`${done[2]}${done[3]}`) ?? 0) / 1000,
    rps,
    p50Ms: pct('50'),
    p90Ms: pct('90'),
    p99Ms: pct('99'),
    meanMs: avg?.[1] ? parseDurationMs(avg[1]) : undefined,
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0,
    errors,
    raw: out,
  };
}

export interface LoadOptions {
  threads: number;
  connections: number;
  seconds: number;
  /** Request headers, as `name: value`. */
  headers?: string[];
  /** `taskset -c` CPU list to confine the load generator to. */
  cpus?: string;
}

/** The command line of `tool args`, confined to `cpus` when given. */
function confined(tool: string, args: string[], cpus: string | undefined): [string, string[]] {
  return cpus === undefined ? [tool, args] : ['taskset', ['-c', cpus, tool, ...args]];
}

function headerArgs(headers: string[] | undefined): string[] {
  return (headers ?? []).flatMap((h) => ['-H', h]);
}

export async function wrk(url: string, o: LoadOptions): Promise<LoadResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '--timeout', '5s', ...headerArgs(o.headers), url];
  const r = await run(...confined('wrk', args, o.cpus), { timeoutMs: (o.seconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`wrk ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return parseWrk(url, r.stdout);
}

/**
 * wrk that runs until told to stop (SIGINT makes wrk print its summary),
 * for load whose length is not known in advance. `maxSeconds` bounds it.
 */
export function wrkUntilStopped(url: string, o: Omit<LoadOptions, 'seconds'> & { maxSeconds: number }): {
  stop: () => Promise<LoadResult>;
} {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.maxSeconds}s`, '--latency', '--timeout', '5s', url];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackTransient(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      const ok = await Promise.race([closed.then(() => true), sleep(10_000).then(() => false)]);
      if (!ok) {
        child.kill('SIGKILL');
        throw new Error('wrk did not stop on SIGINT');
      }
      return parseWrk(url, out);
    },
  };
}

export function parseH2load(url: string, out: string): LoadResult {
  const fin = /finished in ([\d.]+)(us|ms|s|m), ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const tfr = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (!fin || !req || !codes) throw new Error(`could not parse h2load output:\n${out}`);
  return {
    tool: 'h2load',
    url,
    requests: Number(req[3]),
    seconds: (parseDurationMs(`${fin[1]}${fin[2]}`) ?? 0) / 1000,
    rps: Number(fin[3]),
    meanMs: tfr?.[3] ? parseDurationMs(tfr[3]) : undefined,
    non2xx: Number(codes[3]) + Number(codes[4]),
    errors: Number(req[5]) + Number(req[6]) + Number(req[7]),
    raw: out,
  };
}

/**
 * HTTP/2 over TLS: `streams` concurrent streams per connection, for
 * `seconds` (`-D`) or, with `requests`, until that many are done (`-n`).
 * The count mode exists because h2load's timed mode can wait forever at the
 * end of the run for streams of large files it stopped reading (seen with
 * Node's HTTP/2 server and 200 KiB bodies); a count ends when the last
 * response does. `seconds` then only bounds how long it may take.
 */
export async function h2load(url: string, o: LoadOptions & { streams: number; warmupSeconds: number; requests?: number }): Promise<LoadResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-m${o.streams}`,
    ...(o.requests !== undefined ? [`-n${Math.max(o.requests, o.connections)}`] : [`-D${o.seconds}`]),
    ...(o.requests === undefined && o.warmupSeconds > 0 ? [`--warm-up-time=${o.warmupSeconds}`] : []),
    ...headerArgs(o.headers),
    url,
  ];
  const r = await run(...confined('h2load', args, o.cpus), { timeoutMs: (o.seconds * (o.requests !== undefined ? 4 : 1) + o.warmupSeconds + 30) * 1000 });
  if (r.code !== 0) throw new Error(`h2load ${args.join(' ')} exited ${r.code ?? 'on a timeout'}: ${(r.stderr || r.stdout).slice(-2000)}`);
  return parseH2load(url, r.stdout);
}
