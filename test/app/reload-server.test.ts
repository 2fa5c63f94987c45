import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { answerReloadRequests } from '../../src/app/reload-server.ts';
import { BUILD_HOST_PARENT } from '../../src/deploy/build-host.ts';
import { onCleanup } from '../helpers/cleanup.ts';
import { serviceAccount, type ServiceAccount } from '../helpers/service-account.ts';
import { tempDir } from '../helpers/temp.ts';

const fixtures = join(import.meta.dirname, 'fixtures');

/** A root process holding `dataDir`'s serve.lock; `hups()` counts the SIGHUPs it got. */
async function rootServer(t: TestContext, dataDir: string): Promise<{ pid: number; hups: () => number }> {
  const child = spawn(process.execPath, [join(fixtures, 'lock-holder.ts'), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout });
  const held = new Promise<void>((resolve) => {
    reader.on('line', (line) => {
      lines.push(line);
      if (line === 'held') resolve();
    });
  });
  await held;
  return { pid: child.pid as number, hups: () => lines.filter((line) => line === 'hup').length };
}

/** Runs the reload request as `account`, as drop-privileges.ts re-runs a command; `answer` says whether this root process answers it. */
async function askAs(account: ServiceAccount, pid: number, dataDir: string, answer: boolean): Promise<string> {
  const child = fork(join(fixtures, 'reload-child.ts'), [String(pid)], {
    uid: account.uid,
    gid: account.gid,
    env: { ...process.env, BERTH_BUILD_HOST: BUILD_HOST_PARENT },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const stop = answer ? answerReloadRequests(child, dataDir) : () => undefined;
  try {
    const exited = once(child, 'exit');
    // The child's own request to this process comes first on the same channel.
    const outcome = await new Promise<string>((resolve) => {
      child.on('message', (message: { outcome?: string }) => {
        if (message.outcome !== undefined) resolve(message.outcome);
      });
    });
    await exited;
    return outcome;
  } finally {
    stop();
  }
}

test('a command re-run as the service user gets a root berth serve reloaded through its root parent, which signals only the holder of serve.lock', async (t) => {
  const account = await serviceAccount(t);
  const root = await tempDir(t, 'berth-reload-');
  await chmod(root, 0o755);
  const dataDir = join(root, 'data');
  const server = await rootServer(t, dataDir);

  // On its own, the service user may not signal root's process.
  assert.equal(await askAs(account, server.pid, dataDir, false), 'the root process that started this one did not answer');
  assert.equal(server.hups(), 0);

  assert.equal(await askAs(account, server.pid, dataDir, true), 'told');
  await waitFor(() => server.hups() === 1);

  // The pid the child names does not matter: root signals the lock's holder, here this test's own process would be the wrong one.
  assert.equal(await askAs(account, process.pid, dataDir, true), 'told');
  await waitFor(() => server.hups() === 2);
});

test('with no berth serve holding the data dir, the root parent says so and signals nothing', async (t) => {
  const account = await serviceAccount(t);
  const root = await tempDir(t, 'berth-reload-');
  await chmod(root, 0o755);
  assert.equal(await askAs(account, 1, join(root, 'data'), true), 'no berth serve holds the data dir now');
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(check());
}
