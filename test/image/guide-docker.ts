/**
 * docs/guide.md, option A (Docker), run command by command on this
 * machine as the server: the image built from a checkout, Compose with
 * ports 80 and 443, the first deploy and certificate, a push, an upgrade,
 * a backup and a move into a new volume.
 *
 * What stands in for the internet, and what differs from the reader's
 * server; nothing else is changed in the guide's commands:
 * - Berth's repository and the site's are served by `git daemon` (git://);
 * - the server's paths live under a temporary directory (/opt/berth-src,
 *   /srv/berth, /root, $HOME), and `sudo` is a pass-through when the
 *   machine has none (the tests run as root);
 * - so that a real Berth on this machine is never touched, the Compose
 *   project is `berth-guide-test` (its directory's name) instead of
 *   `berth`, its volume `berth-guide-test_berth-data`, the image
 *   `berth:guide-test`, and the test's container and volume carry a label;
 * - Debian's docker.io has the classic builder and Compose 1
 *   (`docker-compose`) where Docker's own packages have BuildKit and the
 *   `docker compose` plugin: the test uses `docker compose` when it is
 *   there and `docker-compose` (with -T on exec, which Compose 1 needs
 *   without a terminal) when not;
 * - `curl` to example.com is sent to 127.0.0.1 and trusts Pebble's root;
 *   Pebble's DNS answers 127.0.0.1, so HTTP-01 reaches the published port 80;
 * - the test's own steps: the editor step writes the config (Pebble as
 *   the CA, its API certificate mounted by a compose.override.yaml), a
 *   signed GitHub push, the volume and /srv/berth removed to stand for a
 *   new server's.
 *
 *   npm run test:image    (root: installs Docker and starts dockerd)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { bridgeGateway, canConnect, docker, serveGuideRepositories, useBaseImage } from '../helpers/docker.ts';
import { GUIDE_RUNS, GuideShell, readGuide, type Substitution } from '../helpers/guide.ts';
import { assertProcessTree } from '../helpers/hostile-build.ts';
import { certifiedHandshake, deployCertifyPush, servedPage, withPebble } from '../helpers/guide-steps.ts';
import { startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

/** On the test's container and volume, through compose.override.yaml. */
const TEST_LABEL = 'berth.guide-test';
const PROJECT = 'berth-guide-test';
const IMAGE = 'berth:guide-test';
const composeV2 = spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;

/** Lines of output, without empty ones. */
const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

/** The test's running Berth container. */
async function berthContainer(): Promise<string> {
  return docker(['ps', '-q', '--filter', 'label=com.docker.compose.service=berth', '--filter', `label=${TEST_LABEL}`]);
}

