import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load-config.ts';
import type { ResolvedConfig } from '../../src/config/resolved-config.ts';
import { describeConfigChanges, hasAppliedChanges, keepRestartOnly, listenChanged } from '../../src/app/config-changes.ts';
import { tempDir } from '../helpers/temp.ts';

const base = ['data_dir = "data"', '[server]', 'http_port = 8080', 'https_port = 8443', '[acme]', 'directory = "off"'];
const site = (name: string, ...more: string[]): string[] => ['[[sites]]', `name = "${name}"`, `domains = ["${name}.example"]`, ...more];

async function configs(t: import('node:test').TestContext, before: string[], after: string[]): Promise<[ResolvedConfig, ResolvedConfig]> {
  const root = await tempDir(t);
  const file = join(root, 'berth.toml');
  await writeFile(file, before.join('\n'));
  const running = await loadConfig(file, {});
  await writeFile(file, after.join('\n'));
  return [running, await loadConfig(file, {})];
}

test('sites added, removed and changed are named by name, and tables by name', async (t) => {
  const [running, next] = await configs(t, [...base, ...site('a'), ...site('b')], [...base.map((line) => line.replace('8080', '8081')), '[log]', 'level = "debug"', ...site('b', 'hsts = true'), ...site('c')]);
  const changes = describeConfigChanges(running, next);
  assert.deepEqual(changes.sitesAdded, ['c']);
  assert.deepEqual(changes.sitesRemoved, ['a']);
  assert.deepEqual(changes.sitesChanged, ['b']);
  assert.deepEqual(changes.sectionsChanged, ['server', 'log']);
  assert.deepEqual(changes.restartOnly, [], 'a port is applied by a reload, not left for a restart');
  assert.equal(hasAppliedChanges(running, next), true);
});

test('the same config, or one that differs only in data_dir or server.user, has nothing to apply; the address and ports are applied', async (t) => {
  const [same, again] = await configs(t, [...base, ...site('a')], [...base, ...site('a')]);
  assert.equal(hasAppliedChanges(same, again), false);
  assert.deepEqual(describeConfigChanges(same, again), { sitesAdded: [], sitesRemoved: [], sitesChanged: [], sectionsChanged: [], restartOnly: [] });

  const [running, next] = await configs(t, [...base, ...site('a')], [...base.map((line) => line.replace('8443', 'false\nhost = "127.0.0.1"\nuser = "root"')), ...site('a')]);
  const changes = describeConfigChanges(running, next);
  assert.deepEqual(changes.restartOnly.map((change) => change.key), ['server.user'], 'the address and ports are not left for a restart');
  assert.equal(hasAppliedChanges(running, next), true, 'the address and ports are applied by a reload');
  assert.equal(listenChanged(running, next), true);
  const moved = keepRestartOnly(running, next);
  assert.ok(Object.isFrozen(moved) && Object.isFrozen(moved.server));
  assert.equal(moved.dataDir, running.dataDir);
  assert.equal(moved.server.httpsPort, false);
  assert.equal(moved.server.host, '127.0.0.1');
  assert.equal(moved.server.user, running.server.user, 'the service user stays until a restart');

  const [userOnly, otherUser] = await configs(t, [...base, ...site('a')], [...base.map((line) => line.replace('8443', '8443\nuser = "root"')), ...site('a')]);
  assert.equal(hasAppliedChanges(userOnly, otherUser), false, 'nothing but a key that needs a restart');
  assert.equal(listenChanged(userOnly, otherUser), false);
});

test('another order of the same sites is a change (it decides which site a shared name falls to); a changed secret is a change, and its value is never in the result', async (t) => {
  const [running, next] = await configs(t, [...base, ...site('a'), ...site('b')], [...base, ...site('b'), ...site('a')]);
  assert.deepEqual(describeConfigChanges(running, next).sitesChanged, ['b', 'a']);

  const root = await tempDir(t);
  const secretFile = join(root, 'secret');
  await writeFile(secretFile, 'first-secret-value-0123456789');
  const lines = [...base, ...site('a'), '[sites.webhook]', 'forge = "github"', `secret_file = "${secretFile}"`];
  const file = join(root, 'berth.toml');
  await writeFile(file, lines.join('\n'));
  const before = await loadConfig(file, {});
  await writeFile(secretFile, 'second-secret-value-0123456789');
  const after = await loadConfig(file, {});
  const changes = describeConfigChanges(before, after);
  assert.deepEqual(changes.sitesChanged, ['a']);
  assert.equal(hasAppliedChanges(before, after), true);
  assert.doesNotMatch(JSON.stringify(changes), /secret-value/);
});

test('turning the dashboard on is a change a reload applies, to the workers and the control plane', async (t) => {
  const [running, next] = await configs(t, [...base, ...site('a')], [...base, '[admin]', 'domain = "berth.example"', ...site('a')]);
  assert.deepEqual(describeConfigChanges(running, next).sectionsChanged, ['admin']);
  assert.equal(hasAppliedChanges(running, next), true);
});
