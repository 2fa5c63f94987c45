/**
 * docs/guide.md, option B (systemd), run command by command on two
 * stand-ins for new Debian 12 cloud VMs: containers with systemd as PID 1
 * (test/image/vm.Dockerfile). The old server is set up like Oracle Cloud's
 * images (iptables rules saved by netfilter-persistent), the new one like
 * the others (ufw). The reader's terminal is one bash per server, logged in
 * as `admin`, a user with sudo, as on a cloud image.
 *
 * What stands in for the internet, and nothing else is changed in the
 * guide's commands:
 * - Berth's repository and the site's are served by `git daemon` on the
 *   host (git://), in place of BERTH_GIT_URL and the forge;
 * - example.com and www.example.com are 127.0.0.1 in the servers'
 *   /etc/hosts, and Pebble's DNS answers the old server's address for them;
 *   Pebble's root is in the servers' trust store as Let's Encrypt's is;
 * - the test's own steps, between the guide's: the ACME directory set to
 *   Pebble in the config `berth init` wrote (the guide's is Let's
 *   Encrypt), a signed GitHub push sent as GitHub would, the archives
 *   copied between machines with `docker cp` in place of scp.
 *
 * The containers need SYS_ADMIN and NET_ADMIN (systemd's sandboxing,
 * iptables) and the host's cgroup hierarchy (v1 here) mounted read-write.
 *
 *   npm run test:image    (root: installs Docker and starts dockerd)
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { bridgeGateway, containerAddress, docker, serveGuideRepositories, useBaseImage } from '../helpers/docker.ts';
import { GUIDE_RUNS, GuideShell, readGuide, type GuideBlock, type Substitution } from '../helpers/guide.ts';
import { certifiedHandshake, deployCertifyPush, servedPage, withPebble } from '../helpers/guide-steps.ts';
import { assertProcessTree } from '../helpers/hostile-build.ts';
import { startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

/** On the test's VM containers, so a run cut short leaves nothing a later run trips on. */
const VM_LABEL = 'berth.guide-test-vm';

/** The two VM images, built from an otherwise empty context under `dir`. */
async function buildVmImages(dir: string): Promise<void> {
  await useBaseImage('amd64');
  const context = join(dir, 'vm-image');
  await mkdir(context);
  await writeFile(join(context, 'Dockerfile'), await readFile(join(import.meta.dirname, 'vm.Dockerfile'), 'utf8'));
  for (const [tag, firewall] of [['berth-vm:oracle', 'iptables-persistent'], ['berth-vm:plain', 'ufw']] as const) {
    await docker(['build', '-q', '--build-arg', `FIREWALL=${firewall}`, '-t', tag, context], 20 * 60_000);
  }
}

interface Vm {
  readonly name: string;
  readonly address: string;
  /** Runs `command` as root on the VM (the test's own look, not the reader's). */
  root(command: string): Promise<string>;
  /** A unit's state as `systemctl` prints it, whatever its exit code. */
  state(verb: 'is-active' | 'is-enabled', unit: string): Promise<string>;
  /** Puts a host file on the VM, owned by `owner`. */
  copy(from: string, to: string, owner?: string): Promise<void>;
}

/** Starts a VM container and waits for systemd to be up. */
async function startVm(t: TestContext, image: string, hostname: string): Promise<Vm> {
  const name = `berth-guide-${hostname}-${process.pid}`;
  await docker([
    'run', '-d', '--name', name, '--hostname', hostname, '--label', VM_LABEL,
    '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
    '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--add-host', 'example.com:127.0.0.1', '--add-host', 'www.example.com:127.0.0.1',
    image,
  ]);
  onCleanup(t, async () => {
    await docker(['rm', '-f', '-v', name]).catch(() => undefined);
  });
  const root = (command: string): Promise<string> => docker(['exec', name, 'bash', '-c', command]);
  const vm: Vm = {
    name,
    address: await containerAddress(name),
    root,
    state: (verb, unit) => root(`systemctl ${verb} ${unit} || true`),
    copy: async (from, to, owner = 'root') => {
      await docker(['cp', from, `${name}:${to}`]);
      await root(`chown ${owner}: '${to}'`);
    },
  };
  await waitFor(async () => {
    const state = await vm.root('systemctl is-system-running || true');
    return state === 'running' || state === 'degraded' ? state : undefined;
  }, `${hostname}: systemd to start`, 60_000, 250);
  return vm;
}