describe('docs/guide.md with Docker', () => {
  it('builds the image, starts it with Compose, deploys, gets a certificate, upgrades, backs up and restores into a new volume', { timeout: 40 * 60_000 }, async (t) => {
    // A run cut short leaves a container that Docker restarts (restart: unless-stopped); only the test's own are removed.
    const leftovers = lines(await docker(['ps', '-aq', '--filter', `label=${TEST_LABEL}`]));
    if (leftovers.length > 0) await docker(['rm', '-f', ...leftovers]);
    for (const volume of lines(await docker(['volume', 'ls', '-q', '--filter', `label=${TEST_LABEL}`]))) await docker(['volume', 'rm', volume]);
    for (const port of [80, 443]) {
      assert.equal(await canConnect('127.0.0.1', port), false, `port ${port} is taken on this machine; the guide's compose.yaml publishes 80 and 443`);
    }
    const blocks = await readGuide();
    const root = await tempDir(t);
    await chmod(root, 0o755);
    await useBaseImage('amd64');
    const gateway = await bridgeGateway();

    // The repositories the guide clones and deploys, served over git://.
    const repos = await serveGuideRepositories(t, root, gateway);
    const pebble = await startPebble(t, root, { httpPort: 80, host: gateway });
    const pebbleRoot = await pebble.root();
    await writeFile(join(root, 'pebble-root.pem'), pebbleRoot);

    // The server's directories, and `sudo` for a machine without it.
    const home = join(root, 'home');
    const bin = join(root, 'bin');
    for (const dir of [home, bin, join(root, 'opt'), join(root, 'srv'), join(root, 'root')]) await mkdir(dir);
    if (spawnSync('sudo', ['true'], { stdio: 'ignore' }).status !== 0) {
      await writeFile(join(bin, 'sudo'), '#!/bin/sh\n# The tests run as root: sudo runs its command as it is.\nexec "$@"\n', { mode: 0o755 });
    }
    const srv = join(root, 'srv', PROJECT);
    const substitutions: Substitution[] = [
      ['https://git.example.org/you/berth.git', repos.url('berth.git')],
      ['/opt/berth-src', join(root, 'opt', 'berth-src')],
      ['/srv/berth', srv],
      ['berth_berth-data', `${PROJECT}_berth-data`],
      ['berth:latest', IMAGE],
      ['/root:/backup', `${join(root, 'root')}:/backup`],
      ['/root/', `${join(root, 'root')}/`],
      [/^curl /gm, `curl --resolve example.com:80:127.0.0.1 --resolve example.com:443:127.0.0.1 --cacert ${join(root, 'pebble-root.pem')} `],
      ...(composeV2 ? [] : ([
        [/docker compose (-f \S+ )?exec /g, 'docker-compose $1exec -T '],
        ['docker compose', 'docker-compose'],
      ] as const)),
    ];
    const sh = new GuideShell('docker-server', blocks, ['bash'], {
      substitutions,
      scratch: root,
      env: { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? ''}`, DOCKER_BUILDKIT: '0' },
    });
    onCleanup(t, () => sh.close());
    onCleanup(t, () => {
      spawnSync(composeV2 ? 'docker' : 'docker-compose', [...(composeV2 ? ['compose'] : []), '--project-name', PROJECT, '-f', join(srv, 'compose.yaml'), 'down', '--volumes', '--timeout', '5'], { stdio: 'ignore' });
    });

    // 3. Install Berth: option A.
    await sh.run('both.source');
    await sh.run('docker.packages');
    const versions = await sh.run('docker.check-docker');
    assert.match(versions, /Server:[\s\S]*Engine/);
    assert.match(versions, /version v?[12]\.\d+/i);
    await sh.run('docker.build', 20 * 60_000);
    // No USER: the supervisor starts as root and runs everything else as berth or a build uid.
    assert.equal(await docker(['image', 'inspect', '--format', '{{.Config.User}}|{{.Architecture}}', IMAGE]), '|amd64');
    await sh.run('docker.files');
    assert.match(await readFile(join(srv, '.env'), 'utf8'), /^BLOG_WEBHOOK_SECRET=/m);

    // The editor step (`nano`), done by the test: the site's repository; and Pebble in place of Let's Encrypt.
    await sh.instead('docker.edit', async () => {
      const edited = (await readFile(join(srv, 'berth.toml'), 'utf8')).replace('repo = "https://github.com/you/blog.git"', `repo = "${repos.url('blog.git')}"`);
      assert.match(edited, /git:\/\//);
      await writeFile(join(srv, 'berth.toml'), withPebble(edited, pebble, '/etc/berth/pebble-api.pem'));
      await writeFile(join(srv, 'pebble-api.pem'), await readFile(pebble.caFile));
      await writeFile(
        join(srv, 'compose.override.yaml'),
        `services:\n  berth:\n    image: ${IMAGE}\n    labels:\n      ${TEST_LABEL}: "1"\n    volumes:\n      - ./pebble-api.pem:/etc/berth/pebble-api.pem:ro\nvolumes:\n  berth-data:\n    labels:\n      ${TEST_LABEL}: "1"\n`,
      );
    });

    await sh.run('docker.secret');
    const secret = /^BLOG_WEBHOOK_SECRET=([0-9a-f]{64})$/m.exec(await readFile(join(srv, '.env'), 'utf8'))?.[1];
    assert.ok(secret !== undefined, 'a 32-byte hex secret in .env');
    assert.match(await sh.run('docker.start', 5 * 60_000), /Config \/etc\/berth\/berth\.toml is valid/);
    await sh.run('docker.alias');
    await waitFor(async () => ((await fetch('http://127.0.0.1/_berth/health').then(async (res) => (await res.text()).trim(), () => '')) === 'ok' ? true : undefined), 'Berth to listen on port 80', 60_000, 250);
    // berth reload through the alias: docker compose exec, as root in the container, signals the supervisor and reads its answer.
    assert.match(await sh.run('docker.reload'), /already runs this config; nothing to apply/);
    // compose.yaml's hardening took effect: a root supervisor with its six capabilities, berth (uid 10001) with none on ports 80 and 443.
    const container = await berthContainer();
    await assertProcessTree((args) => docker(['exec', container, ...args]), 10001, '00000000000000eb');
    assert.equal(await docker(['inspect', '--format', '{{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}}', container]), '["ALL"] ["no-new-privileges:true"]');
    assert.deepEqual((JSON.parse(await docker(['inspect', '--format', '{{json .HostConfig.CapAdd}}', container])) as string[]).map((cap) => cap.replace(/^CAP_/, '')).toSorted(), ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'KILL', 'SETGID', 'SETUID']);
    assert.match(await sh.run('both.health'), /(^|\n)ok$/);

    // 5. The first deploy and the certificate, 4. the forge's webhook.
    const server = { sh, address: '127.0.0.1', pebble, pebbleRoot };
    const heading = 'Pushed to the Docker server';
    const id = await deployCertifyPush(server, { push: repos.pushSite, secret, heading });

    // 6. Upgrading Berth.
    const marker = await repos.upgradeBerth();
    await sh.run('docker.upgrade', 20 * 60_000);
    const upgraded = await berthContainer();
    assert.notEqual(upgraded, container, 'Compose replaced the container with one of the new image');
    assert.ok((await docker(['exec', upgraded, 'cat', '/opt/berth/src/cli/main.ts'])).includes(marker), 'the new container runs the new Berth');
    await servedPage(server, heading, 'the site after the upgrade');

    // 7. Backups, named with the server's date.
    // A line starts with the release's id (the deploy that made it is named further on).
    const releases = [...(await sh.exec('berth releases --site blog')).matchAll(/^[* ] (\d{8}T\d{6}Z-[0-9a-f]{8})\b/gm)].map((match) => match[1] as string);
    assert.equal(releases.length, 2, 'two releases before the backup');
    const date = await sh.exec('date +%F');
    sh.substitute('2026-11-27', date);
    await sh.run('docker.backup');
    const listed = spawnSync('tar', ['-tzf', join(root, 'root', `berth-data-${date}.tar.gz`)], { encoding: 'utf8' }).stdout;
    assert.match(listed, /^\.\/state\.db\.backup$/m);
    assert.match(listed, /^\.\/certs\/example\.com\/cert\.pem$/m);
    assert.doesNotMatch(listed, /^\.\/state\.db$/m);
    assert.match(spawnSync('tar', ['-tzf', join(root, 'root', `berth-srv-${date}.tar.gz`)], { encoding: 'utf8' }).stdout, /^\.\/\.env$/m);

    // 8. Moving: the old server stops; the new one starts with no /srv/berth and an empty volume.
    await sh.run('move.docker-stop-old');
    await docker(['volume', 'rm', `${PROJECT}_berth-data`]);
    await rm(srv, { recursive: true });
    const issued = pebble.issued().length;
    await sh.run('move.docker-restore');
    await sh.run('move.docker-start');
    const moved = await certifiedHandshake(server, 'the restored server to serve HTTPS');
    assert.equal(moved.serial, pebble.issued().at(-1));
    const check = await sh.run('move.check');
    assert.match(check, /Pebble Intermediate/);
    assert.ok(check.includes(id), `the deploy history moved:\n${check}`);
    assert.match(check, /webhook/);
    for (const release of releases) assert.ok(check.includes(release), `release ${release} moved:\n${check}`);
    assert.equal(pebble.issued().length, issued, 'nothing ordered after the move');

    assert.deepEqual(GUIDE_RUNS.docker.filter((block) => !sh.ran.has(block)), [], 'every Docker block of the guide ran');
  });
});
