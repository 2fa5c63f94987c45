import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { deployLogPath, openDeployLog } from '../../src/deploy/deploy-log.ts';
import { stripAnsi } from '../../src/log/strip-ansi.ts';
import { tempDir } from '../helpers/temp.ts';

const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);

describe('stripAnsi', () => {
  it('removes colours, cursor moves, titles and links, and leaves the text', () => {
    assert.equal(stripAnsi(`${ESC}[32m✓${ESC}[39m built in ${ESC}[1m1.2s${ESC}[22m`), '✓ built in 1.2s');
    assert.equal(stripAnsi(`${ESC}[2K${ESC}[1G[vite] ${ESC}[38;5;208mwarning${ESC}[0m`), '[vite] warning');
    assert.equal(stripAnsi(`${ESC}]0;astro build${BEL}done`), 'done');
    assert.equal(stripAnsi(`see ${ESC}]8;;https://example.com${ESC}\\the docs${ESC}]8;;${ESC}\\`), 'see the docs');
    assert.equal(stripAnsi(`${ESC}c${ESC}7reset`), 'reset');
  });

  it('leaves text without escapes as it is, brackets and non-ASCII included', () => {
    for (const text of ['', '[  0.123s] [build] 12 page(s) built', 'src/pages/about.astro:2:53 – 20 € – 日本語', 'a [32m not preceded by ESC']) {
      assert.equal(stripAnsi(text), text);
    }
  });
});

describe('a deploy log', () => {
  it('stores a build\'s coloured line as plain text and echoes it with its colours', async (t) => {
    const dataDir = await tempDir(t);
    const echoed: string[] = [];
    const log = await openDeployLog(dataDir, '20261204T000000Z-abcdef', (line) => echoed.push(line));
    log.line(`out| ${ESC}[32m12 page(s) built${ESC}[39m`);
    await log.close();
    const stored = await readFile(deployLogPath(dataDir, '20261204T000000Z-abcdef'), 'utf8');
    assert.match(stored, /^\[ +\d+\.\d{3}s\] out\| 12 page\(s\) built\n$/);
    assert.ok(!stored.includes(ESC));
    assert.equal(echoed.length, 1);
    assert.ok(echoed[0]?.includes(`${ESC}[32m12 page(s) built${ESC}[39m`), 'a terminal gets the colours');
  });
});