/** The reader's terminal on a server: `admin`, in its home directory. */
function terminal(t: TestContext, blocks: GuideBlock[], vm: Vm, label: string, substitutions: readonly Substitution[]): GuideShell {
  const shell = new GuideShell(`systemd-${label}`, blocks, ['docker', 'exec', '-i', '-u', 'admin', '-w', '/home/admin', vm.name, 'bash'], { substitutions, scratch: '/home/admin' });
  onCleanup(t, () => shell.close());
  return shell;
}

/** What a public CA's root is on a real server: trusted by the system (curl, git). */
async function trustPebble(vm: Vm, rootFile: string): Promise<void> {
  await vm.copy(rootFile, '/usr/local/share/ca-certificates/pebble-root.crt');
  await vm.root('update-ca-certificates >/dev/null');
}

describe('docs/guide.md with systemd', () => {
  it('takes a new Debian VM to a live HTTPS site that deploys on push, upgrades, backs up and moves to a new server', { timeout: 40 * 60_000 }, async (t) => {
    const leftovers = (await docker(['ps', '-aq', '--filter', `label=${VM_LABEL}`])).split('\n').filter((line) => line !== '');
    if (leftovers.length > 0) await docker(['rm', '-f', '-v', ...leftovers]);
    const blocks = await readGuide();
    const root = await tempDir(t);
    await buildVmImages(root);
    const gateway = await bridgeGateway();

    // The repositories the guide clones and deploys, served over git://.
    const repos = await serveGuideRepositories(t, root, gateway);

    const old = await startVm(t, 'berth-vm:oracle', 'old-server');
    const pebble = await startPebble(t, root, { httpPort: 80, host: gateway, address: old.address });
    const pebbleRoot = await pebble.root();
    const rootFile = join(root, 'pebble-root.crt');
    await writeFile(rootFile, pebbleRoot);

    const substitutions: Substitution[] = [
      ['https://git.example.org/you/berth.git', repos.url('berth.git')],
      ['--repo https://github.com/you/blog.git', `--repo ${repos.url('blog.git')} --forge github`],
    ];
    const sh = terminal(t, blocks, old, 'old', substitutions);
    assert.equal(await sh.exec('whoami && pwd'), 'admin\n/home/admin', "the reader's own user, not root");

    // 2. Ports: Oracle Cloud's saved iptables rules.
    await sh.run('systemd.oracle-firewall');
    assert.match(await old.root('cat /etc/iptables/rules.v4'), /--dports 80,443 .*-j ACCEPT/);

    // 3. Install Berth.
    await sh.run('both.source');
    await sh.run('systemd.packages');
    await trustPebble(old, rootFile);
    assert.match(await sh.run('systemd.node'), /^v2[4-9]\.\d+\.\d+\n\/usr\/bin\/node$/m);
    await sh.run('systemd.user');
    await sh.run('systemd.clone');
    await sh.run('systemd.npm');
    await sh.run('systemd.cli');
    const init = await sh.run('systemd.init');
    assert.match(init, /https:\/\/example\.com\/_berth\/hooks\/blog/);
    const secret = (await old.root('cat /etc/berth/secrets/blog-webhook-secret')).trim();
    assert.match(secret, /^[0-9a-f]{64}$/);
    assert.ok(init.includes(secret), 'berth init prints the secret for the forge');
    // The test's step: Pebble in place of Let's Encrypt.
    await old.copy(pebble.caFile, '/etc/berth/pebble-api.pem');
    const config = join(root, 'berth.toml');
    await writeFile(config, withPebble(await old.root('cat /etc/berth/berth.toml'), pebble, '/etc/berth/pebble-api.pem'));
    await old.copy(config, '/etc/berth/berth.toml');
    await old.root('chmod 0644 /etc/berth/berth.toml /etc/berth/pebble-api.pem');
    await sh.run('systemd.unit');
    assert.equal(await old.state('is-active', 'berth'), 'active');
    // Started as root (no User=), bounded to the supervisor's capabilities; the control plane and the workers run as berth with none.
    assert.equal(await old.root('systemctl show -p User --value berth'), '');
    const berthUid = Number(await old.root('id -u berth'));
    await assertProcessTree((args) => docker(['exec', old.name, ...args]), berthUid, '00000000000004eb');
    await sh.run('systemd.alias');
    await waitFor(async () => ((await old.root('curl -s http://127.0.0.1/_berth/health').catch(() => '')) === 'ok' ? true : undefined), 'Berth to listen', 60_000, 250);
    assert.match(await sh.run('both.health'), /(^|\n)ok$/);
    await sh.run('systemd.reload');
    assert.equal(await old.state('is-active', 'berth'), 'active');
    // systemctl reload ran the unit's ExecReload, berth reload, inside the unit's sandbox, and the server answered it.
    assert.match(await old.root("journalctl -u berth --no-pager -o cat | grep -F 'reload: nothing to apply' | head -n 1"), /nothing to apply/);

    // 5. The first deploy and the certificate, 4. the forge's webhook.
    const server = { sh, address: old.address, pebble, pebbleRoot };
    const heading = 'Pushed after the guide';
    const id = await deployCertifyPush(server, { push: repos.pushSite, secret, heading });

    // 6. Upgrading Berth: a new commit in Berth's repository.
    const marker = await repos.upgradeBerth();
    await sh.run('systemd.upgrade');
    assert.ok((await old.root('cat /opt/berth/src/cli/main.ts')).includes(marker), 'git pull brought the new Berth');
    assert.equal(await old.state('is-active', 'berth'), 'active');
    await servedPage(server, heading, 'the site after the upgrade');

    // 7. Backups, named with the server's date.
    const date = await sh.exec('date +%F');
    sh.substitute('2026-11-27', date);
    await sh.run('systemd.backup');
    const archived = await old.root(`tar -tzf /root/berth-data-${date}.tar.gz`);
    assert.match(archived, /^\.\/state\.db\.backup$/m);
    assert.match(archived, /^\.\/certs\/example\.com\/cert\.pem$/m);
    assert.doesNotMatch(archived, /^\.\/state\.db$/m);

    // 8. Moving to a new server, installed from an archive made on the reader's machine.
    const fresh = await startVm(t, 'berth-vm:plain', 'new-server');
    const client = new GuideShell('systemd-client', blocks, ['bash'], { substitutions, scratch: root });
    onCleanup(t, () => client.close());
    await client.exec(`cd ${repos.berthWork}`);
    await client.run('client.archive');
    await fresh.copy(join(repos.berthWork, 'berth.tar.gz'), '/home/admin/berth.tar.gz', 'admin');
    for (const file of [`berth-data-${date}.tar.gz`, `berth-etc-${date}.tar.gz`]) {
      await docker(['cp', `${old.name}:/root/${file}`, join(root, file)]);
      await fresh.copy(join(root, file), `/root/${file}`);
    }
    const sh2 = terminal(t, blocks, fresh, 'new', [...substitutions, ['2026-11-27', date]]);
    await sh2.run('systemd.ufw');
    assert.match(await fresh.root('ufw show added'), /ufw allow 80\/tcp[\s\S]*ufw allow 443\/tcp/);
    await sh2.run('both.source');
    await sh2.run('systemd.packages');
    await trustPebble(fresh, rootFile);
    await sh2.run('systemd.node');
    await sh2.run('systemd.user');
    await sh2.run('systemd.unpack');
    await sh2.run('systemd.npm');
    await sh2.run('systemd.cli');
    await sh2.run('move.systemd-prepare');
    await sh2.run('systemd.alias');
    await sh2.run('systemd.restore');
    // HTTPS from the first second, with the old server's certificate; nothing ordered.
    const issued = pebble.issued().length;
    await sh2.run('move.systemd-start');
    const moved = await certifiedHandshake({ address: fresh.address, pebbleRoot }, 'the new server to serve HTTPS');
    assert.equal(moved.serial, pebble.issued().at(-1));
    await servedPage({ address: fresh.address, pebbleRoot }, heading, 'the moved site');
    const check = await sh2.run('move.check');
    assert.match(check, /Pebble Intermediate/);
    assert.ok(check.includes(id), `the deploy history moved:\n${check}`);
    assert.match(check, /webhook/, 'the webhook deploy is in the history');
    assert.equal(pebble.issued().length, issued, 'the new server ordered nothing');

    // 6. again, on the server installed from an archive.
    const newer = await repos.upgradeBerth();
    await client.run('client.archive');
    await fresh.copy(join(repos.berthWork, 'berth.tar.gz'), '/home/admin/berth.tar.gz', 'admin');
    await sh2.run('systemd.upgrade-archive');
    assert.ok((await fresh.root('cat /opt/berth/src/cli/main.ts')).includes(newer), 'the archive brought the new Berth');
    assert.equal(await fresh.state('is-active', 'berth'), 'active');
    await servedPage({ address: fresh.address, pebbleRoot }, heading, 'the site after the archive upgrade');

    await sh.run('move.systemd-stop-old');
    assert.equal(await old.state('is-active', 'berth'), 'inactive');
    assert.equal(await old.state('is-enabled', 'berth'), 'disabled');

    const ran = new Set([...sh.ran, ...sh2.ran, ...client.ran]);
    assert.deepEqual(GUIDE_RUNS.systemd.filter((block) => !ran.has(block)), [], 'every systemd block of the guide ran');
  });
});
