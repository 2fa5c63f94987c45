/**
 * The hostile build of helpers/hostile-build.ts under deploy/berth.service
 * as written, in a container with systemd as PID 1 (the guide test's
 * Debian VM stand-in, test/image/vm.Dockerfile): Berth installed as the
 * guide installs it (the user berth, /var/lib/berth owned by it, the unit
 * copied from the checkout, the `berth` command run with sudo as the
 * guide's alias does), with the config and the webhook secret file
 * private to berth and a secret in Berth's environment from /etc/berth/berth.env.
 * Berth itself is /opt/berth of the image docker-image.ts builds (this
 * checkout with its production packages), so nothing is installed twice.
 *
 * Besides what the Docker variant asserts: the unit's ProtectProc=invisible
 * hides every other user's process from the build, and the supervisor
 * holds the unit's bounding set and nothing else.
 *
 *   npm run test:image    (root: installs Docker and starts dockerd)
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { bridgeGateway, containerAddress, docker, ROOT, useBaseImage } from '../helpers/docker.ts';
import { readGuide } from '../helpers/guide.ts';
import { assertProcessTree, deployHostileBuild, hostileConfig, hostileSecrets, siteRepos, type ShippedServer } from '../helpers/hostile-build.ts';
import { startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

/** The image docker-image.ts and hostile-build-docker.ts build from this checkout: its /opt/berth is what the VM runs. */
const BERTH_IMAGE = 'berth:test-amd64';
/** The guide test's VM image (ufw flavour), and this test's one with Berth installed on it. */
const VM_BASE = 'berth-vm:plain';
const VM_IMAGE = 'berth-vm:hostile';
/** CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_BIND_SERVICE: the unit's CapabilityBoundingSet. */
const SUPERVISOR_CAPS = '00000000000004eb';

/** The `berth` command the guide's step systemd.cli installs in /usr/local/bin: its here-document. */
async function guideCli(): Promise<string> {
  const block = (await readGuide()).find((entry) => entry.id === 'systemd.cli');
  const script = /<<'EOF'\n([\s\S]*?\n)EOF\n/.exec(block?.code ?? '')?.[1];
  assert.ok(script?.startsWith('#!/bin/sh\n'), `the guide's systemd.cli block writes a shell script: ${block?.code ?? 'no such block'}`);
  return script ?? '';
}

/** Berth's image, the VM image, and the VM image with Berth installed the guide's way (its packages, the user, the data dir, the unit); each build reuses the layers of the last. */
async function buildImages(dir: string): Promise<void> {
  await useBaseImage('amd64');
  await docker(['build', '-q', '-f', 'deploy/Dockerfile', '-t', BERTH_IMAGE, '.']);
  const vm = join(dir, 'vm-image');
  await mkdir(vm);
  await writeFile(join(vm, 'Dockerfile'), await readFile(join(import.meta.dirname, 'vm.Dockerfile'), 'utf8'));
  await docker(['build', '-q', '--build-arg', 'FIREWALL=ufw', '-t', VM_BASE, vm]);
  const installed = join(dir, 'vm-berth');
  await mkdir(installed);
  await writeFile(join(installed, 'berth.service'), await readFile(join(ROOT, 'deploy', 'berth.service'), 'utf8'));
  await writeFile(join(installed, 'berth'), await guideCli(), { mode: 0o755 });
  await writeFile(
    join(installed, 'Dockerfile'),
    `FROM ${VM_BASE}
COPY --from=${BERTH_IMAGE} /opt/berth /opt/berth
COPY berth.service /etc/systemd/system/berth.service
COPY berth /usr/local/bin/berth
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git curl ca-certificates sqlite3 \\
 && rm -rf /var/lib/apt/lists/* \\
 && useradd --system --home-dir /var/lib/berth --shell /usr/sbin/nologin berth \\
 && install -d -o berth -g berth -m 0700 /var/lib/berth \\
 && install -d -m 0755 /etc/berth /etc/berth/secrets
`,
  );
  await docker(['build', '-q', '-t', VM_IMAGE, installed]);
}

