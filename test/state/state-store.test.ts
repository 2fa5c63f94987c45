import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openStateStore, SCHEMA_VERSION, type StateStore } from '../../src/state/state-store.ts';
import { isBerthError } from '../../src/errors.ts';
import { eventually } from '../helpers/server.ts';
import { tempDir } from '../helpers/temp.ts';

async function store(t: Parameters<typeof tempDir>[0]): Promise<{ dataDir: string; state: StateStore }> {
  const dataDir = await tempDir(t);
  const state = openStateStore(dataDir);
  t.after(() => state.close());
  return { dataDir, state };
}

/** Makes deploys look written by a process that has exited (a pid far above any pid_max is never alive). */
function ownedByGoneProcess(state: StateStore, ids: readonly string[], owner = { pid: 2147483646, start: null as string | null }): void {
  const db = new DatabaseSync(state.file, { timeout: 5_000 });
  try {
    const update = db.prepare('UPDATE deploys SET owner_pid = ?, owner_start = ? WHERE id = ?');
    for (const id of ids) update.run(owner.pid, owner.start, id);
  } finally {
    db.close();
  }
}

const push = { site: 'blog', trigger: 'webhook', forge: 'github', delivery: 'd-1', ref: 'refs/heads/main', sha: 'a'.repeat(40) } as const;

test('openStateStore creates state.db in WAL mode with the current schema', async (t) => {
  const { dataDir, state } = await store(t);
  assert.equal(state.file, join(dataDir, 'state.db'));
  const db = new DatabaseSync(state.file);
  t.after(() => db.close());
  assert.equal(db.prepare('PRAGMA journal_mode').get()?.journal_mode, 'wal');
  assert.equal(db.prepare('PRAGMA user_version').get()?.user_version, SCHEMA_VERSION);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((row) => row.name);
  assert.deepEqual(tables, ['deliveries', 'deploys', 'site_locks']);
});

test('createDeploy stores a queued deploy with a time-sortable id', async (t) => {
  const { state } = await store(t);
  const now = new Date('2026-11-27T08:55:00.123Z');
  const deploy = state.createDeploy(push, now);
  assert.match(deploy.id, /^20261127T085500Z-[0-9a-f]{6}$/);
  assert.deepEqual(deploy, {
    id: deploy.id,
    site: 'blog',
    trigger: 'webhook',
    forge: 'github',
    delivery: 'd-1',
    ref: 'refs/heads/main',
    sha: 'a'.repeat(40),
    author: undefined,
    message: undefined,
    state: 'queued',
    createdAt: '2026-11-27T08:55:00.123Z',
    startedAt: undefined,
    finishedAt: undefined,
    phases: {},
    releaseId: undefined,
    buildSource: undefined,
    errorCode: undefined,
    errorMessage: undefined,
  });
  // Absent values come back as undefined, not null.
  assert.deepEqual(state.getDeploy(deploy.id), deploy);
  assert.equal(state.getDeploy('20000101T000000Z-000000'), undefined);
});

test('updateDeploy changes fields, merges phases and keeps id, site and creation time', async (t) => {
  const { state } = await store(t);
  const deploy = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
  state.updateDeploy(deploy.id, { state: 'building', startedAt: '2026-11-27T08:55:01.000Z', phases: { queued: 12, fetch: 340 } });
  const updated = state.updateDeploy(deploy.id, {
    state: 'live',
    sha: 'b'.repeat(40),
    phases: { build: 5000, publish: 80 },
    releaseId: '20261127T085510Z-0123abcd',
    buildSource: 'netlify.toml',
    finishedAt: '2026-11-27T08:55:10.000Z',
  });
  assert.deepEqual(updated.phases, { queued: 12, fetch: 340, build: 5000, publish: 80 });
  assert.equal(updated.startedAt, '2026-11-27T08:55:01.000Z');
  assert.deepEqual(state.getDeploy(deploy.id), updated);
  assert.equal(updated.createdAt, deploy.createdAt);

  // A key given as undefined clears the value.
  assert.equal(state.updateDeploy(deploy.id, { buildSource: undefined }).buildSource, undefined);
  assert.throws(() => state.updateDeploy('nope', { state: 'failed' }), /Deploy nope is not in/);
});

