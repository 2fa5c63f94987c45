import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { handshake, waitFor } from './acme.ts';
import { getHttps, git, startGitDaemon } from './docker.ts';

/**
 * A hostile build deployed by Berth as it ships (the Docker image with
 * compose.yaml's settings, the systemd unit): two sites, `victim` and
 * `hostile`, both live with certificates from Pebble, then a push to
 * `hostile` whose build tries to get at everything a build must not reach,
 * reporting each attempt to its build log, leaves processes behind and
 * fills its output past `max_output_size`. For test/image/hostile-build-*.ts.
 */

/** Runs a program as root in the container (`docker exec`), outside Berth's sandbox: the test's own look. */
export type ContainerExec = (args: string[]) => Promise<string>;

/** Berth running in a container, as the host reaches it and as root inside sees it. */
export interface ShippedServer {
  /** Where the host reaches the server's ports 80 and 443. */
  readonly address: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  /** data_dir as the server sees it. */
  readonly dataDir: string;
  /** The config file as the server sees it. */
  readonly configFile: string;
  /** The directory of the sites' webhook secret files (`hostile-webhook`, `victim-webhook`), as the server sees it. */
  readonly secretDir: string;
  readonly exec: ContainerExec;
  /** Berth's CLI as the docs say to run it on this server, e.g. `['deploys', '--json']`. */
  cli(args: string[]): Promise<string>;
}

/** The two sites' repositories, served over git:// to the containers. */
export interface SiteRepos {
  url(site: 'victim' | 'hostile'): string;
  /** Commits `files` to `site`'s main branch (replacing what was there); resolves with the commit. */
  commit(site: 'victim' | 'hostile', files: Record<string, string>): Promise<string>;
}

export async function siteRepos(t: TestContext, root: string, gateway: string): Promise<SiteRepos> {
  const base = join(root, 'git');
  const works = join(root, 'git-work');
  for (const site of ['victim', 'hostile']) {
    await mkdir(join(base, `${site}.git`), { recursive: true });
    await git(['init', '--quiet', '--bare', '--initial-branch=main'], join(base, `${site}.git`));
    await mkdir(join(works, site), { recursive: true });
    await git(['init', '--quiet', '--initial-branch=main'], join(works, site));
  }
  const daemon = await startGitDaemon(t, base, gateway);
  return {
    url: (site) => daemon.url(`${site}.git`),
    commit: async (site, files) => {
      const work = join(works, site);
      await git(['rm', '-r', '--quiet', '--ignore-unmatch', '.'], work);
      for (const [name, text] of Object.entries(files)) await writeFile(join(work, name), text);
      await git(['add', '--all'], work);
      await git(['commit', '--quiet', '--allow-empty', '-m', `${site} ${Date.now()}`], work);
      await git(['push', '--quiet', join(base, `${site}.git`), 'main'], work);
      return git(['rev-parse', 'HEAD'], work);
    },
  };
}

/** The secrets a hostile build must not get, made up per run so that finding one anywhere means it leaked. */
export interface HostileSecrets {
  /** `hostile`'s webhook secret, in a file mode 0600. */
  readonly hostileWebhook: string;
  /** `victim`'s webhook secret, in a file mode 0600. */
  readonly victimWebhook: string;
  /** A value only Berth's environment holds, as `HOSTILE_TEST_ENV_SECRET`. */
  readonly environment: string;
  /** A comment line only berth.toml holds. */
  readonly configMarker: string;
}

export function hostileSecrets(): HostileSecrets {
  return {
    hostileWebhook: `hostile-webhook-${randomBytes(16).toString('hex')}`,
    victimWebhook: `victim-webhook-${randomBytes(16).toString('hex')}`,
    environment: `environment-${randomBytes(16).toString('hex')}`,
    configMarker: `# config-marker-${randomBytes(16).toString('hex')}`,
  };
}

/** `hostile` fails the deploy past this much output; its build writes twice as much. */
const OUTPUT_LIMIT_BYTES = 1024 * 1024;

/** berth.toml for the two sites, with Pebble as the CA. */
export function hostileConfig(options: { dataDir: string; repos: SiteRepos; directoryUrl: string; caFile: string; secretDir: string; secrets: HostileSecrets }): string {
  return `${options.secrets.configMarker}
data_dir = "${options.dataDir}"
[server]
shutdown_timeout = "5s"
[acme]
directory = "${options.directoryUrl}"
ca_file = "${options.caFile}"
email = "hostile@example.com"
check_interval = "2s"
retry_delay = "2s"

[[sites]]
name = "victim"
domains = ["victim.example.com"]
repo = "${options.repos.url('victim')}"
[sites.webhook]
forge = "generic"
secret_file = "${options.secretDir}/victim-webhook"

[[sites]]
name = "hostile"
domains = ["hostile.example.com"]
repo = "${options.repos.url('hostile')}"
[sites.build]
command = "sh build.sh"
publish = "out"
max_output_size = "${OUTPUT_LIMIT_BYTES / 1024}KiB"
[sites.webhook]
forge = "generic"
secret_file = "${options.secretDir}/hostile-webhook"
`;
}