describe('a hostile build under deploy/berth.service', () => {
  it('reads no secret, writes no release, link or state.db, sees and leaves no process, and the live sites are unchanged', { timeout: 20 * 60_000 }, async (t) => {
    const root = await tempDir(t);
    await buildImages(root);
    const gateway = await bridgeGateway();
    const repos = await siteRepos(t, root, gateway);
    const secrets = hostileSecrets();

    const name = `berth-hostile-systemd-${process.pid}`;
    await docker([
      'run', '-d', '--name', name, '--hostname', 'hostile-vm',
      '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
      '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      VM_IMAGE,
    ]);
    onCleanup(t, async () => {
      await docker(['rm', '-f', '-v', name]).catch(() => undefined);
    });
    const exec = (args: string[]): Promise<string> => docker(['exec', name, ...args]);
    const sh = (command: string): Promise<string> => exec(['bash', '-c', command]);
    const address = await containerAddress(name);
    await waitFor(async () => {
      const state = await sh('systemctl is-system-running || true');
      return state === 'running' || state === 'degraded' ? state : undefined;
    }, 'systemd to start', 60_000, 250);

    const pebble = await startPebble(t, root, { httpPort: 80, host: gateway, address });
    const pebbleRoot = await pebble.root();
    const put = async (text: string, to: string, owner: string, mode: string): Promise<void> => {
      const file = join(root, 'upload');
      await writeFile(file, text);
      await docker(['cp', file, `${name}:${to}`]);
      await sh(`chown ${owner} '${to}' && chmod ${mode} '${to}'`);
    };
    // As the guide leaves them: the config and the secret file berth's, mode 0600; berth.env root's.
    await put(await readFile(pebble.caFile, 'utf8'), '/etc/berth/pebble.pem', 'root:root', '0644');
    await put(secrets.hostileWebhook, '/etc/berth/secrets/hostile-webhook', 'berth:berth', '0600');
    await put(secrets.victimWebhook, '/etc/berth/secrets/victim-webhook', 'berth:berth', '0600');
    await sh('chown berth:berth /etc/berth/secrets && chmod 0700 /etc/berth/secrets');
    await put(
      hostileConfig({ dataDir: '/var/lib/berth', repos, directoryUrl: pebble.directoryUrl, caFile: '/etc/berth/pebble.pem', secretDir: '/etc/berth/secrets', secrets }),
      '/etc/berth/berth.toml', 'berth:berth', '0600',
    );
    await put(`HOSTILE_TEST_ENV_SECRET=${secrets.environment}\n`, '/etc/berth/berth.env', 'root:root', '0600');
    await sh('systemctl daemon-reload && systemctl start berth');
    const journal = (): Promise<string> => sh('journalctl -u berth --no-pager -o cat | tail -n 200');
    await waitFor(async () => {
      const health = await fetch(`http://${address}/_berth/health`).catch(() => undefined);
      if (health?.status === 200) return true;
      const state = await sh('systemctl is-active berth || true');
      if (state === 'failed') throw new Error(`berth.service failed:\n${await journal()}`);
      return undefined;
    }, 'Berth to answer its health check', 120_000, 500);

    const server: ShippedServer = {
      address,
      httpPort: 80,
      httpsPort: 443,
      dataDir: '/var/lib/berth',
      configFile: '/etc/berth/berth.toml',
      secretDir: '/etc/berth/secrets',
      exec,
      // The guide's alias: sudo /usr/local/bin/berth.
      cli: (args) => exec(['sudo', '/usr/local/bin/berth', ...args]),
    };
    try {
      const { log } = await deployHostileBuild(server, repos, secrets, pebbleRoot);
      // ProtectProc=invisible: the build saw no process but its own.
      assert.match(log, /SEEN 0 processes of other users/, log);
      await assertProcessTree(exec, Number(await exec(['id', '-u', 'berth'])), SUPERVISOR_CAPS);
    } catch (error) {
      t.diagnostic(`journal:\n${await journal()}`);
      throw error;
    }
  });
});