test('listDeploys returns newest first, filtered by site and state, up to the limit', async (t) => {
  const { state } = await store(t);
  const base = Date.parse('2026-11-27T08:00:00Z');
  const made = [];
  for (let i = 0; i < 25; i++) {
    made.push(state.createDeploy({ site: i % 2 === 0 ? 'blog' : 'docs', trigger: 'cli', ref: 'main' }, new Date(base + i * 1000)));
  }
  // Two deploys in the same millisecond keep their insertion order.
  const same = new Date(base + 100_000);
  const first = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, same);
  const second = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, same);

  const all = state.listDeploys();
  assert.equal(all.length, 20);
  assert.deepEqual(all.slice(0, 2).map((d) => d.id), [second.id, first.id]);
  assert.equal(all[2]?.id, made[24]?.id);

  const blog = state.listDeploys({ site: 'blog', limit: 100 });
  assert.equal(blog.length, 15);
  assert.ok(blog.every((d) => d.site === 'blog'));
  const times = blog.map((d) => d.createdAt);
  assert.deepEqual(times, [...times].sort().reverse());

  const [failed, live] = [made[3], made[5]];
  assert.ok(failed !== undefined && live !== undefined);
  state.updateDeploy(failed.id, { state: 'failed' });
  state.updateDeploy(live.id, { state: 'live' });
  assert.deepEqual(state.listDeploys({ site: 'docs', states: ['failed', 'live'] }).map((d) => d.id), [live.id, failed.id]);
  assert.deepEqual(state.listDeploys({ states: [] }), []);
  assert.equal(state.listDeploys({ limit: 3 }).length, 3);
});

test('findDeploy matches a unique id prefix and refuses an ambiguous one', async (t) => {
  const { state } = await store(t);
  const a = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, new Date('2026-11-27T08:00:00Z'));
  const b = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' }, new Date('2026-11-28T08:00:00Z'));
  assert.equal(state.findDeploy(a.id)?.id, a.id);
  assert.equal(state.findDeploy('20261127')?.id, a.id);
  assert.equal(state.findDeploy('20261128T08')?.id, b.id);
  assert.equal(state.findDeploy('2025'), undefined);
  // `_` and `%` are not wildcards.
  assert.equal(state.findDeploy('2026112_'), undefined);
  assert.throws(
    () => state.findDeploy('202611'),
    (error) => isBerthError(error) && error.code === 'E_USAGE' && error.message.includes(a.id) && error.message.includes(b.id),
  );
  assert.throws(() => state.findDeploy(''), (error) => isBerthError(error) && error.code === 'E_USAGE');
});

test('recordDelivery reports the first delivery as new and every repeat as a duplicate', async (t) => {
  const { state } = await store(t);
  assert.equal(state.recordDelivery('blog', 'github', 'd-1'), 'new');
  assert.equal(state.recordDelivery('blog', 'github', 'd-1'), 'duplicate');
  // The same id for another site is another delivery.
  assert.equal(state.recordDelivery('docs', 'github', 'd-1'), 'new');

  const deploy = state.createDeploy(push);
  state.linkDelivery('blog', 'd-1', deploy.id);
  const db = new DatabaseSync(state.file);
  t.after(() => db.close());
  const row = db.prepare('SELECT forge, deploy_id, received_at FROM deliveries WHERE site = ? AND delivery = ?').get('blog', 'd-1');
  assert.equal(row?.forge, 'github');
  assert.equal(row?.deploy_id, deploy.id);
  assert.ok(!Number.isNaN(Date.parse(String(row?.received_at))));
  // The link is a foreign key: a deploy that does not exist is refused.
  assert.throws(() => state.linkDelivery('docs', 'd-1', 'no-such-deploy'), (error) => isBerthError(error) && error.code === 'E_STATE_DB');
});

