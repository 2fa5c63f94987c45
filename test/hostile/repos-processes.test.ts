/**
 * Hostile repositories (see helpers/hostile-site.ts) whose builds leave
 * processes running: none may survive the deploy, so none can change the
 * output while Berth publishes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onCleanup } from '../helpers/cleanup.ts';
import { building, deploy, hostileSite, killIfAlive, shellQuote } from '../helpers/hostile-site.ts';
import { livingPidsOf, livingProcesses } from '../helpers/processes.ts';
import { assertNoSecretUnder, assertNotQuoted, secretFile } from '../helpers/secret-file.ts';

test('a build process left running to swap output directories for links to a private one is stopped with the build, and nothing private is published', async (t) => {
  const secret = await secretFile(t, 'page.html');
  // For at most 20 s, in a session of its own: d0…d9 are all renamed away and links to the
  // private directory renamed into their places, then back, every half millisecond (Perl: one
  // rename per system call, so a name is missing only for microseconds).
  const swapper =
    `my $s = '${secret.dir}'; symlink($s, "out/l$_") for 0..9; my $end = time + 20; ` +
    'while (time < $end) { ' +
    'for (0..9) { rename("out/d$_", "out/r$_"); rename("out/l$_", "out/d$_"); } select(undef, undef, undef, 0.0005); ' +
    'for (0..9) { rename("out/d$_", "out/l$_"); rename("out/r$_", "out/d$_"); } select(undef, undef, undef, 0.0005); }';
  const site = await hostileSite(
    t,
    building(
      `for i in 0 1 2 3 4 5 6 7 8 9; do mkdir out/d$i && echo public > out/d$i/page.html; done && ` +
        `(setsid perl -e ${shellQuote(swapper)} >/dev/null 2>&1 & echo "swapper $!")`,
    ),
  );
  const result = deploy(site);
  const swapperPid = Number(/swapper (\d+)/.exec(result.stderr)?.[1]);
  // Before the temporary directories go (clean-ups run last registered, first).
  onCleanup(t, () => killIfAlive(String(swapperPid)));
  assert.ok(swapperPid > 0, `the build printed the swapper's pid: ${result.stderr}`);
  assert.deepEqual(
    livingProcesses().filter((info) => info.pid === swapperPid || info.sid === swapperPid),
    [],
    'the swapper was stopped with the build',
  );
  // Whether the build's processes were stopped before the walk, or the walk or a file's open met
  // a link: no byte of the private directory is read into the site.
  assertNotQuoted(result.stdout + result.stderr, secret);
  await assertNoSecretUnder(site.dataDir, secret);
});

test('no process a build leaves running survives the deploy, not even one in a session of its own', async (t) => {
  const site = await hostileSite(
    t,
    building('(setsid sleep 1000 >/dev/null 2>&1 & echo "escaped $!") && (sleep 1000 >/dev/null 2>&1 & echo "child $!")'),
  );
  const result = deploy(site);
  const escaped = Number(/escaped (\d+)/.exec(result.stderr)?.[1]);
  const child = Number(/child (\d+)/.exec(result.stderr)?.[1]);
  onCleanup(t, () => {
    killIfAlive(String(escaped));
    killIfAlive(String(child));
  });
  assert.equal(result.status, 0, result.stderr);
  assert.ok(escaped > 0 && child > 0, `the build printed both pids: ${result.stderr}`);
  const uid = Number(/building as .*?uid (\d+)/.exec(result.stderr)?.[1]);
  assert.ok(uid > 0, `the build ran as an unprivileged uid: ${result.stderr}`);
  // Read once berth deploy has exited: the process group, the setsid'd session and the build's uid are all gone.
  const living = livingProcesses();
  assert.deepEqual(living.filter((info) => info.pid === escaped || info.sid === escaped), [], 'nothing of the escaped session runs');
  assert.deepEqual(living.filter((info) => info.pid === child), [], 'the background child is gone');
  assert.deepEqual(livingPidsOf(uid), [], `no process runs as the site's build uid ${uid}`);
});

