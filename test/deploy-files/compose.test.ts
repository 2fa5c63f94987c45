/**
 * deploy/compose.yaml, deploy/berth.toml.example and deploy/.env.example:
 * the Compose file has the shape the guide and the image rely on, the
 * example config is one Berth loads without a problem, and Docker Compose
 * itself (the `docker compose` plugin or Debian's `docker-compose`, which
 * scripts/test-deps.sh installs) accepts the file with the examples beside
 * it. `config -q` needs no Docker engine. Without Compose the test fails and
 * says how to install it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig, readConfig } from '../../src/config/load-config.ts';
import { tempDir } from '../helpers/temp.ts';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');
const COMPOSE = join(DEPLOY, 'compose.yaml');
const CONFIG_EXAMPLE = join(DEPLOY, 'berth.toml.example');
const ENV_EXAMPLE = join(DEPLOY, '.env.example');

/** The command that runs Compose here, or undefined when there is none. */
function findCompose(): { command: string; args: string[] } | undefined {
  const candidates = [
    { command: 'docker', args: ['compose'] },
    { command: 'docker-compose', args: [] },
  ];
  return candidates.find(({ command, args }) => spawnSync(command, [...args, 'version'], { stdio: 'ignore' }).status === 0);
}
const compose = findCompose();
const composeName = compose === undefined ? undefined : [compose.command, ...compose.args].join(' ');

interface Service {
  image?: string;
  build?: unknown;
  ports?: string[];
  volumes?: string[];
  env_file?: string | string[];
  secrets?: string[];
  restart?: string;
  init?: boolean;
  sysctls?: Record<string, unknown>;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  stop_grace_period?: string;
  logging?: { driver?: string; options?: Record<string, unknown> };
  healthcheck?: unknown;
}
interface ComposeFile {
  services?: Record<string, Service>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file?: string }>;
}

