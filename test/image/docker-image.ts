/**
 * The Docker image, built and run for linux/amd64 and, through QEMU,
 * linux/arm64, on the stand-in base image (scripts/image/base-image.sh):
 * publish the starter blog, a certificate from Pebble over real HTTP-01, a
 * signed webhook deploying a pushed commit, a graceful stop.
 *
 *   npm run test:image    (root: installs Docker, debootstrap and QEMU, starts dockerd)
 *
 * Part of `npm test`; the first run on a machine builds both base images
 * and the arm64 image under emulation, about four minutes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { buildBlog } from '../helpers/blog.ts';
import { handshake, waitFor } from '../helpers/acme.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { bridgeGateway, docker, getHttps, git, useBaseImage } from '../helpers/docker.ts';
import { assertProcessTree } from '../helpers/hostile-build.ts';
import { freePort, startPebble } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
const SECRET = 'image-test-webhook-secret';
/** deploy/compose.yaml's cap_add: what the root supervisor keeps. */
const SUPERVISOR_CAPS = ['SETUID', 'SETGID', 'CHOWN', 'FOWNER', 'DAC_OVERRIDE', 'KILL'];

/** The real Dockerfile built for `arch` on the stand-in base. */
async function buildImage(arch: 'amd64' | 'arm64'): Promise<string> {
  await useBaseImage(arch);
  const tag = `berth:test-${arch}`;
  await docker(['build', '--platform', `linux/${arch}`, '-f', 'deploy/Dockerfile', '-t', tag, '.']);
  assert.equal(await docker(['image', 'inspect', '--format', '{{.Architecture}}', tag]), arch);
  return tag;
}