test('two connections to one file (two processes) agree on which delivery is new', async (t) => {
  const dataDir = await tempDir(t);
  const one = openStateStore(dataDir);
  const two = openStateStore(dataDir);
  t.after(() => {
    one.close();
    two.close();
  });
  const outcomes: string[] = [];
  for (let i = 0; i < 50; i++) {
    const id = `delivery-${i}`;
    // Alternate which connection sees the delivery first.
    const [first, second] = i % 2 === 0 ? [one, two] : [two, one];
    outcomes.push(`${first.recordDelivery('blog', 'gitea', id)}/${second.recordDelivery('blog', 'gitea', id)}`);
  }
  assert.deepEqual(new Set(outcomes), new Set(['new/duplicate']));

  // A deploy written by one connection is seen at once by the other.
  const deploy = one.createDeploy(push);
  two.updateDeploy(deploy.id, { state: 'building', phases: { queued: 5 } });
  assert.equal(one.getDeploy(deploy.id)?.state, 'building');
});

test('two processes creating the schema and writing at once both succeed and count every delivery once', async (t) => {
  const dataDir = await tempDir(t);
  const module = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'state', 'state-store.ts')).href;
  // Each process records the same 300 deliveries, one transaction each, racing the other for the write lock.
  const script = `
    import { openStateStore } from ${JSON.stringify(module)};
    const state = openStateStore(${JSON.stringify(dataDir)});
    let fresh = 0;
    for (let i = 0; i < 300; i++) if (state.recordDelivery('blog', 'github', 'd-' + i) === 'new') fresh++;
    state.close();
    process.stdout.write(String(fresh));
  `;
  const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '--no-warnings', '--eval', script]);
  const [a, b] = await Promise.all([run(), run()]);
  assert.equal(Number(a.stdout) + Number(b.stdout), 300);
});

test('recoverInterrupted fails the deploys a stop cut short and leaves finished ones alone', async (t) => {
  const { state } = await store(t);
  const queued = state.createDeploy({ site: 'blog', trigger: 'webhook', ref: 'main' });
  const building = state.createDeploy({ site: 'blog', trigger: 'webhook', ref: 'main' });
  const publishing = state.createDeploy({ site: 'docs', trigger: 'cli', ref: 'main' });
  const live = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
  state.updateDeploy(building.id, { state: 'building', phases: { queued: 3 } });
  state.updateDeploy(publishing.id, { state: 'publishing' });
  state.updateDeploy(live.id, { state: 'live', finishedAt: '2026-01-01T00:00:00.000Z' });
  // This process is running them: nothing is interrupted yet.
  assert.deepEqual(state.recoverInterrupted(), []);
  ownedByGoneProcess(state, [queued.id, building.id, publishing.id, live.id]);

  const now = new Date('2026-11-27T09:00:00.000Z');
  const recovered = state.recoverInterrupted(now);
  assert.deepEqual(recovered.map((d) => d.id).sort(), [queued.id, building.id, publishing.id].sort());
  for (const deploy of recovered) {
    assert.equal(deploy.state, 'failed');
    assert.equal(deploy.errorCode, 'E_DEPLOY_INTERRUPTED');
    assert.equal(deploy.finishedAt, now.toISOString());
    assert.deepEqual(state.getDeploy(deploy.id), deploy);
  }
  assert.match(recovered.find((d) => d.id === building.id)?.errorMessage ?? '', /^Berth stopped while this deploy was fetching or building/);
  assert.match(recovered.find((d) => d.id === publishing.id)?.errorMessage ?? '', /while this deploy was publishing/);
  assert.deepEqual(state.getDeploy(building.id)?.phases, { queued: 3 });
  assert.equal(state.getDeploy(live.id)?.state, 'live');
  assert.deepEqual(state.recoverInterrupted(), []);
});

/**
 * Code for a process of its own that opens the store in `dataDir`, starts a
 * deploy of "blog" and marks it building, then runs `then` (which sees `deploy`).
 */