/** The file with its commented-out Docker secrets variant turned on. */
function withSecrets(text: string): string {
  return text
    .replace(/^( {4})# (secrets:)$/m, '$1$2')
    .replace(/^( {4})# ( {2}- blog_webhook_secret)$/m, '$1$2')
    .replace(/^# (secrets:)$/m, '$1')
    .replace(/^# ( {2}blog_webhook_secret:)$/m, '$1')
    .replace(/^# ( {4}file: \.\/secrets\/blog_webhook_secret)$/m, '$1');
}

/** A directory laid out as the guide says: compose.yaml, berth.toml and .env side by side. */
async function composeDir(dir: string, composeText: string): Promise<void> {
  await writeFile(join(dir, 'compose.yaml'), composeText);
  await copyFile(CONFIG_EXAMPLE, join(dir, 'berth.toml'));
  await copyFile(ENV_EXAMPLE, join(dir, '.env'));
  await mkdir(join(dir, 'secrets'));
  await writeFile(join(dir, 'secrets', 'blog_webhook_secret'), 'compose-webhook-secret-1\n');
}

function composeConfig(dir: string): { status: number | null; output: string } {
  assert.ok(compose !== undefined);
  const result = spawnSync(compose.command, [...compose.args, '-f', join(dir, 'compose.yaml'), 'config', '-q'], {
    cwd: dir,
    encoding: 'utf8',
    // Only the .env file supplies the secrets, as on a server.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DOCKER_HOST: process.env.DOCKER_HOST },
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

test('deploy/compose.yaml: one berth service on 80 and 443 with its data volume and a read-only config, which Docker Compose accepts', async (t) => {
  const text = await readFile(COMPOSE, 'utf8');
  const file = parse(text) as ComposeFile;
  assert.deepEqual(Object.keys(file.services ?? {}), ['berth']);
  const berth = file.services?.berth as Service;

  assert.equal(berth.image, 'berth:latest');
  assert.equal(berth.build, undefined, 'the build section is there only as a comment');
  assert.match(text, /^ {4}# build:\n {4}# {3}context: \.\.\n {4}# {3}dockerfile: deploy\/Dockerfile$/m);
  assert.deepEqual(berth.ports, ['80:80', '443:443']);
  assert.deepEqual(berth.volumes, ['berth-data:/data', './berth.toml:/etc/berth/berth.toml:ro']);
  assert.deepEqual(Object.keys(file.volumes ?? {}), ['berth-data']);
  assert.equal(berth.env_file, '.env');
  assert.equal(berth.restart, 'unless-stopped');
  // The image runs tini as PID 1; a second init from Compose would only warn.
  assert.equal(berth.init, undefined);
  // The serving workers bind ports below 1024 as berth through the namespace's sysctl.
  assert.deepEqual(berth.sysctls, { 'net.ipv4.ip_unprivileged_port_start': 0 });
  // The root supervisor keeps only what running builds and children as other uids takes:
  // no NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, SETPCAP, SETFCAP, FSETID or AUDIT_WRITE of Docker's defaults.
  assert.deepEqual(berth.cap_drop, ['ALL']);
  assert.deepEqual(berth.cap_add, ['SETUID', 'SETGID', 'CHOWN', 'FOWNER', 'DAC_OVERRIDE', 'KILL']);
  assert.deepEqual(berth.security_opt, ['no-new-privileges:true']);
  // Each capability kept is named in the comment that says what it is for.
  for (const capability of berth.cap_add ?? []) assert.match(text, new RegExp(`^ {4}# .*\\b${capability}\\b`, 'm'), `compose.yaml says what ${capability} is for`);
  assert.equal(berth.stop_grace_period, '20s');
  assert.deepEqual(berth.logging, { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } });
  assert.equal(berth.healthcheck, undefined, "the image's HEALTHCHECK applies");
  assert.equal(berth.secrets, undefined, 'Docker secrets are the commented alternative');

  // The alternative, uncommented, is well-formed too.
  const variant = parse(withSecrets(text)) as ComposeFile;
  assert.deepEqual(variant.services?.berth?.secrets, ['blog_webhook_secret']);
  assert.deepEqual(variant.secrets, { blog_webhook_secret: { file: './secrets/blog_webhook_secret' } });

  assert.ok(compose !== undefined, 'Docker Compose is not installed: run scripts/test-deps.sh (Debian package docker-compose)');
  const dir = await tempDir(t);
  await composeDir(dir, text);
  const plain = composeConfig(dir);
  assert.equal(plain.status, 0, `${composeName} config rejected compose.yaml:\n${plain.output}`);
  await writeFile(join(dir, 'compose.yaml'), withSecrets(text));
  const secrets = composeConfig(dir);
  assert.equal(secrets.status, 0, `${composeName} config rejected compose.yaml with secrets:\n${secrets.output}`);
});

test('deploy/berth.toml.example loads with Berth\'s loadConfig, the secret from BLOG_WEBHOOK_SECRET, without a problem', async () => {
  const env = { BLOG_WEBHOOK_SECRET: 'compose-webhook-secret-1' };
  const { problems } = await readConfig(CONFIG_EXAMPLE, env);
  assert.deepEqual(problems, [], 'no errors and no warnings');
  const config = await loadConfig(CONFIG_EXAMPLE, env);
  assert.equal(config.dataDir, '/data', 'data_dir is the volume');
  assert.equal(config.server.httpPort, 80);
  assert.equal(config.server.httpsPort, 443);
  assert.deepEqual(config.sites.map((site) => site.name), ['blog']);

  // Without the variable, loading fails naming it: the .env file is what supplies it.
  await assert.rejects(loadConfig(CONFIG_EXAMPLE, {}), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'E_CONFIG_SECRET');
    assert.match(error.message, /BLOG_WEBHOOK_SECRET/);
    return true;
  });
});

test('deploy/.env.example sets every variable deploy/berth.toml.example refers to', async () => {
  const config = await readFile(CONFIG_EXAMPLE, 'utf8');
  const referenced = [...config.matchAll(/^[^#\n]*"\$\{([A-Za-z0-9_]+)\}"/gm)].map((match) => match[1]);
  assert.deepEqual(referenced, ['BLOG_WEBHOOK_SECRET']);
  const env = await readFile(ENV_EXAMPLE, 'utf8');
  const set = [...env.matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/gm)].map((match) => match[1]);
  assert.deepEqual(set, referenced);
});
