import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { historyDir } from '../../src/cli/history-dir.ts';
import { openStateStore } from '../../src/state/state-store.ts';

it('reads the history of the config found as every command finds it, else the default data dir if it has one', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'berth-history-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const elsewhere = path.join(root, 'elsewhere');
  const defaultDir = path.join(root, 'var-lib-berth');
  await mkdir(elsewhere);
  await mkdir(defaultDir);

  // No config anywhere, no history in the default data dir: the usual "config not found".
  await assert.rejects(historyDir(undefined, {}, elsewhere, defaultDir), { code: 'E_CONFIG_NOT_FOUND' });

  // A history there: read without any config.
  openStateStore(defaultDir).close();
  assert.deepEqual(await historyDir(undefined, {}, elsewhere, defaultDir), { dataDir: defaultDir, config: undefined });

  // $BERTH_CONFIG wins over the default data dir, and a secret its shell lacks is no obstacle.
  const configFile = path.join(root, 'berth.toml');
  await writeFile(configFile, `data_dir = "data"\n[[sites]]\nname = "blog"\ndomains = ["blog.test"]\n[sites.webhook]\nforge = "github"\nsecret = "\${NOT_IN_THIS_SHELL}"\n`);
  const found = await historyDir(undefined, { BERTH_CONFIG: configFile }, elsewhere, defaultDir);
  assert.equal(found.dataDir, path.join(root, 'data'));
  assert.equal(found.config?.configPath, configFile);

  // $BERTH_CONFIG naming a missing file is reported too: it is the user's mistake to see.
  await assert.rejects(historyDir(undefined, { BERTH_CONFIG: path.join(root, 'gone.toml') }, elsewhere, defaultDir), { code: 'E_CONFIG_NOT_FOUND' });

  // --config given but missing is reported, not replaced by the default data dir.
  await assert.rejects(historyDir('missing.toml', {}, elsewhere, defaultDir), { code: 'E_CONFIG_NOT_FOUND' });
});