function buildingDeployScript(dataDir: string, then: string): string {
  const module = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'state', 'state-store.ts')).href;
  return `
    import { openStateStore } from ${JSON.stringify(module)};
    const state = openStateStore(${JSON.stringify(dataDir)});
    const deploy = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
    state.updateDeploy(deploy.id, { state: 'building' });
    ${then}
  `;
}

test('recoverInterrupted leaves alone a deploy another live process is running', async (t) => {
  const { dataDir, state } = await store(t);
  // Like `berth deploy` in a shell: the deploy runs in its own process, without the server.
  const script = buildingDeployScript(dataDir, "process.stdout.write(deploy.id + '\\n'); setInterval(() => {}, 1000);");
  const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '--eval', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const running = line.toString().trim();
  assert.equal(state.getDeploy(running)?.state, 'building');

  assert.deepEqual(state.recoverInterrupted(), []);
  assert.equal(state.getDeploy(running)?.state, 'building');

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(state.recoverInterrupted().map((d) => d.id), [running]);
  assert.equal(state.getDeploy(running)?.errorCode, 'E_DEPLOY_INTERRUPTED');
});

/** The state letter of /proc/<pid>/stat (Z for a zombie) and the start time, or undefined once the process is gone. */
async function procStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

test('recoverInterrupted fails a deploy whose process is a zombie its parent never collected', async (t) => {
  const { dataDir, state } = await store(t);
  const script = buildingDeployScript(dataDir, "process.stdout.write(process.pid + ' ' + deploy.id + '\\n'); process.kill(process.pid, 'SIGKILL');");
  // The shell becomes sleep, which never waits for its children: the deploy's process stays a zombie.
  const parent = spawn('sh', ['-c', '"$0" --input-type=module --no-warnings --eval "$1" & exec sleep 600', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => parent.kill('SIGKILL'));
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const [pid, id] = line.toString().trim().split(' ') as [string, string];
  assert.ok(await eventually(async () => (await procStat(Number(pid)))?.state === 'Z', 30_000), 'the deploy process became a zombie');
  assert.deepEqual(state.recoverInterrupted().map((deploy) => deploy.id), [id]);
  assert.equal(state.getDeploy(id)?.errorCode, 'E_DEPLOY_INTERRUPTED');
  assert.equal((await procStat(Number(pid)))?.state, 'Z');
});

test('recoverInterrupted fails a deploy whose pid now belongs to a process that started later', async (t) => {
  const { state } = await store(t);
  const deploy = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
  state.updateDeploy(deploy.id, { state: 'building' });
  const parent = await procStat(process.ppid);
  assert.ok(parent !== undefined);
  // The right pid and start time: that process runs the deploy.
  ownedByGoneProcess(state, [deploy.id], { pid: process.ppid, start: parent.start });
  assert.deepEqual(state.recoverInterrupted(), []);
  // The same pid, but a process that started at another time: the owner is gone.
  ownedByGoneProcess(state, [deploy.id], { pid: process.ppid, start: String(Number(parent.start) - 1) });
  assert.deepEqual(state.recoverInterrupted().map((d) => d.id), [deploy.id]);
});

test('recoverInterrupted fails a deploy written by an earlier process that had our pid', async (t) => {
  const { state } = await store(t);
  const deploy = state.createDeploy({ site: 'blog', trigger: 'webhook', ref: 'main' });
  // As a container's pid 1 after a restart; an old row has no start time at all.
  ownedByGoneProcess(state, [deploy.id], { pid: process.pid, start: null });
  assert.deepEqual(state.recoverInterrupted().map((d) => d.id), [deploy.id]);
});

test('recoverInterrupted for one site leaves the other sites\' interrupted deploys for later', async (t) => {
  const { state } = await store(t);
  const blog = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
  const docs = state.createDeploy({ site: 'docs', trigger: 'cli', ref: 'main' });
  ownedByGoneProcess(state, [blog.id, docs.id]);
  assert.deepEqual(state.recoverInterrupted(new Date(), 'docs').map((d) => d.id), [docs.id]);
  assert.equal(state.getDeploy(blog.id)?.state, 'queued');
  assert.deepEqual(state.recoverInterrupted().map((d) => d.id), [blog.id]);
});

test('recordBuildProcess keeps a running build\'s process group with its start time until cleared', async (t) => {
  const { state } = await store(t);
  const deploy = state.createDeploy({ site: 'blog', trigger: 'cli', ref: 'main' });
  assert.equal(state.buildProcess(deploy.id), undefined);
  const build = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  t.after(() => build.kill('SIGKILL'));
  const pgid = build.pid as number;
  state.recordBuildProcess(deploy.id, pgid);
  assert.deepEqual(state.buildProcess(deploy.id), { pid: pgid, start: (await procStat(pgid))?.start });
  // Other changes to the deploy keep it.
  state.updateDeploy(deploy.id, { state: 'publishing' });
  assert.equal(state.buildProcess(deploy.id)?.pid, pgid);
  state.recordBuildProcess(deploy.id, undefined);
  assert.equal(state.buildProcess(deploy.id), undefined);
});

test('liveSha is the commit of the newest live deploy of the site', async (t) => {
  const { state } = await store(t);
  assert.equal(state.liveSha('blog'), undefined);
  const older = state.createDeploy({ ...push, sha: '1'.repeat(40) }, new Date('2026-11-27T08:00:00Z'));
  const newer = state.createDeploy({ ...push, sha: '2'.repeat(40) }, new Date('2026-11-27T09:00:00Z'));
  const failed = state.createDeploy({ ...push, sha: '3'.repeat(40) }, new Date('2026-11-27T10:00:00Z'));
  state.updateDeploy(older.id, { state: 'live' });
  assert.equal(state.liveSha('blog'), '1'.repeat(40));
  state.updateDeploy(newer.id, { state: 'live' });
  state.updateDeploy(failed.id, { state: 'failed' });
  assert.equal(state.liveSha('blog'), '2'.repeat(40));
  assert.equal(state.liveSha('docs'), undefined);
});

test('a rollback is the serving deploy of its release, but not the live commit; pruning keeps the newest of each', async (t) => {
  const { state } = await store(t);
  const at = (hour: number): Date => new Date(`2026-11-27T${String(hour).padStart(2, '0')}:00:00Z`);
  const first = state.createDeploy({ ...push, sha: '1'.repeat(40) }, at(1));
  state.updateDeploy(first.id, { state: 'live', releaseId: 'r1' });
  const second = state.createDeploy({ ...push, sha: '2'.repeat(40) }, at(2));
  state.updateDeploy(second.id, { state: 'live', releaseId: 'r2' });
  assert.equal(state.servingDeploy('blog', 'r1'), first.id);
  assert.equal(state.servingDeploy('blog', undefined), undefined);
  const back = state.createDeploy({ site: 'blog', trigger: 'rollback', ref: 'refs/heads/main', sha: '1'.repeat(40) }, at(3));
  state.updateDeploy(back.id, { state: 'live', releaseId: 'r1' });
  assert.equal(state.servingDeploy('blog', 'r1'), back.id, 'the newest deploy that made r1 live');
  assert.equal(state.servingDeploy('blog', 'r2'), second.id);
  assert.equal(state.servingDeploy('docs', 'r1'), undefined);
  // A push of the branch's tip after a rollback is not news: the tip is still the commit last deployed.
  assert.equal(state.liveSha('blog'), '2'.repeat(40));
  for (let hour = 4; hour < 8; hour++) state.updateDeploy(state.createDeploy(push, at(hour)).id, { state: 'failed' });
  const pruned = state.pruneDeploys({ keepPerSite: 1, before: at(23) }, 100);
  assert.ok(!pruned.includes(second.id) && !pruned.includes(back.id), `pruned: ${pruned.join(', ')}`);
  assert.ok(pruned.includes(first.id));
  assert.equal(state.liveSha('blog'), '2'.repeat(40));
  assert.equal(state.servingDeploy('blog', 'r1'), back.id);
});

test('listDeploys pages back from a deploy: before = the last id of a page gives the next, in the same order, to the end', async (t) => {
  const { state } = await store(t);
  // Several in one second: the order (and so the page boundary) falls back on insertion order.
  const ids = [0, 0, 0, 1, 2, 2, 3].map((second) => state.createDeploy(push, new Date(Date.UTC(2026, 10, 27, 8, 0, second))).id).reverse();
  state.createDeploy({ ...push, site: 'docs' }, new Date('2026-11-27T08:00:01Z'));
  const pages: string[][] = [];
  let before: string | undefined;
  for (;;) {
    const page = state.listDeploys({ site: 'blog', limit: 3, ...(before === undefined ? {} : { before }) }).map((deploy) => deploy.id);
    if (page.length === 0) break;
    pages.push(page);
    before = page.at(-1);
  }
  assert.deepEqual(pages, [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6)]);
  assert.deepEqual(state.listDeploys({ site: 'blog', before: 'no-such-id' }), []);
});

