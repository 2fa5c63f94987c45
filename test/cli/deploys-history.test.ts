import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deployConfig } from '../helpers/deploy-config.ts';
import { createRepo } from '../helpers/git.ts';
import { tempDir } from '../helpers/temp.ts';
import { formatAge, formatDuration, formatLocalTime, fitWidth } from '../../src/cli/format.ts';
import { unavailableSecret } from '../../src/config/secret.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function berth(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A fixed zone, so that the local time printed is known.
    execFile(process.execPath, [cli, ...args], { cwd, env: { ...process.env, TZ: 'Asia/Kolkata' }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

interface Shown {
  id: string;
  state: string;
  shownState: string;
  serving: boolean;
  sha: string;
  createdAt: string;
}

test('berth deploys: only the deploy serving now is live, earlier ones are superseded or rolled back, with local time, age, commit, author, subject and error code; --state and --json', async (t) => {
  const root = await tempDir(t);
  await chmod(root, 0o755);
  await mkdir(join(root, 'git'));
  const repo = await createRepo(join(root, 'git'), { 'index.html': 'one' });
  const config = join(root, 'berth.toml');
  await writeFile(config, deployConfig({ repo: repo.bare }));
  const deploy = async (): Promise<void> => {
    const ran = await berth(['deploy', '--site', 'blog', '--config', config], root);
    assert.equal(ran.code, 0, ran.stderr);
  };
  await deploy();
  await repo.commit({ 'index.html': 'two' }, 'Second version of the page\n\nWith a body that is not shown.');
  await deploy();
  await repo.commit({ 'berth.toml': '[build]\ncommand = "exit 3"\npublish = "."\n' }, 'A build that fails');
  assert.equal((await berth(['deploy', '--site', 'blog', '--config', config], root)).code, 1);

  const list = async (...extra: string[]): Promise<Shown[]> => JSON.parse((await berth(['deploys', '--config', config, '--json', ...extra], root)).stdout) as Shown[];
  let shown = await list();
  assert.deepEqual(shown.map((row) => row.shownState), ['failed', 'live', 'superseded']);
  assert.deepEqual(shown.map((row) => row.serving), [false, true, false]);
  assert.deepEqual(shown.map((row) => row.state), ['failed', 'live', 'live'], 'the stored state is unchanged');

  // Back to the first release: the rollback is a deploy of its own, the one serving now; the second deploy is the
  // rolled-back one, the first (whose release is live again) superseded by the rollback.
  const rolled = await berth(['rollback', '--site', 'blog', '--config', config], root);
  assert.equal(rolled.code, 0, rolled.stderr);
  const before = shown;
  shown = await list();
  assert.match(rolled.stdout, new RegExp(`; recorded as deploy ${shown[0]?.id ?? '-'}\n$`));
  assert.deepEqual(shown.map((row) => row.shownState), ['live', 'failed', 'rolled back', 'superseded']);
  assert.deepEqual(shown.map((row) => row.serving), [true, false, false, false]);
  assert.deepEqual(
    shown.slice(1).map((row) => row.id),
    before.map((row) => row.id),
  );
  const rollbackRow = shown[0] as Shown & { trigger: string; releaseId: string; message: string; phases: Record<string, number> };
  const firstRow = shown[3] as Shown & { releaseId: string; message: string };
  assert.equal(rollbackRow.trigger, 'rollback');
  assert.equal(rollbackRow.state, 'live');
  assert.equal(rollbackRow.releaseId, firstRow.releaseId, 'the first deploy\'s release is live again');
  assert.equal(rollbackRow.sha, firstRow.sha, 'the commit that release was built from');
  assert.equal(rollbackRow.message, firstRow.message);
  assert.deepEqual(Object.keys(rollbackRow.phases), ['activate']);
  const rollbackLog = await berth(['logs', rollbackRow.id, '--config', config], root);
  assert.equal(rollbackLog.code, 0, rollbackLog.stderr);
  assert.match(rollbackLog.stdout, /made live again by berth rollback as \S+ \(it was \d{8}T\d{6}Z-[0-9a-f]+\)/);
  assert.match(rollbackLog.stdout, new RegExp(`was made by deploy ${firstRow.id}`));
  assert.deepEqual((await list('--state', 'rolled-back')).map((row) => row.id), [shown[2]?.id]);
  assert.deepEqual((await list('--state', 'live')).map((row) => row.id), [shown[0]?.id]);
  assert.deepEqual((await list('--state', 'superseded')).map((row) => row.id), [shown[3]?.id]);
  assert.deepEqual((await list('--state', 'failed', '--limit', '1')).map((row) => row.id), [shown[1]?.id]);

  const table = await berth(['deploys', '--config', config], root);
  assert.equal(table.code, 0, table.stderr);
  const [head, ...lines] = table.stdout.trimEnd().split('\n');
  assert.match(head ?? '', /^ID +SITE +STATE +WHEN +TRIGGER +COMMIT +AUTHOR +TOOK +MESSAGE$/);
  assert.equal(lines.length, 4);
  const [rollbackLine, failed, rolledBack] = lines as [string, string, string];
  assert.match(rollbackLine, / live +.* rollback +[0-9a-f]{7} /);
  const created = new Date(shown[1]?.createdAt ?? '');
  // Asia/Kolkata is UTC+05:30 all year.
  const local = new Date(created.getTime() + 5.5 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
  assert.ok(failed.includes(local), `local time ${local} in: ${failed}`);
  assert.match(failed, /\((just now|\d+ s ago|\d+ min ago)\)/);
  assert.match(failed, /failed/);
  assert.ok(failed.includes((shown[1]?.sha ?? '').slice(0, 7)));
  assert.match(failed, /Berth Test/);
  assert.match(failed, /A build that fails/);
  assert.match(failed, /E_BUILD_FAILED$/);
  assert.match(rolledBack, /rolled back/);
  assert.match(rolledBack, /Second version of the page$/, 'the first line of the message only');
  assert.doesNotMatch(table.stdout, /With a body/);

  // berth releases: each release's commit and the deploy that made it (not the rollback to it); one from berth publish says so.
  const site = join(root, 'published');
  await mkdir(site);
  await writeFile(join(site, 'index.html'), 'by hand');
  assert.equal((await berth(['publish', site, '--site', 'blog', '--config', config], root)).code, 0);
  const releases = JSON.parse((await berth(['releases', '--config', config, '--json'], root)).stdout) as Array<{ id: string; commit?: string; deploy?: string; active: boolean }>;
  assert.equal(releases.length, 3);
  assert.deepEqual(releases.map((release) => release.deploy), [undefined, shown[2]?.id, shown[3]?.id]);
  assert.deepEqual(releases.map((release) => release.commit), [undefined, shown[2]?.sha, shown[3]?.sha]);
  const releaseLines = (await berth(['releases', '--config', config], root)).stdout.trimEnd().split('\n');
  assert.match(releaseLines[0] ?? '', /^\* \S+ +\d{4}-\d{2}-\d{2} \d{2}:\d{2} \((just now|\d+ s ago|\d+ min ago)\) +1 files +7 B +publish +\(live\)$/);
  assert.ok(releaseLines[1]?.includes(`${(shown[2]?.sha ?? '').slice(0, 7)}  deploy ${shown[2]?.id ?? ''}`), releaseLines[1]);

  const bad = await berth(['deploys', '--config', config, '--state', 'gone'], root);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--state "gone" is not a state; use one of queued, building, publishing, live, superseded, rolled back, failed, cancelled, skipped/);
  const none = await berth(['deploys', '--config', config, '--state', 'cancelled'], root);
  assert.equal(none.stdout, 'No deploys in the state "cancelled"\n');
});

test('times, ages, durations and widths read as people write them', () => {
  const now = new Date('2026-12-04T12:00:00Z');
  assert.equal(formatAge(new Date('2026-12-04T11:59:58Z'), now), 'just now');
  assert.equal(formatAge(new Date('2026-12-04T11:59:20Z'), now), '40 s ago');
  assert.equal(formatAge(new Date('2026-12-04T11:57:00Z'), now), '3 min ago');
  assert.equal(formatAge(new Date('2026-12-04T07:00:00Z'), now), '5 h ago');
  assert.equal(formatAge(new Date('2026-12-03T11:00:00Z'), now), '1 day ago');
  assert.equal(formatAge(new Date('2026-11-20T12:00:00Z'), now), '14 days ago');
  assert.equal(formatAge(new Date('2026-12-05T12:00:00Z'), now), 'just now', 'a clock that went back is not a negative age');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(12_340), '12.3 s');
  assert.equal(formatDuration(245_000), '4 min 05 s');
  assert.equal(fitWidth('short', 10), 'short');
  assert.equal(fitWidth('a longer line of text', 10), 'a longer …');
  assert.equal(fitWidth('éèê', 2), 'é…');
  assert.match(formatLocalTime(new Date()), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
});

test('the commands that only read (deploys, releases, logs) work in a shell without the server\'s secrets; one that needs a secret still says which is missing', async (t) => {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    [
      'data_dir = "data"',
      '[acme]',
      'directory = "off"',
      '[[sites]]',
      'name = "blog"',
      'domains = ["localhost"]',
      'repo = "https://git.example/blog.git"',
      'token_env = "BERTH_TEST_UNSET_TOKEN"',
      '[sites.webhook]',
      'forge = "github"',
      'secret = "${BERTH_TEST_UNSET_SECRET}"',
    ].join('\n'),
  );
  const deploys = await berth(['deploys', '--config', config], root);
  assert.equal(deploys.code, 0, deploys.stderr);
  assert.equal(deploys.stdout, 'No deploys yet\n');
  const releases = await berth(['releases', '--config', config], root);
  assert.equal(releases.code, 0, releases.stderr);
  assert.match(releases.stdout, /blog has no releases yet/);
  const logs = await berth(['logs', '--site', 'blog', '--config', config], root);
  assert.equal(logs.code, 1);
  assert.match(logs.stderr, /has no deploys yet.*\[E_DEPLOY_NOT_FOUND\]/);

  const check = await berth(['check', '--config', config], root);
  assert.equal(check.code, 1);
  assert.match(check.stdout + check.stderr, /BERTH_TEST_UNSET_SECRET/);
  const deploy = await berth(['deploy', '--config', config], root);
  assert.equal(deploy.code, 1);
  assert.match(deploy.stderr, /BERTH_TEST_UNSET_SECRET.*\[E_CONFIG_SECRET\]/s);
});

test('a secret that could not be resolved says so when used, and never prints as a value', () => {
  const secret = unavailableSecret('env BLOG_WEBHOOK_SECRET', 'environment variable BLOG_WEBHOOK_SECRET is not set');
  assert.throws(() => secret.reveal(), (error: Error & { code?: string }) => error.code === 'E_CONFIG_SECRET' && /BLOG_WEBHOOK_SECRET is not set/.test(error.message));
  assert.equal(String(secret), '[secret from env BLOG_WEBHOOK_SECRET, not resolved]');
  assert.ok(Object.isFrozen(secret));
});