/** A process in the container, read from its /proc. */
export interface ContainerProcess {
  pid: number;
  ppid: number;
  state: string;
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  /** CapEff from /proc/<pid>/status, hex. */
  capEff: string;
  cmd: string;
}

/** Node, run by root in the container: every process's /proc/<pid>/stat, status and cmdline as JSON. */
const PROCESS_SCAN = `
const fs = require('node:fs');
const found = [];
for (const entry of fs.readdirSync('/proc')) {
  if (!/^\\d+$/.test(entry)) continue;
  try {
    const status = fs.readFileSync('/proc/' + entry + '/status', 'utf8');
    const stat = fs.readFileSync('/proc/' + entry + '/stat', 'utf8');
    const cmd = fs.readFileSync('/proc/' + entry + '/cmdline', 'utf8').split('\\0').filter(Boolean).join(' ');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const line = (key) => (new RegExp('^' + key + ':\\\\s+(.*)$', 'm').exec(status) || [])[1] || '';
    found.push({ pid: Number(entry), ppid: Number(fields[1]), state: fields[0], uids: line('Uid').split(/\\s+/).map(Number), capEff: line('CapEff'), cmd });
  } catch {}
}
process.stdout.write(JSON.stringify(found));
`;

export async function containerProcesses(exec: ContainerExec): Promise<ContainerProcess[]> {
  return JSON.parse(await exec(['node', '-e', PROCESS_SCAN])) as ContainerProcess[];
}

/** Berth's processes: the supervisor (`berth serve`) and the Node processes it started (the control plane, the workers). */
export async function berthProcesses(exec: ContainerExec): Promise<{ supervisor: ContainerProcess; children: ContainerProcess[] }> {
  const all = (await containerProcesses(exec)).filter((info) => info.state !== 'Z');
  // Node running Berth's CLI: not tini, whose command line names it too. Under QEMU (arm64 on
  // amd64) every command line starts with the emulator's, so the match is not anchored.
  const serve = all.filter((info) => /(^|\s)\S*node \/opt\/berth\/src\/cli\/main\.ts serve/.test(info.cmd) && !/(^|\/)tini\s/.test(info.cmd));
  assert.equal(serve.length, 1, `one berth serve: ${JSON.stringify(all)}`);
  const supervisor = serve[0] as ContainerProcess;
  return { supervisor, children: all.filter((info) => info.ppid === supervisor.pid && /(^|\s)\S*node /.test(info.cmd)) };
}

/**
 * As shipped, the supervisor is root holding exactly `capEff`, and every
 * other process of Berth's (the control plane, the serving workers) runs as
 * berth (`serviceUid`) holding no capability.
 */
export async function assertProcessTree(exec: ContainerExec, serviceUid: number, capEff: string): Promise<void> {
  const { supervisor, children } = await berthProcesses(exec);
  assert.deepEqual(supervisor.uids, [0, 0, 0, 0], 'the supervisor runs as root');
  assert.equal(supervisor.capEff, capEff, 'the supervisor holds only the capabilities it needs');
  assert.ok(children.length >= 2, `a control plane and at least one serving worker: ${JSON.stringify(children)}`);
  for (const child of children) {
    assert.deepEqual(child.uids, [serviceUid, serviceUid, serviceUid, serviceUid], `${child.cmd} (pid ${child.pid}) runs as berth`);
    assert.match(child.capEff, /^0+$/, `${child.cmd} (pid ${child.pid}) holds no capability`);
  }
}

interface Deploy {
  id: string;
  site: string;
  sha?: string;
  state: string;
  releaseId?: string;
  errorCode?: string;
  errorMessage?: string;
}

async function deploys(server: ShippedServer, site: string): Promise<Deploy[]> {
  return JSON.parse(await server.cli(['deploys', '--site', site, '--json'])) as Deploy[];
}

