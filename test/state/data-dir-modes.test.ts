import assert from 'node:assert/strict';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log/logger.ts';
import { reportDataDirModes, secureDataDir } from '../../src/state/data-dir-modes.ts';
import { tempDir } from '../helpers/temp.ts';

/** A logger whose lines are collected, parsed. */
function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

describe('data dir modes', () => {
  it('lets builds through a new data dir at info, without warning that anything was left readable', async (t) => {
    const data = join(await tempDir(t, 'berth-modes-'), 'data');
    await mkdir(join(data, 'sites', 'blog'), { recursive: true, mode: 0o700 });
    const result = await secureDataDir(data, new Map([['blog', 204_242]]));
    assert.ok(result.fixed.length > 0);
    assert.deepEqual(new Set(result.fixed.map((fix) => fix.kind)), new Set(['builds']));
    assert.equal((await stat(data)).mode & 0o777, 0o711);
    const site = await stat(join(data, 'sites', 'blog'));
    assert.deepEqual([site.gid, site.mode & 0o777], [204_242, 0o710]);

    const { logger, lines } = collectingLogger();
    const deployLog: string[] = [];
    reportDataDirModes(result, logger, (line) => deployLog.push(line));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(lines.map((line) => [line.level, line.msg]), [['info', 'let site builds through data_dir']]);
    assert.equal(deployLog.length, 1);
    assert.match(deployLog[0] ?? '', /^let site builds through \d+ paths under data_dir: /);
  });

  it('leaves serve.lock as the root supervisor wrote it, readable by all, and hands the rest to the service user', async (t) => {
    const data = join(await tempDir(t, 'berth-modes-'), 'data');
    await mkdir(data, { mode: 0o700 });
    await writeFile(join(data, 'serve.lock'), '{"pid":1}\n', { mode: 0o644 });
    await chmod(join(data, 'serve.lock'), 0o644);
    await mkdir(join(data, 'logs', 'deploys'), { recursive: true, mode: 0o700 });
    await writeFile(join(data, 'logs', 'deploys', 'old.log'), 'old\n', { mode: 0o600 });
    const service = { uid: 4242, gid: 4343 };
    const result = await secureDataDir(data, new Map([['blog', 204_242]]), service);
    const lock = await stat(join(data, 'serve.lock'));
    assert.deepEqual([lock.uid, lock.mode & 0o777], [0, 0o644]);
    for (const path of [data, join(data, 'logs'), join(data, 'logs', 'deploys', 'old.log')]) {
      const info = await stat(path);
      assert.deepEqual([info.uid, info.gid], [service.uid, service.gid], path);
    }
    assert.ok(result.fixed.some((fix) => fix.kind === 'service' && fix.path === join(data, 'logs')), JSON.stringify(result.fixed));
    assert.deepEqual(result.failed, []);
  });

  it('warns when it takes access away that something had left, and says which paths', async (t) => {
    const data = join(await tempDir(t, 'berth-modes-'), 'data');
    await mkdir(data, { mode: 0o700 });
    await mkdir(join(data, 'logs'));
    await chmod(join(data, 'logs'), 0o755);
    const result = await secureDataDir(data, undefined);
    const closed = result.fixed.filter((fix) => fix.kind === 'private');
    assert.deepEqual(closed.map((fix) => [fix.path, fix.change]), [[join(data, 'logs'), 'mode 755 -> 700']]);

    const { logger, lines } = collectingLogger();
    reportDataDirModes(result, logger);
    await new Promise((resolve) => setImmediate(resolve));
    const warned = lines.find((line) => line.msg === 'made paths under data_dir private');
    assert.equal(warned?.level, 'warn');
    assert.deepEqual((warned?.fixed as Array<{ path: string }>).map((fix) => fix.path), [join(data, 'logs')]);
  });
});