async function scenario(t: TestContext, arch: 'amd64' | 'arm64'): Promise<void> {
  const image = await buildImage(arch);
  const root = await tempDir(t);
  await chmod(root, 0o755);
  const gateway = await bridgeGateway();
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const pebble = await startPebble(t, root, { httpPort, host: gateway });
  const pebbleRoot = await pebble.root();

  // A repository the webhook deploys from, and the built starter blog to publish.
  const repo = join(root, 'repos', 'site.git');
  await mkdir(repo, { recursive: true });
  await git(['init', '--quiet', '--bare', '--initial-branch=main'], repo);
  const work = join(root, 'work');
  await mkdir(work);
  await git(['init', '--quiet', '--initial-branch=main'], work);
  const blog = await buildBlog();
  await cp(blog, join(root, 'blog'), { recursive: true });

  const etc = join(root, 'etc');
  await mkdir(etc);
  await writeFile(join(etc, 'pebble.pem'), await readFile(pebble.caFile));
  await writeFile(join(etc, 'webhook-secret'), SECRET);
  await writeFile(
    join(etc, 'berth.toml'),
    `data_dir = "/data"
[server]
shutdown_timeout = "5s"
[acme]
directory = "${pebble.directoryUrl}"
ca_file = "pebble.pem"
email = "image@example.com"
check_interval = "2s"
retry_delay = "2s"
[[sites]]
name = "blog"
domains = ["blog.example.com"]
repo = "/repos/site.git"
[sites.webhook]
forge = "generic"
secret_file = "webhook-secret"
`,
  );
  await run('chmod', ['-R', 'a+rX', root]);

  const name = `berth-image-test-${arch}-${process.pid}`;
  // Hardened as deploy/compose.yaml runs it: every capability dropped but the supervisor's, no new privileges.
  await docker([
    'run', '-d', '--name', name, '-p', `${httpPort}:80`, '-p', `${httpsPort}:443`,
    '--cap-drop', 'ALL', ...SUPERVISOR_CAPS.flatMap((cap) => ['--cap-add', cap]),
    '--security-opt', 'no-new-privileges:true', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=0',
    '-v', `${etc}:/etc/berth:ro`, '-v', `${join(root, 'repos')}:/repos:ro`, '-v', `${join(root, 'blog')}:/blog:ro`, image,
  ]);
  onCleanup(t, async () => {
    await docker(['rm', '-f', '-v', name]).catch(() => undefined);
  });
  const logs = async (): Promise<string> => (await run('docker', ['logs', name], { maxBuffer: 16 * 1024 * 1024 }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' })).then((out) => `${out.stdout}${out.stderr}`));

  await waitFor(async () => ((await logs()).includes('"msg":"listening"') ? true : undefined), `${arch}: the server to listen`, 180_000, 500);
  // A root supervisor with only its capabilities; the control plane and the serving workers as berth with none,
  // binding 80 and 443 all the same: the engine lets a container's users bind low ports by itself.
  await assertProcessTree((args) => docker(['exec', name, ...args]), 10001, '00000000000000eb');
  assert.equal(await docker(['run', '--rm', '--cap-drop', 'ALL', '--entrypoint', 'cat', image, '/proc/sys/net/ipv4/ip_unprivileged_port_start']), '0');
  // The image's own HEALTHCHECK command, run as Docker runs it.
  const healthcheck = JSON.parse(await docker(['image', 'inspect', '--format', '{{json .Config.Healthcheck.Test}}', image])) as string[];
  assert.equal(healthcheck[0], 'CMD');
  await docker(['exec', name, ...healthcheck.slice(1)]);

  // Publish the starter blog.
  const published = await docker(['exec', name, 'berth', 'publish', '/blog', '--site', 'blog'], 300_000);
  assert.match(published, /live|published/i);

  // A certificate from Pebble over real HTTP-01 (Pebble reaches the container through the published port).
  const served = await waitFor(async () => {
    const seen = await handshake(httpsPort, 'blog.example.com', pebbleRoot).catch(() => undefined);
    return seen?.authorized === true ? seen : undefined;
  }, `${arch}: a certificate from Pebble`, 300_000, 500);
  assert.equal(pebble.issued().at(-1), served.serial);
  assert.match((await getHttps('127.0.0.1', httpsPort, 'blog.example.com', '/', pebbleRoot)).body, /<title>/, 'the blog over HTTPS with the real certificate');
  const health = await fetch(`http://127.0.0.1:${httpPort}/_berth/health`);
  assert.equal(health.status, 200);

  // A signed webhook deploys a pushed commit.
  await writeFile(join(work, 'index.html'), `<!doctype html><title>pushed</title><h1>Pushed to the ${arch} image</h1>\n`);
  await git(['add', '--all'], work);
  await git(['commit', '--quiet', '-m', 'A page'], work);
  await git(['push', '--quiet', repo, 'main'], work);
  await run('chmod', ['-R', 'a+rX', repo]);
  const sha = await git(['rev-parse', 'HEAD'], work);
  const body = JSON.stringify({ ref: 'refs/heads/main', sha });
  const signature = createHmac('sha256', SECRET).update(body).digest('hex');
  const hook = await fetch(`http://127.0.0.1:${httpPort}/_berth/hooks/blog`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-berth-signature': `sha256=${signature}` }, body });
  assert.equal(hook.status, 202, await hook.text());
  await waitFor(async () => {
    const seen = (await getHttps('127.0.0.1', httpsPort, 'blog.example.com', '/', pebbleRoot).catch(() => undefined))?.body;
    return seen?.includes(`Pushed to the ${arch} image`) === true ? seen : undefined;
  }, `${arch}: the webhook's deploy to be served`, 600_000, 2_000);

  // docker stop: SIGTERM, a graceful stop, exit 0 (a SIGKILL after the 20 s would leave 137).
  await docker(['stop', '--time', '20', name]);
  assert.equal(await docker(['inspect', '--format', '{{.State.ExitCode}}', name]), '0', await logs());
}

describe('the Docker image', () => {
  for (const arch of ['amd64', 'arm64'] as const) {
    it(`builds for ${arch}, publishes the starter blog, gets a certificate from Pebble, deploys a signed webhook`, { timeout: 45 * 60_000 }, async (t) => {
      await scenario(t, arch);
    });
  }
});
