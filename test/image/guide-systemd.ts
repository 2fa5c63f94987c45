/**
 * docs/guide.md, option B (systemd), run command by command on two
 * stand-ins for new Debian 12 cloud VMs: containers with systemd as PID 1
 * (test/image/vm.Dockerfile). The old server is set up like Oracle Cloud's
 * images (iptables rules saved by netfilter-persistent), the new one like
 * the others (ufw). The reader's terminal is one bash per server.
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
 *   copied between servers with `docker cp` in place of scp.
 *
 *   npm run test:image    (root: installs Docker and starts dockerd)
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import {
  bridgeGateway,
  checkoutRepository,
  commitUpgrade,
  containerAddress,
  docker,
  git,
  makeSiteRepository,
  startGitDaemon,
  useBaseImage,
} from '../helpers/docker.ts';
import { GUIDE_RUNS, GuideShell, readGuide } from '../helpers/guide.ts';
import { certifiedHandshake, deployCertifyPush, servedPage } from '../helpers/guide-steps.ts';
import { startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

const today = new Date().toISOString().slice(0, 10);

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

/** Starts a VM container and waits for systemd to be up. */
async function startVm(t: TestContext, image: string, hostname: string): Promise<{ name: string; address: string }> {
  const name = `berth-guide-${hostname}-${process.pid}`;
  await docker(['rm', '-f', name]).catch(() => undefined);
  await docker([
    'run', '-d', '--name', name, '--hostname', hostname,
    '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
    '--tmpfs', '/run', '--tmpfs', '/run/lock', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
    '--add-host', 'example.com:127.0.0.1', '--add-host', 'www.example.com:127.0.0.1',
    image,
  ]);
  onCleanup(t, async () => {
    await docker(['rm', '-f', name]).catch(() => undefined);
  });
  await waitFor(async () => {
    const state = await docker(['exec', name, 'systemctl', 'is-system-running']).catch((error: { stdout?: string }) => error.stdout?.trim() ?? '');
    return state === 'running' || state === 'degraded' ? state : undefined;
  }, `${hostname}: systemd to start`, 60_000, 250);
  return { name, address: await containerAddress(name) };
}

/** The reader's terminal on a server. */
function terminal(t: TestContext, blocks: Awaited<ReturnType<typeof readGuide>>, vm: string, substitutions: Array<readonly [string | RegExp, string]>): GuideShell {
  const shell = new GuideShell(`systemd-${vm.split('-')[2] ?? vm}`, blocks, ['docker', 'exec', '-i', '-w', '/root', vm, 'bash'], { substitutions });
  onCleanup(t, () => shell.close());
  return shell;
}

