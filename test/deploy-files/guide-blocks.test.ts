/**
 * docs/guide.md's commands and the tests that run them: every shell block
 * is marked, and the guide tests in test/image/ (GUIDE_RUNS) run every
 * block that is not marked as impossible here, and no block twice over
 * under one id. The runs themselves are in test/image/guide-*.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GUIDE, GUIDE_RUNS, parseGuide, readGuide } from '../helpers/guide.ts';

test('every shell block in the guide is marked, each id once', async () => {
  const blocks = await readGuide();
  assert.ok(blocks.length >= 40, `only ${blocks.length} blocks found`);
  const ids = blocks.filter((block) => block.id !== 'none').map((block) => block.id);
  assert.deepEqual(ids.filter((id, index) => ids.indexOf(id) !== index), [], 'ids used twice');
  for (const block of blocks) {
    assert.match(block.id, /^(none|(both|docker|systemd|client|move)\.[a-z0-9-]+)$/, `docs/guide.md:${block.line}`);
    assert.notEqual(block.code.trim(), '', `docs/guide.md:${block.line} is empty`);
    if (block.id === 'none') assert.ok((block.reason ?? '').length > 10, `docs/guide.md:${block.line}: say why it is not run`);
  }
});

test('the guide tests run every block not marked none, and name no block the guide lacks', async () => {
  const blocks = await readGuide();
  const marked = new Set(blocks.filter((block) => block.id !== 'none').map((block) => block.id));
  const run = new Set<string>([...GUIDE_RUNS.systemd, ...GUIDE_RUNS.docker]);
  assert.deepEqual([...marked].filter((id) => !run.has(id)), [], 'blocks no guide test runs');
  assert.deepEqual([...run].filter((id) => !marked.has(id)), [], 'ids the guide does not have');
  // Blocks shared by both ways of installing are run by both tests.
  for (const id of marked) {
    if (id.startsWith('both.') || id === 'move.check') {
      assert.ok((GUIDE_RUNS.systemd as readonly string[]).includes(id) && (GUIDE_RUNS.docker as readonly string[]).includes(id), id);
    }
  }
});

test('the blocks the tests cannot run are few, and each says why', async () => {
  const none = (await readGuide()).filter((block) => block.id === 'none');
  assert.deepEqual(
    none.map((block) => block.code.split('\n')[0]?.split(' ').slice(0, 2).join(' ')),
    ['dig +short', 'aws ec2', 'curl -fsSL', 'curl -fsSL', 'scp berth.tar.gz', 'scp old-server:berth-\\*.tar.gz'],
  );
});

test('the parser refuses an unmarked or unclosed block and keeps an indented block\'s commands', () => {
  assert.throws(() => parseGuide('text\n\n```sh\nls\n```\n'), /docs\/guide\.md:3: the sh block has no <!-- guide-test/);
  assert.throws(() => parseGuide('<!-- guide-test: both.x -->\n```sh\nls\n'), /docs\/guide\.md:2: the code block is never closed/);
  assert.throws(() => parseGuide('<!-- guide-test: both.x -->\n   ```sh\n   ls\n   ```\n'), /no <!-- guide-test/, 'the marker must be indented like the fence');
  const blocks = parseGuide('1. Step:\n\n   <!-- guide-test: move.x -->\n   ```sh\n   cd /srv\n     --flag\n   ```\n\n```text\nnot a command\n```\n<!-- guide-test: none: no way to run it here -->\n```sh\nscp a b:\n```\n');
  assert.deepEqual(blocks, [
    { id: 'move.x', line: 4, code: 'cd /srv\n  --flag' },
    { id: 'none', reason: 'no way to run it here', line: 13, code: 'scp a b:' },
  ]);
});

test('the guide\'s links to other docs point at files that exist', async () => {
  const text = await readFile(GUIDE, 'utf8');
  const links = [...text.matchAll(/\]\(([a-z-]+\.md)(#[a-z0-9-]+)?\)/g)].map((match) => match[1] ?? '');
  assert.ok(links.length >= 5);
  for (const link of new Set(links)) await access(join(dirname(GUIDE), link));
});
