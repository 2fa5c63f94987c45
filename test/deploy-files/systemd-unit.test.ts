/**
 * deploy/berth.service: systemd accepts every line of it, it keeps the
 * hardening the docs promise, and `systemd-analyze security` rates it.
 *
 * Needs `systemd-analyze` (Debian package `systemd`, installed by
 * scripts/test-deps.sh); systemd need not be running. The unit names
 * /usr/bin/node, which `verify` requires to exist, so the checks run on a
 * copy whose ExecStart starts with the Node running this test instead: what
 * is verified is the unit's syntax and directives, not this machine's install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const UNIT = join(ROOT, 'deploy', 'berth.service');

/** What this systemd's `systemd-analyze` offers; undefined when it is not installed. */
function analyzeHelp(): string | undefined {
  try {
    return execFileSync('systemd-analyze', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return undefined;
  }
}
const help = analyzeHelp();
const hasOffline = help?.includes('--offline') === true;

/**
 * Overall exposure from `systemd-analyze security --offline=true` with
 * systemd 252 (Debian bookworm): 2.6 ("OK"). What is left is what a web
 * server that builds from the network, as other users, needs: a root
 * supervisor (0.4) with CAP_SETUID/SETGID (0.3), CAP_CHOWN/FOWNER and
 * CAP_DAC_OVERRIDE (0.2 each), CAP_KILL and CAP_NET_BIND_SERVICE (0.1
 * each), the chown and setuid system calls that use them (0.2), Internet
 * sockets, the host's network, no PrivateUsers (no build uid would exist),
 * no MemoryDenyWriteExecute (V8's JIT), no IP allow list, no ProcSubset, and
 * @resources system calls.
 */
const MAX_EXPOSURE = 2.6;

/** Section → directive → every value given, in order. */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header !== null) {
      section = new Map();
      unit.set(header[1] as string, section);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(section !== undefined && eq > 0, `not a directive in a section: ${line}`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return unit;
}

/** The unit with ExecStart's program replaced by this Node, in its own directory. */
async function copyForVerify(dir: string): Promise<string> {
  const text = await readFile(UNIT, 'utf8');
  const rewritten = text.replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
  assert.notEqual(rewritten, text, 'ExecStart starts with /usr/bin/node');
  const file = join(dir, 'berth.service');
  await writeFile(file, rewritten);
  return file;
}

function requireAnalyze(): void {
  assert.ok(help !== undefined, 'systemd-analyze is not installed: run scripts/test-deps.sh (Debian package systemd)');
}

test('systemd-analyze verify accepts deploy/berth.service: exit 0, no unknown or ignored directives', async (t) => {
  requireAnalyze();
  const file = await copyForVerify(await tempDir(t));
  const result = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `systemd-analyze verify failed:\n${output}`);
  // Every complaint about the file itself names it (path:line: message).
  const aboutUnit = output.split('\n').filter((line) => line.includes(file) || /berth\.service/.test(line));
  assert.deepEqual(aboutUnit, [], 'systemd-analyze verify says nothing about berth.service');
  assert.doesNotMatch(output, /Unknown (key|section)|ignoring|Failed to parse|not executable/i);
});

