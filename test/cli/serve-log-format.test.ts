import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { readableLine } from '../../src/log/readable-line.ts';
import { waitFor } from '../helpers/acme.ts';
import { freePort } from '../helpers/pebble.ts';
import { tempDir } from '../helpers/temp.ts';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

describe('readableLine', () => {
  it('gives the local time, the level, the message and the fields, quoting only what needs it', () => {
    const time = '2026-12-04T16:31:02.123Z';
    const line = readableLine(JSON.stringify({ level: 'info', time, msg: 'deploy live', site: 'blog', ms: 312, phases: { fetch: 90 }, note: 'two words' }));
    assert.equal(line, `${new Date(time).toTimeString().slice(0, 8)} info  deploy live  site=blog ms=312 phases={"fetch":90} note="two words"\n`);
  });

  it('shows an error by its message and code, and passes a line that is not JSON through', () => {
    const line = readableLine(JSON.stringify({ level: 'error', time: '2026-12-04T16:31:02Z', msg: 'cannot load', err: { type: 'Error', message: 'no such file', code: 'ENOENT', stack: 'Error: no such file\n    at x' } }));
    assert.match(line, / error cannot load {2}err="no such file \[ENOENT\]"\n$/);
    assert.doesNotMatch(line, /at x/);
    assert.equal(readableLine('not json'), 'not json\n');
    assert.equal(readableLine('[1,2]'), '[1,2]\n');
  });
});

/** `berth serve` on a pseudo-terminal (util-linux `script`), as a person starts it; its output so far. */
async function serveOnTerminal(t: TestContext, extra: string[]): Promise<() => string> {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(config, ['data_dir = "data"', '[server]', 'host = "127.0.0.1"', `http_port = ${await freePort()}`, 'https_port = false', 'workers = 1', '[acme]', 'directory = "off"', '[[sites]]', 'name = "site"', 'domains = ["localhost"]'].join('\n'));
  const command = [process.execPath, CLI, 'serve', '--config', config, ...extra].map((word) => `'${word}'`).join(' ');
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', command, '/dev/null'], { cwd: root, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.after(async () => {
    try {
      process.kill(-(child.pid as number), 'SIGTERM');
    } catch {
      return;
    }
    await exited;
  });
  return () => output;
}

describe('berth serve on a terminal', () => {
  it('prints one readable line per event, from every process', async (t) => {
    const output = await serveOnTerminal(t, []);
    await waitFor(() => (/sites ready/.test(output()) ? true : undefined), 'the server to be ready', 60_000, 100);
    const lines = output().split(/\r?\n/).filter((line) => line.trim() !== '');
    assert.ok(lines.some((line) => /^\d\d:\d\d:\d\d info {2}listening/.test(line)), output());
    assert.ok(lines.some((line) => /^\d\d:\d\d:\d\d info {2}sites ready/.test(line)), output());
    assert.deepEqual(lines.filter((line) => line.startsWith('{')), [], 'no JSON line');
  });

  it('keeps JSON with --log-format json', async (t) => {
    const output = await serveOnTerminal(t, ['--log-format', 'json']);
    await waitFor(() => (/sites ready/.test(output()) ? true : undefined), 'the server to be ready', 60_000, 100);
    const lines = output().split(/\r?\n/).filter((line) => line.trim() !== '');
    assert.ok(lines.length > 0);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line);
  });

  it('refuses a format it does not know', () => {
    const result = spawnSync(process.execPath, [CLI, 'serve', '--log-format', 'xml'], { encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--log-format "xml" is not a format; use json or text/);
  });
});