test('reopening the store keeps the data, and opening it again migrates nothing', async (t) => {
  const dataDir = await tempDir(t);
  const first = openStateStore(dataDir);
  const deploy = first.createDeploy(push);
  first.updateDeploy(deploy.id, { state: 'live', phases: { build: 10 } });
  first.recordDelivery('blog', 'github', 'd-1');
  first.close();
  first.close();

  for (let i = 0; i < 3; i++) {
    const again = openStateStore(dataDir);
    assert.equal(again.getDeploy(deploy.id)?.state, 'live');
    assert.deepEqual(again.getDeploy(deploy.id)?.phases, { build: 10 });
    assert.equal(again.recordDelivery('blog', 'github', 'd-1'), 'duplicate');
    assert.equal(again.listDeploys().length, 1);
    again.close();
  }
  const db = new DatabaseSync(join(dataDir, 'state.db'));
  t.after(() => db.close());
  assert.equal(db.prepare('PRAGMA user_version').get()?.user_version, SCHEMA_VERSION);
});

test('a state.db that is not a database is reported with its path and what to do', async (t) => {
  const dataDir = await tempDir(t);
  const file = join(dataDir, 'state.db');
  await writeFile(file, randomBytes(8192));
  assert.throws(
    () => openStateStore(dataDir),
    (error) => {
      assert.ok(isBerthError(error));
      assert.equal(error.code, 'E_STATE_DB');
      assert.ok(error.message.includes(file), error.message);
      assert.match(error.message, /not a database/);
      assert.match(error.message, /move it aside/);
      return true;
    },
  );
});

test('a state.db from a newer berth is refused rather than changed', async (t) => {
  const dataDir = await tempDir(t);
  const db = new DatabaseSync(join(dataDir, 'state.db'));
  db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  assert.throws(
    () => openStateStore(dataDir),
    (error) => isBerthError(error) && error.code === 'E_STATE_DB' && /newer berth/.test(error.message),
  );
});

test('a site lock is kept once, read back, and removed by unlock', async (t) => {
  const { state } = await store(t);
  assert.equal(state.siteLock('blog'), undefined);
  const first = state.lockSite('blog', { by: 'alice', at: '2026-12-04T10:00:00.000Z', reason: 'rolled back' });
  assert.deepEqual(first, { site: 'blog', by: 'alice', at: '2026-12-04T10:00:00.000Z', reason: 'rolled back' });
  // Locking again keeps who locked it first.
  assert.deepEqual(state.lockSite('blog', { by: 'bob', at: '2026-12-04T11:00:00.000Z', reason: undefined }), first);
  assert.equal(state.siteLock('docs'), undefined);
  assert.deepEqual(state.unlockSite('blog'), first);
  assert.equal(state.unlockSite('blog'), undefined);
  assert.equal(state.siteLock('blog'), undefined);
});