test('deploy/berth.service starts the supervisor as root with only the capabilities it needs, and the documented hardening', async () => {
  const unit = parseUnit(await readFile(UNIT, 'utf8'));
  assert.deepEqual([...unit.keys()], ['Unit', 'Service', 'Install']);
  const service = unit.get('Service') as Map<string, string[]>;
  const one = (key: string): string | undefined => {
    const values = service.get(key);
    assert.ok(values === undefined || values.length === 1, `${key} is set once`);
    return values?.[0];
  };

  assert.equal(one('ExecStart'), '/usr/bin/node /opt/berth/src/cli/main.ts serve --config /etc/berth/berth.toml');
  assert.equal(one('ExecReload'), '/usr/bin/node /opt/berth/src/cli/main.ts reload --config /etc/berth/berth.toml --wait 60');
  // Root, so that builds can run as uids of their own; the control plane and workers run as berth ([server] user).
  assert.equal(one('User'), undefined, 'the supervisor starts as root');
  assert.equal(one('Group'), undefined);
  assert.equal(one('DynamicUser'), undefined, 'a fixed user, so the CLI and hooks can run as it');
  // Without User=, systemd would make /var/lib/berth root's, every file in it included, at each start.
  assert.equal(one('StateDirectory'), undefined, 'no StateDirectory: the guide makes /var/lib/berth owned by berth');
  assert.equal(one('EnvironmentFile'), '-/etc/berth/berth.env');
  // A root process holds its whole bounding set; ambient capabilities would add nothing and are cleared at a change of uid.
  assert.equal(one('AmbientCapabilities'), undefined, 'no ambient capabilities');
  assert.deepEqual(
    (one('CapabilityBoundingSet') ?? '').split(' ').sort(),
    ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETGID', 'CAP_SETUID'],
  );

  const expected: Record<string, string> = {
    NoNewPrivileges: 'true',
    ProtectProc: 'invisible',
    RestrictSUIDSGID: 'true',
    ProtectSystem: 'strict',
    ReadWritePaths: '/var/lib/berth',
    ProtectHome: 'true',
    PrivateTmp: 'true',
    PrivateDevices: 'true',
    ProtectKernelTunables: 'true',
    ProtectKernelModules: 'true',
    ProtectKernelLogs: 'true',
    ProtectControlGroups: 'true',
    RestrictAddressFamilies: 'AF_UNIX AF_INET AF_INET6',
    RestrictNamespaces: 'true',
    LockPersonality: 'true',
    SystemCallArchitectures: 'native',
    UMask: '0077',
    Restart: 'on-failure',
    KillSignal: 'SIGTERM',
  };
  for (const [key, value] of Object.entries(expected)) assert.equal(one(key), value, key);

  // V8 needs writable and executable memory for its JIT.
  assert.equal(one('MemoryDenyWriteExecute'), undefined, 'MemoryDenyWriteExecute is not set');
  // In a user namespace the capability would not apply to the host's ports, and no build uid would be mapped.
  assert.equal(one('PrivateUsers'), undefined, 'PrivateUsers is not set');

  // Longer than server.shutdown_timeout (10 s) plus the 5 s a build gets between SIGTERM and SIGKILL.
  const stop = /^(\d+)s$/.exec(one('TimeoutStopSec') ?? '');
  assert.ok(stop !== null, 'TimeoutStopSec is given in seconds');
  assert.ok(Number(stop[1]) > 15, `TimeoutStopSec=${stop[1]}s leaves room for the shutdown timeout and a build's stop`);

  // HOME for git and ssh inside what the sandbox leaves writable (ProtectHome hides /home).
  assert.ok(service.get('Environment')?.includes('HOME=/var/lib/berth'), 'Environment=HOME=/var/lib/berth');
  assert.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');
});

/** The system calls a `SystemCallFilter=` group or list stands for, by systemd-analyze's own tables. */
function expandSyscalls(items: readonly string[], seen = new Set<string>()): Set<string> {
  const calls = new Set<string>();
  for (const item of items) {
    if (!item.startsWith('@')) {
      calls.add(item);
      continue;
    }
    if (seen.has(item)) continue;
    seen.add(item);
    const listed = execFileSync('systemd-analyze', ['syscall-filter', '--no-pager', item], { encoding: 'utf8' })
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    for (const call of expandSyscalls(listed, seen)) calls.add(call);
  }
  return calls;
}

test('the system call filter of deploy/berth.service lets the supervisor change uid and owners, and still refuses mounts, tracing, modules and chroot', async () => {
  requireAnalyze();
  const unit = parseUnit(await readFile(UNIT, 'utf8'));
  const filters = unit.get('Service')?.get('SystemCallFilter') ?? [];
  assert.equal(filters.length, 2, 'an allow list, then a deny list');
  const [allow, deny] = filters as [string, string];
  assert.ok(!allow.startsWith('~') && deny.startsWith('~'));
  const denied = expandSyscalls(deny.slice(1).split(' '));
  const allowed = new Set([...expandSyscalls(allow.split(' '))].filter((call) => !denied.has(call)));
  // What Node's spawn({ uid, gid }) calls (setgroups(0), setgid, setuid), chown -R -P -h, and killing a build uid.
  for (const call of ['setuid', 'setgid', 'setgroups', 'setresuid', 'setresgid', 'fchownat', 'fchown', 'lchown', 'chown', 'kill', 'fchmodat']) {
    assert.ok(allowed.has(call), `${call} is allowed`);
  }
  for (const call of ['mount', 'umount2', 'ptrace', 'init_module', 'finit_module', 'reboot', 'chroot', 'pivot_root', 'bpf', 'capset', 'settimeofday', 'swapon', 'iopl', 'sethostname', 'open_by_handle_at', 'kexec_load']) {
    assert.ok(!allowed.has(call), `${call} is refused`);
  }
});

test(
  `systemd-analyze security --offline=true rates deploy/berth.service at most ${MAX_EXPOSURE}`,
  async (t) => {
    requireAnalyze();
    assert.ok(hasOffline, 'this systemd-analyze has no --offline (systemd 250 or later has it; Debian 12 ships 252)');
    const file = await copyForVerify(await tempDir(t));
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', file], { encoding: 'utf8' });
    const output = `${result.stdout}${result.stderr}`;
    assert.equal(result.status, 0, `systemd-analyze security failed:\n${output}`);
    const level = /Overall exposure level for berth\.service: (\d+(?:\.\d+)?)/.exec(output)?.[1];
    assert.ok(level !== undefined, `no overall exposure level in:\n${output}`);
    t.diagnostic(`exposure level ${level}`);
    assert.ok(Number(level) <= MAX_EXPOSURE, `exposure ${level} is above ${MAX_EXPOSURE}:\n${output}`);
  },
);
