/** What the benchmark ran on, for the top of each BENCHMARKS.md section. */

import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { run } from './proc.ts';

/** A tool's version from its own output, or `not installed`. */
export async function versionOf(cmd: string, args: string[], re: RegExp): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 10_000 });
  const m = re.exec(`${r.stdout}\n${r.stderr}`);
  return m?.[1] ?? 'not installed';
}

/** One peer tool to report: table label, command, arguments, and the version pattern. */
export type ToolVersion = [label: string, cmd: string, args: string[], re: RegExp];

/** Cores, CPU, memory, kernel, Node, the given tools, load and the Berth commit measured. */
export async function describeMachine(root: string, tools: readonly ToolVersion[]): Promise<Record<string, string>> {
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?';
  const head = await run('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 });
  const dirty = await run('git', ['-C', root, 'status', '--porcelain', '--', 'src'], { timeoutMs: 10_000 });
  const described: Record<string, string> = {
    cores: `${availableParallelism()} (nproc)`,
    CPU: cpuModel.trim(),
    memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
    kernel: release(),
    Node: process.version,
  };
  for (const [label, cmd, args, re] of tools) described[label] = await versionOf(cmd, args, re);
  described['load average at start'] = loadavg().map((l) => l.toFixed(2)).join(' ');
  described['Berth commit'] = head.code === 0 ? `${head.stdout.trim()}${dirty.stdout.trim() ? ' (src/ modified)' : ''}` : 'unknown';
  return described;
}
