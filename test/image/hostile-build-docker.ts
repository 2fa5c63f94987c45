/**
 * A hostile build in the Docker image, run with deploy/compose.yaml's
 * capabilities, security options and sysctls as written (read from the
 * file): it tries to read the config, the secrets, state.db, the
 * certificate keys and the ACME account key and Berth's environment, to
 * write into the live release, another site's release and state.db, to
 * replace the `current` link and to signal Berth, leaves processes behind
 * and fills its output. Everything is refused or cleaned up, the live sites
 * are unchanged, and the deploy fails at the output limit
 * (helpers/hostile-build.ts).
 *
 * The config and the secret file belong to uid 10001 with mode 0600, as
 * compose.yaml and the guide set them up; Pebble runs on the host and
 * validates HTTP-01 through the published port.
 *
 *   npm run test:image    (root: installs Docker and starts dockerd)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { bridgeGateway, docker, ROOT, useBaseImage } from '../helpers/docker.ts';
import { assertProcessTree, deployHostileBuild, hostileConfig, hostileSecrets, siteRepos, type ShippedServer } from '../helpers/hostile-build.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
/** The image docker-image.ts builds from this checkout too: one build, shared layers. */
const IMAGE = 'berth:test-amd64';
/** The berth account of the image ([server] user). */
const BERTH_UID = 10001;
/** CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, CAP_SETGID, CAP_SETUID: compose.yaml's cap_add. */
const SUPERVISOR_CAPS = '00000000000000eb';

interface ComposeService {
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  sysctls?: Record<string, string | number>;
}

/** `docker run` flags for what compose.yaml sets on the berth service's privileges, as written there. */
async function composeFlags(): Promise<{ flags: string[]; service: ComposeService }> {
  const file = parse(await readFile(join(ROOT, 'deploy', 'compose.yaml'), 'utf8')) as { services: { berth: ComposeService } };
  const service = file.services.berth;
  const flags = [
    ...(service.cap_drop ?? []).flatMap((cap) => ['--cap-drop', cap]),
    ...(service.cap_add ?? []).flatMap((cap) => ['--cap-add', cap]),
    ...(service.security_opt ?? []).flatMap((option) => ['--security-opt', option]),
    ...Object.entries(service.sysctls ?? {}).flatMap(([key, value]) => ['--sysctl', `${key}=${value}`]),
  ];
  return { flags, service };
}

describe('a hostile build in the Docker image run with compose.yaml', () => {
  it('reads no secret, writes no release, link or state.db, leaves no process, and the live sites are unchanged', { timeout: 20 * 60_000 }, async (t) => {
    await useBaseImage('amd64');
    await docker(['build', '-q', '-f', 'deploy/Dockerfile', '-t', IMAGE, '.']);
    const root = await tempDir(t);
    await chmod(root, 0o755);
    const gateway = await bridgeGateway();
    const httpPort = await freePort();
    const httpsPort = await freePort();
    const pebble = await startPebble(t, root, { httpPort, host: gateway });
    const pebbleRoot = await pebble.root();
    const repos = await siteRepos(t, root, gateway);
    const secrets = hostileSecrets();

    // /etc/berth as the guide leaves it: the config and the secret private to berth.
    const etc = join(root, 'etc');
    await mkdir(join(etc, 'secrets'), { recursive: true });
    await writeFile(join(etc, 'pebble.pem'), await readFile(pebble.caFile), { mode: 0o644 });
    await writeFile(join(etc, 'secrets', 'hostile-webhook'), secrets.hostileWebhook, { mode: 0o600 });
    await writeFile(join(etc, 'secrets', 'victim-webhook'), secrets.victimWebhook, { mode: 0o600 });
    await writeFile(
      join(etc, 'berth.toml'),
      hostileConfig({ dataDir: '/data', repos, directoryUrl: pebble.directoryUrl, caFile: 'pebble.pem', secretDir: '/etc/berth/secrets', secrets }),
      { mode: 0o600 },
    );
    await chmod(etc, 0o755);
    await chmod(join(etc, 'secrets'), 0o700);
    for (const path of ['berth.toml', 'secrets', 'secrets/hostile-webhook', 'secrets/victim-webhook']) await chown(join(etc, path), BERTH_UID, BERTH_UID);

    const name = `berth-hostile-build-${process.pid}`;
    const volume = `${name}-data`;
    const { flags, service } = await composeFlags();
    await docker([
      'run', '-d', '--name', name, '-p', `${httpPort}:80`, '-p', `${httpsPort}:443`, ...flags,
      '-e', `HOSTILE_TEST_ENV_SECRET=${secrets.environment}`,
      '-v', `${volume}:/data`, '-v', `${etc}:/etc/berth:ro`, IMAGE,
    ]);
    onCleanup(t, async () => {
      await docker(['rm', '-f', '-v', name]).catch(() => undefined);
      await docker(['volume', 'rm', volume]).catch(() => undefined);
    });
    const logs = async (): Promise<string> => {
      const out = await run('docker', ['logs', name], { maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }));
      return `${out.stdout}${out.stderr}`;
    };
    // The container runs with exactly compose.yaml's privileges.
    const host = JSON.parse(await docker(['inspect', '--format', '{{json .HostConfig}}', name])) as { CapDrop: string[] | null; CapAdd: string[] | null; SecurityOpt: string[] };
    assert.deepEqual(host.CapDrop ?? [], service.cap_drop ?? []);
    assert.deepEqual((host.CapAdd ?? []).map((cap) => cap.replace(/^CAP_/, '')).toSorted(), (service.cap_add ?? []).toSorted());
    assert.deepEqual(host.SecurityOpt, service.security_opt);

    await waitFor(async () => {
      const health = await fetch(`http://127.0.0.1:${httpPort}/_berth/health`).catch(() => undefined);
      if (health?.status === 200) return true;
      const state = await docker(['inspect', '--format', '{{.State.Status}}', name]);
      if (state !== 'running') throw new Error(`the container stopped (${state}):\n${await logs()}`);
      return undefined;
    }, 'Berth to answer its health check', 120_000, 500);

    const server: ShippedServer = {
      address: '127.0.0.1',
      httpPort,
      httpsPort,
      dataDir: '/data',
      configFile: '/etc/berth/berth.toml',
      secretDir: '/etc/berth/secrets',
      exec: (args) => docker(['exec', name, ...args]),
      // As docs/docker.md says: `docker compose exec berth berth …`.
      cli: (args) => docker(['exec', name, 'berth', ...args]),
    };
    try {
      await deployHostileBuild(server, repos, secrets, pebbleRoot);
      await assertProcessTree(server.exec, BERTH_UID, SUPERVISOR_CAPS);
    } catch (error) {
      t.diagnostic(`container log:\n${(await logs()).slice(-20_000)}`);
      throw error;
    }
  });
});