/** Sends `sha` to `site`'s webhook, signed, and waits until Berth has finished that deploy. */
async function pushAndWait(server: ShippedServer, site: 'victim' | 'hostile', sha: string, secret: string): Promise<Deploy> {
  const body = JSON.stringify({ ref: 'refs/heads/main', sha });
  const signature = createHmac('sha256', secret).update(body).digest('hex');
  const hook = await fetch(`http://${server.address}:${server.httpPort}/_berth/hooks/${site}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-berth-signature': `sha256=${signature}` }, body });
  assert.equal(hook.status, 202, `${site}'s webhook: ${await hook.text()}`);
  let failure: unknown;
  return waitFor(async () => {
    const list = await deploys(server, site).catch((error: unknown) => {
      failure = error;
      return [];
    });
    const found = list.find((deploy) => deploy.sha === sha);
    return found !== undefined && !['queued', 'building', 'publishing'].includes(found.state) ? found : undefined;
  }, `${site}'s deploy of ${sha} to end`, 120_000, 500).catch((error: unknown) => {
    throw failure === undefined ? error : new Error(`${String(error)}; the last \`berth deploys\` failed: ${String(failure)}`, { cause: error });
  });
}

async function page(server: ShippedServer, host: string, path: string, pebbleRoot: string): Promise<{ status: number; body: string }> {
  return getHttps(server.address, server.httpsPort, host, path, pebbleRoot);
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** What the hostile build is told about the server, found by the test as root. */
interface Targets {
  dataDir: string;
  configFile: string;
  secretFiles: string[];
  hostileRelease: string;
  victimRelease: string;
  berthPids: number[];
}

/**
 * build.sh of the hostile commit: POSIX sh, run by Berth as `hostile`'s
 * build. Each attempt prints `ATTEMPT <what>: refused` or `ATTEMPT <what>:
 * SUCCEEDED` followed by what it got; processes left behind print `LEFT`.
 */
function hostileScript(targets: Targets): string {
  const data = targets.dataDir;
  const lines = [
    '#!/bin/sh',
    '# Tries to get out of the build: each attempt reports to the build log.',
    'me=$(id -u)',
    'echo "BUILD uid $me gid $(id -g) groups $(id -G)"',
    'attempt() {',
    '  what=$1; shift',
    '  if got=$("$@" 2>&1); then echo "ATTEMPT $what: SUCCEEDED"; printf "%s\\n" "$got"; else echo "ATTEMPT $what: refused ($(printf "%s" "$got" | head -n 1))"; fi',
    '}',
    `attempt ${shellQuote('read the config')} cat ${shellQuote(targets.configFile)}`,
    ...targets.secretFiles.map((file) => `attempt ${shellQuote(`read ${file}`)} cat ${shellQuote(file)}`),
    `attempt ${shellQuote('read state.db')} head -c 16 ${shellQuote(`${data}/state.db`)}`,
    `attempt ${shellQuote('open state.db for writing')} sh -c ${shellQuote(`exec 3>>'${data}/state.db'`)}`,
    `attempt ${shellQuote('list the data dir')} ls -a ${shellQuote(data)}`,
    `attempt ${shellQuote('write into the data dir')} sh -c ${shellQuote(`echo planted > '${data}/planted'`)}`,
    `attempt ${shellQuote('write into the live release')} sh -c ${shellQuote(`echo pwned > '${data}/sites/hostile/current/index.html'`)}`,
    `attempt ${shellQuote('add a file to the live release')} sh -c ${shellQuote(`echo pwned > '${data}/sites/hostile/releases/${targets.hostileRelease}/pwned.html'`)}`,
    `attempt ${shellQuote("write into another site's release")} sh -c ${shellQuote(`echo pwned > '${data}/sites/victim/releases/${targets.victimRelease}/index.html'`)}`,
    `attempt ${shellQuote("add a file to another site's live release")} sh -c ${shellQuote(`echo pwned > '${data}/sites/victim/current/pwned.html'`)}`,
    `attempt ${shellQuote('replace the current link')} ln -sfn /tmp ${shellQuote(`${data}/sites/hostile/current`)}`,
    `attempt ${shellQuote('rename a link over the current link')} sh -c ${shellQuote(`ln -sfn /tmp .planted-link && mv -Tf .planted-link '${data}/sites/hostile/current'`)}`,
    `attempt ${shellQuote("read another site's repository")} cat ${shellQuote(`${data}/sites/victim/source.git/HEAD`)}`,
    `attempt ${shellQuote("write into another site's directory")} sh -c ${shellQuote(`echo planted > '${data}/sites/victim/planted'`)}`,
    ...targets.berthPids.flatMap((pid) => [
      `attempt ${shellQuote(`read the environment of Berth's process ${pid}`)} cat /proc/${pid}/environ`,
      `attempt ${shellQuote(`signal Berth's process ${pid}`)} kill -0 ${pid}`,
    ]),
    // Other processes the build can see at all (by /proc), to say so in the log.
    'seen=0; for d in /proc/[0-9]*; do [ "$(stat -c %u "$d" 2>/dev/null)" = "$me" ] || seen=$((seen + 1)); done; echo "SEEN $seen processes of other users"',
    // Processes left behind: in a session of their own, a double fork, one that ignores SIGTERM.
    'setsid sleep 600 </dev/null >/dev/null 2>&1 &',
    'echo "LEFT setsid $!"',
    "sh -c 'sleep 601 </dev/null >/dev/null 2>&1 & echo \"LEFT double-fork $!\"'",
    "setsid sh -c 'trap \"\" HUP INT TERM; exec sleep 602' </dev/null >/dev/null 2>&1 &",
    'echo "LEFT ignores-term $!"',
    // Fills its output to twice max_output_size: bounded, and the deploy must stop at the limit.
    'mkdir -p out && echo "<h1>hostile</h1>" > out/index.html',
    `head -c ${2 * OUTPUT_LIMIT_BYTES} /dev/zero > out/fill.bin`,
    'echo "FILLED $(wc -c < out/fill.bin) bytes"',
    'exit 0',
    '',
  ];
  return lines.join('\n');
}

/** Files only Berth may read, found by root inside: every certificate key and the ACME account key. */
async function keyFiles(server: ShippedServer): Promise<string[]> {
  const found = await server.exec(['find', `${server.dataDir}/certs`, `${server.dataDir}/acme`, '-type', 'f', '-name', '*key*']);
  return found.split('\n').filter((line) => line !== '' && !line.endsWith('.new'));
}

/**
 * The scenario, on a server whose Berth is listening with `hostileConfig`:
 * both sites live with certificates, then the hostile push. Asserts every
 * attempt was refused, nothing it left runs, the live sites are unchanged,
 * no secret is in the build log, and the deploy failed at the output limit.
 * Resolves with the build's uid and its deploy's log.
 */
export async function deployHostileBuild(server: ShippedServer, repos: SiteRepos, secrets: HostileSecrets, pebbleRoot: string): Promise<{ uid: number; log: string }> {
  // Both sites live, from plain repositories with no build.
  const victimSha = await repos.commit('victim', { 'index.html': '<!doctype html><title>victim</title><h1>The victim site</h1>\n' });
  const victim = await pushAndWait(server, 'victim', victimSha, secrets.victimWebhook);
  assert.equal(victim.state, 'live', JSON.stringify(victim));
  const goodSha = await repos.commit('hostile', { 'build.sh': 'mkdir -p out && cp index.html out/\n', 'index.html': '<!doctype html><title>hostile</title><h1>Before the attack</h1>\n' });
  const good = await pushAndWait(server, 'hostile', goodSha, secrets.hostileWebhook);
  assert.equal(good.state, 'live', JSON.stringify(good));

  // Certificates for both, so that their keys and the ACME account key are on disk.
  for (const host of ['victim.example.com', 'hostile.example.com']) {
    await waitFor(async () => {
      const seen = await handshake(server.httpsPort, host, pebbleRoot, server.address).catch(() => undefined);
      return seen?.authorized === true ? seen : undefined;
    }, `a certificate for ${host}`, 120_000, 500);
  }
  const keys = await keyFiles(server);
  assert.ok(keys.filter((file) => file.includes('/certs/')).length >= 2, `both certificate keys are on disk: ${keys.join(', ')}`);
  assert.ok(keys.some((file) => file.includes('/acme/')), `the ACME account key is on disk: ${keys.join(', ')}`);
  const keyTexts = await Promise.all(keys.map((file) => server.exec(['cat', file])));

  const before = {
    victim: await page(server, 'victim.example.com', '/', pebbleRoot),
    hostile: await page(server, 'hostile.example.com', '/', pebbleRoot),
  };
  assert.equal(before.victim.status, 200);
  assert.equal(before.hostile.status, 200);
  assert.match(before.hostile.body, /Before the attack/);

  const { supervisor, children } = await berthProcesses((args) => server.exec(args));
  const targets: Targets = {
    dataDir: server.dataDir,
    configFile: server.configFile,
    secretFiles: [`${server.secretDir}/hostile-webhook`, `${server.secretDir}/victim-webhook`, ...keys],
    hostileRelease: good.releaseId ?? '',
    victimRelease: victim.releaseId ?? '',
    berthPids: [...new Set([1, supervisor.pid, ...children.map((child) => child.pid)])],
  };
  assert.ok(targets.hostileRelease !== '' && targets.victimRelease !== '', 'both releases are known');

  // The attack.
  const hostileSha = await repos.commit('hostile', { 'build.sh': hostileScript(targets), 'index.html': '<h1>hostile</h1>\n' });
  const attack = await pushAndWait(server, 'hostile', hostileSha, secrets.hostileWebhook);
  const log = await server.cli(['logs', attack.id]);

  // Every attempt ran and was refused.
  const attempts = [...log.matchAll(/^.*ATTEMPT (.+?): (SUCCEEDED|refused)/gm)].map((match) => ({ what: match[1] as string, outcome: match[2] as string }));
  const expected = (hostileScript(targets).match(/^attempt '[^']*'/gm) ?? []).length;
  assert.equal(attempts.length, expected, `every attempt reported to the build log:\n${log}`);
  assert.deepEqual(attempts.filter((attempt) => attempt.outcome !== 'refused').map((attempt) => attempt.what), [], `the build got nothing it tried for:\n${log}`);

  // No secret reached the log.
  for (const [what, secret] of [
    ["hostile's webhook secret", secrets.hostileWebhook],
    ["victim's webhook secret", secrets.victimWebhook],
    ["Berth's environment", secrets.environment],
    ['the config', secrets.configMarker],
    ['state.db', 'SQLite format 3'],
    ...keys.map((file, index) => [file, (keyTexts[index] ?? '').split('\n').find((line) => line.length > 40) ?? 'missing key text'] as const),
  ] as const) {
    assert.ok(!log.includes(secret), `${what} is not in the build log`);
  }

  // The deploy failed where it did: its output went past max_output_size.
  assert.equal(attack.state, 'failed', JSON.stringify(attack));
  assert.equal(attack.errorCode, 'E_BUILD_OUTPUT_SIZE', JSON.stringify(attack));
  assert.match(log, new RegExp(`FILLED ${2 * OUTPUT_LIMIT_BYTES} bytes`));
  assert.match(log, /E_BUILD_OUTPUT_SIZE|max_output_size/, `the log says why it failed:\n${log}`);

  // Nothing it left runs: no process of its uid, none of the pids it printed.
  const uid = Number(/BUILD uid (\d+)/.exec(log)?.[1]);
  assert.ok(uid > 0 && uid !== Number(supervisor.uids[0]) && !children.some((child) => child.uids.includes(uid)), `the build ran as a uid of its own, not root's or Berth's: ${uid}`);
  const left = [...log.matchAll(/LEFT (\S+) (\d+)/g)].map((match) => ({ what: match[1] as string, pid: Number(match[2]) }));
  assert.equal(left.length, 3, `the build printed the three pids it left:\n${log}`);
  const living = (await containerProcesses((args) => server.exec(args))).filter((info) => info.state !== 'Z');
  assert.deepEqual(living.filter((info) => info.uids.includes(uid)), [], `no process of the build uid ${uid} is left`);
  for (const { what, pid } of left) {
    assert.ok(!living.some((info) => info.pid === pid && info.cmd.startsWith('sleep')), `the ${what} sleep (pid ${pid}) is gone`);
  }

  // The live sites are byte for byte what they were, and nothing was added to them or the data dir.
  assert.deepEqual(await page(server, 'victim.example.com', '/', pebbleRoot), before.victim);
  assert.deepEqual(await page(server, 'hostile.example.com', '/', pebbleRoot), before.hostile);
  assert.equal((await page(server, 'victim.example.com', '/pwned.html', pebbleRoot)).status, 404);
  assert.equal((await page(server, 'hostile.example.com', '/pwned.html', pebbleRoot)).status, 404);
  assert.equal(await server.exec(['sh', '-c', `ls -d '${server.dataDir}/planted' '${server.dataDir}/sites/victim/planted' 2>/dev/null || true`]), '');
  // The data dir is berth's: root (the supervisor, the CLI run with sudo or docker exec) left nothing in it but its lock.
  const rootOwned = await server.exec(['find', server.dataDir, '(', '-user', '0', '-o', '-group', '0', ')', '!', '-path', `${server.dataDir}/serve.lock`]);
  assert.equal(rootOwned, '', 'nothing under the data dir belongs to root but serve.lock');
  const history = await deploys(server, 'hostile');
  assert.equal(history.find((deploy) => deploy.state === 'live')?.releaseId, good.releaseId, "hostile's live release is still the good one");
  return { uid, log };
}