describe('docs/guide.md with systemd', () => {
  it('takes a new Debian VM to a live HTTPS site that deploys on push, upgrades, backs up and moves to a new server', { timeout: 40 * 60_000 }, async (t) => {
    const blocks = await readGuide();
    const root = await tempDir(t);
    await buildVmImages(root);
    const gateway = await bridgeGateway();

    // The repositories the guide clones and deploys, served over git://.
    const repos = join(root, 'git');
    await mkdir(repos);
    const berthWork = await checkoutRepository(join(root, 'berth-work'));
    await git(['clone', '--quiet', '--bare', berthWork, join(repos, 'berth.git')], root);
    const site = await makeSiteRepository(repos);
    const daemon = await startGitDaemon(t, repos, gateway);

    const old = await startVm(t, 'berth-vm:oracle', 'old-server');
    const pebble = await startPebble(t, root, { httpPort: 80, host: gateway, address: old.address });
    const pebbleRoot = await pebble.root();
    await writeFile(join(root, 'pebble-root.crt'), pebbleRoot);

    const substitutions: Array<readonly [string | RegExp, string]> = [
      ['https://git.example.org/you/berth.git', daemon.url('berth.git')],
      ['--repo https://github.com/you/blog.git', `--repo ${daemon.url('blog.git')} --forge github`],
      ['2026-11-27', today],
    ];
    const sh = terminal(t, blocks, old.name, substitutions);
    const inVm = (vm: string, command: string): Promise<string> => docker(['exec', vm, 'bash', '-c', command]);

    // 2. Ports: Oracle Cloud's saved iptables rules.
    await sh.run('systemd.oracle-firewall');
    assert.match(await inVm(old.name, 'cat /etc/iptables/rules.v4'), /--dports 80,443 .*-j ACCEPT/);

    // 3. Install Berth.
    await sh.run('both.source');
    await sh.run('systemd.packages');
    await docker(['cp', join(root, 'pebble-root.crt'), `${old.name}:/usr/local/share/ca-certificates/pebble-root.crt`]);
    await inVm(old.name, 'update-ca-certificates >/dev/null');
    const node = await sh.run('systemd.node');
    assert.match(node, /^v2[4-9]\.\d+\.\d+\n\/usr\/bin\/node$/m);
    await sh.run('systemd.user');
    await sh.run('systemd.clone');
    await sh.run('systemd.npm');
    await sh.run('systemd.cli');
    const init = await sh.run('systemd.init');
    assert.match(init, /https:\/\/example\.com\/_berth\/hooks\/blog/);
    const secret = (await inVm(old.name, 'cat /etc/berth/secrets/blog-webhook-secret')).trim();
    assert.ok(init.includes(secret), 'berth init prints the secret for the forge');
    // The test's step: Pebble in place of Let's Encrypt.
    await docker(['cp', pebble.caFile, `${old.name}:/etc/berth/pebble-api.pem`]);
    await inVm(old.name, `chmod 0644 /etc/berth/pebble-api.pem && sed -i 's|^directory = "letsencrypt".*|directory = "${pebble.directoryUrl}"\\nca_file = "/etc/berth/pebble-api.pem"\\nretry_delay = "5s"|' /etc/berth/berth.toml && grep -q pebble-api /etc/berth/berth.toml`);
    await sh.run('systemd.unit');
    assert.equal(await inVm(old.name, 'systemctl is-active berth'), 'active');
    assert.equal(await inVm(old.name, 'systemctl show -p User --value berth'), 'berth');
    await sh.run('systemd.alias');
    await waitFor(async () => ((await inVm(old.name, 'curl -s http://127.0.0.1/_berth/health').catch(() => '')) === 'ok' ? true : undefined), 'Berth to listen', 60_000, 250);
    assert.match(await sh.run('both.health'), /(^|\n)ok$/);
    await sh.run('systemd.reload');
    assert.equal(await inVm(old.name, 'systemctl is-active berth'), 'active');

    // 5. The first deploy and the certificate, 4. the forge's webhook.
    const server = { sh, address: old.address, pebble, pebbleRoot };
    const heading = 'Pushed after the guide';
    const id = await deployCertifyPush(server, { substitutions, push: site.push, secret, heading });

    // 6. Upgrading Berth: a new commit in Berth's repository.
    const marker = await commitUpgrade(berthWork, join(repos, 'berth.git'));
    await sh.run('systemd.upgrade');
    assert.ok((await inVm(old.name, 'cat /opt/berth/src/cli/main.ts')).includes(marker), 'git pull brought the new Berth');
    assert.equal(await inVm(old.name, 'systemctl is-active berth'), 'active');
    await servedPage(server, heading, 'the site after the upgrade');

    // 7. Backups.
    await sh.run('systemd.backup');
    const archived = await inVm(old.name, `tar -tzf /root/berth-data-${today}.tar.gz`);
    assert.match(archived, /^\.\/state\.db\.backup$/m);
    assert.match(archived, /^\.\/certs\/example\.com\/cert\.pem$/m);
    assert.doesNotMatch(archived, /^\.\/state\.db$/m);

    // 8. Moving to a new server, installed from an archive made on the reader's machine.
    const fresh = await startVm(t, 'berth-vm:plain', 'new-server');
    const client = new GuideShell('systemd-client', blocks, ['bash'], { substitutions, scratch: root });
    onCleanup(t, () => client.close());
    await client.exec(`cd ${berthWork}`);
    await client.run('client.archive');
    await docker(['cp', join(berthWork, 'berth.tar.gz'), `${fresh.name}:/root/berth.tar.gz`]);
    for (const file of [`berth-data-${today}.tar.gz`, `berth-etc-${today}.tar.gz`]) {
      await docker(['cp', `${old.name}:/root/${file}`, join(root, file)]);
      await docker(['cp', join(root, file), `${fresh.name}:/root/${file}`]);
    }
    const sh2 = terminal(t, blocks, fresh.name, substitutions);
    await sh2.run('systemd.ufw');
    assert.match(await inVm(fresh.name, 'ufw show added'), /ufw allow 80\/tcp[\s\S]*ufw allow 443\/tcp/);
    await sh2.run('both.source');
    await sh2.run('systemd.packages');
    await docker(['cp', join(root, 'pebble-root.crt'), `${fresh.name}:/usr/local/share/ca-certificates/pebble-root.crt`]);
    await inVm(fresh.name, 'update-ca-certificates >/dev/null');
    await sh2.run('systemd.node');
    await sh2.run('systemd.user');
    await sh2.run('systemd.unpack');
    await sh2.run('systemd.npm');
    await sh2.run('systemd.cli');
    await sh2.run('move.systemd-prepare');
    await sh2.run('systemd.alias');
    await sh2.run('systemd.restore');
    await sh2.exec('sudo systemctl enable --now berth');
    // HTTPS from the first second, with the old server's certificate; nothing ordered.
    const before = pebble.issued().length;
    const moved = await certifiedHandshake({ address: fresh.address, pebbleRoot }, 'the new server to serve HTTPS');
    assert.equal(moved.serial, pebble.issued().at(-1));
    assert.equal(pebble.issued().length, before);
    await servedPage({ address: fresh.address, pebbleRoot }, heading, 'the moved site');
    const check = await sh2.run('move.check');
    assert.match(check, /Pebble Intermediate/);
    assert.ok(check.includes(id), `the deploy history moved:\n${check}`);
    assert.match(check, /webhook/, 'the webhook deploy is in the history');

    await sh.run('move.systemd-stop-old');
    assert.equal(await inVm(old.name, 'systemctl is-active berth').catch((error: { stdout?: string }) => error.stdout?.trim()), 'inactive');
    assert.equal(await inVm(old.name, 'systemctl is-enabled berth').catch((error: { stdout?: string }) => error.stdout?.trim()), 'disabled');

    const ran = new Set([...sh.ran, ...sh2.ran, ...client.ran]);
    assert.deepEqual(GUIDE_RUNS.systemd.filter((id) => !ran.has(id)), [], 'every systemd block of the guide ran');
  });
});
