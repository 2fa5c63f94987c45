import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openAdminStore } from '../../src/admin/admin-store.ts';
import { isBerthError } from '../../src/errors.ts';
import { openDeliveryResults } from '../../src/notify/delivery-results.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { tempDir } from '../helpers/temp.ts';

const openers = {
  state: (dataDir: string) => openStateStore(dataDir),
  admins: (dataDir: string) => openAdminStore(dataDir),
  results: (dataDir: string) => openDeliveryResults(dataDir),
};

test('the three stores share state.db whichever opens it first, private and in WAL mode, each with its own tables', async (t) => {
  for (const order of [['admins', 'results', 'state'], ['state', 'admins', 'results'], ['results', 'state', 'admins']] as const) {
    const dataDir = join(await tempDir(t), 'data');
    const opened = order.map((name) => openers[name](dataDir));
    const file = join(dataDir, 'state.db');
    assert.equal((await stat(file)).mode & 0o777, 0o600, order.join(', '));
    const db = new DatabaseSync(file);
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((row) => String(row.name)));
    assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
    db.close();
    for (const table of ['deploys', 'deliveries', 'site_locks', 'admins', 'admin_passkeys', 'notify_results']) assert.ok(tables.has(table), `${table} after ${order.join(', ')}`);
    for (const store of opened) store.close();
  }
});

test('a state.db loosened by another tool is made private again by the admin store (the data dir check reports it for the others); one that is not a database is named with the store that opened it', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  openStateStore(dataDir).close();
  const file = join(dataDir, 'state.db');
  await chmod(file, 0o644);
  openDeliveryResults(dataDir).close();
  openStateStore(dataDir).close();
  assert.equal((await stat(file)).mode & 0o777, 0o644, 'left for the data dir check, which says what it changed');
  openAdminStore(dataDir).close();
  assert.equal((await stat(file)).mode & 0o777, 0o600);

  const broken = join(await tempDir(t), 'broken');
  openStateStore(broken).close();
  await writeFile(join(broken, 'state.db'), 'not a database, but long enough to be read as one '.repeat(100));
  for (const [name, open, words] of [
    ['admins', openers.admins, /for admins: .*move it aside/],
    ['results', openers.results, /for notification results: .*move it aside/],
    ['state', openers.state, /state\.db: .*move it aside/],
  ] as const) {
    assert.throws(
      () => open(broken),
      (error) => isBerthError(error) && error.code === 'E_STATE_DB' && words.test(error.message) && error.message.includes(join(broken, 'state.db')),
      name,
    );
  }
});
