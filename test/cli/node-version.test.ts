import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_MAJOR_NEEDED, nodeVersionProblem } from '../../src/cli/node-version.ts';

test('a Node older than 24 that runs TypeScript gets one line naming Node 24 and the one npm ci installs; 24 and later get none', () => {
  for (const old of ['22.18.0', '23.11.1']) {
    const line = nodeVersionProblem(old);
    assert.ok(line !== undefined);
    assert.equal(line.includes('\n'), false, 'one line');
    assert.match(line, new RegExp(`needs Node\\.js 24 or later, and this is Node\\.js ${old.replaceAll('.', '\\.')}`));
    assert.match(line, /npm ci` installs Node 24 into node_modules/);
    assert.match(line, /node_modules\/\.bin\/node src\/cli\/main\.ts/);
  }
  for (const fine of ['24.0.0', '24.21.0', '25.2.1']) assert.equal(nodeVersionProblem(fine), undefined);
  assert.notEqual(nodeVersionProblem('not a version'), undefined);
});

test('the version Berth asks for is the one package.json declares, and the Node that npm ci installs meets it', () => {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { engines: { node: string } };
  assert.equal(pkg.engines.node, `>=${NODE_MAJOR_NEEDED}`);
  const bundled = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'node');
  const version = execFileSync(bundled, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
  assert.equal(nodeVersionProblem(version), undefined, `node_modules/.bin/node is ${version}`);
});
