import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeployQueue, type QueueItem } from '../../src/deploy/deploy-queue.ts';

interface Gate {
  open(): void;
  done: Promise<void>;
}

function harness(concurrency: number) {
  const started: string[] = [];
  const superseded: Array<[string, string]> = [];
  const gates = new Map<string, Gate>();
  let active = 0;
  let peak = 0;
  const queue = new DeployQueue<QueueItem>({
    concurrency,
    async run(item) {
      started.push(item.id);
      active++;
      peak = Math.max(peak, active);
      let open = (): void => undefined;
      const done = new Promise<void>((resolve) => (open = resolve));
      gates.set(item.id, { open, done });
      await done;
      active--;
    },
    superseded: (item, by) => superseded.push([item.id, by.id]),
    crashed: (item, error) => assert.fail(`${item.id} crashed: ${String(error)}`),
  });
  const finish = async (id: string): Promise<void> => {
    gates.get(id)?.open();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { queue, started, superseded, finish, peak: () => peak };
}

test('one deploy per site at a time; a burst collapses to the newest', async () => {
  const h = harness(2);
  h.queue.add({ id: 'a1', site: 'a' });
  h.queue.add({ id: 'a2', site: 'a' });
  h.queue.add({ id: 'a3', site: 'a' });
  h.queue.add({ id: 'a4', site: 'a' });
  assert.deepEqual(h.started, ['a1']);
  assert.deepEqual(h.superseded, [['a2', 'a3'], ['a3', 'a4']]);
  await h.finish('a1');
  assert.deepEqual(h.started, ['a1', 'a4']);
  await h.finish('a4');
  await h.queue.idle();
  assert.equal(h.queue.size, 0);
});

test('the global limit holds across sites, in arrival order', async () => {
  const h = harness(1);
  h.queue.add({ id: 'a1', site: 'a' });
  h.queue.add({ id: 'b1', site: 'b' });
  h.queue.add({ id: 'c1', site: 'c' });
  assert.deepEqual(h.started, ['a1']);
  await h.finish('a1');
  assert.deepEqual(h.started, ['a1', 'b1']);
  await h.finish('b1');
  await h.finish('c1');
  assert.deepEqual(h.started, ['a1', 'b1', 'c1']);
  assert.equal(h.peak(), 1);
});

test('a waiting site does not block another site when a slot frees', async () => {
  const h = harness(2);
  h.queue.add({ id: 'a1', site: 'a' });
  h.queue.add({ id: 'a2', site: 'a' });
  h.queue.add({ id: 'b1', site: 'b' });
  assert.deepEqual(h.started, ['a1', 'b1'], 'b starts although a2 waited first');
  await h.finish('b1');
  assert.deepEqual(h.started, ['a1', 'b1'], 'a2 still waits for a1');
  await h.finish('a1');
  assert.deepEqual(h.started, ['a1', 'b1', 'a2']);
  await h.finish('a2');
  await h.queue.idle();
});

test('a deploy log on a full disk stops logging instead of crashing', async (t) => {
  const { mkdtemp, mkdir: makeDir, rm: remove, symlink: link } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { openDeployLog } = await import('../../src/deploy/deploy-log.ts');
  const root = await mkdtemp(join(tmpdir(), 'berth-log-'));
  t.after(() => remove(root, { recursive: true, force: true }));
  await makeDir(join(root, 'logs', 'deploys'), { recursive: true });
  await link('/dev/full', join(root, 'logs', 'deploys', 'd1.log'));
  const log = await openDeployLog(root, 'd1');
  for (let i = 0; i < 100; i++) log.line(`line ${i}`);
  // Closing waits for every queued write to have been tried: the ENOSPC has happened by then.
  const failure = await log.close();
  assert.equal((failure as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC', 'the write failed and was caught; an uncaught ENOSPC would have failed this test');
  assert.doesNotThrow(() => log.line('after the disk filled'));
  assert.equal(await log.close(), failure, 'closing again resolves with the same failure');
});
