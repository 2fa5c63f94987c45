import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { get } from '../helpers/server.ts';
import { startServeProcess } from '../helpers/serve-process.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';
import { main } from '../../src/cli/main.ts';
import { PassThrough } from 'node:stream';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

test('serve with several workers shares one port, serves, and stops cleanly on SIGTERM', async (t) => {
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    ['data_dir = "data"', '[server]', 'host = "127.0.0.1"', 'http_port = 0', 'https_port = 0', 'workers = 2', '[acme]', 'directory = "off"', '[[sites]]', 'name = "site"', 'domains = ["localhost"]'].join('\n'),
  );
  await writeTree(join(root, 'out'), { 'index.html': 'from a worker' });
  const sink = new PassThrough();
  const code = await main(['publish', join(root, 'out'), '--config', config], { stdout: sink, stderr: sink, env: {}, cwd: root });
  assert.equal(code, 0);

  const child = spawn(process.execPath, [cli, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  const listening = new Promise<Array<Record<string, unknown>>>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
      const ready = lines.filter((entry) => entry.msg === 'listening');
      // Listening comes before the release is loaded; both workers must have loaded it too.
      if (ready.length === 2 && lines.filter((entry) => entry.msg === 'sites ready').length === 2) resolve(ready);
    });
  });
  const ready = await listening;
  const ports = new Set(ready.map((entry) => entry.http));
  assert.equal(ports.size, 1, 'both workers listen on the same port');
  const workers = new Set(ready.map((entry) => entry.worker));
  assert.equal(workers.size, 2, 'two worker processes');
  const port = [...ports][0] as number;
  for (let i = 0; i < 10; i++) {
    const res = await get(port, '/');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'from a worker');
  }
  // A worker that dies is replaced, and the site keeps answering.
  process.kill([...workers][0] as number, 'SIGKILL');
  // Only a guard against a hang: generous, so a busy machine never reaches it.
  const deadline = Date.now() + 60_000;
  while (lines.filter((entry) => entry.msg === 'listening').length < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(lines.some((entry) => entry.msg === 'worker exited; starting another'), 'the death was logged');
  assert.equal(lines.filter((entry) => entry.msg === 'listening').length, 3, 'a replacement worker started');
  assert.equal((await get(port, '/')).body.toString(), 'from a worker');

  child.kill('SIGTERM');
  const [exitCode] = (await once(child, 'exit')) as [number | null];
  assert.equal(exitCode, 0);
  assert.equal(lines.filter((entry) => entry.msg === 'stopped').length, 4, 'each worker, the control plane and the supervisor stopped');
});

test('serve whose port is taken exits 1 with E_LISTEN before starting any process', async (t) => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const taken = (blocker.address() as { port: number }).port;
  const root = await tempDir(t);
  const config = join(root, 'berth.toml');
  await writeFile(
    config,
    ['data_dir = "data"', '[server]', 'host = "127.0.0.1"', `http_port = ${taken}`, 'https_port = false', 'workers = 2', '[acme]', 'directory = "off"', '[[sites]]', 'name = "site"', 'domains = ["localhost"]'].join('\n'),
  );
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`Cannot listen on 127.0.0.1 port ${taken} \\(server.http_port\\): another program is using it.*\\[E_LISTEN\\]`));
  assert.doesNotMatch(output, /listening|control plane/);
});

test('SIGTERM lets a response in flight finish, stops the workers before the control plane, and exits 0', async (t) => {
  // Larger than the socket buffers hold, so the response is still being sent when the signal comes.
  const large = randomBytes(32 * 1024 * 1024);
  const server = await startServeProcess(t, { files: { 'large.bin': large }, server: 'workers = 2' });
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.httpPort, path: '/large.bin', headers: { host: 'localhost' }, agent: false }, resolve).on('error', reject).end();
  });
  assert.equal(response.statusCode, 200);
  response.pause();
  server.child.kill('SIGTERM');
  const draining = await server.waitForLine((line) => line.msg === 'shutting down; waiting for requests in flight' && line.worker !== undefined);
  assert.ok(draining !== undefined, 'a worker is draining');
  const hash = createHash('sha256');
  response.on('data', (chunk: Buffer) => hash.update(chunk));
  response.resume();
  await once(response, 'end');
  assert.equal(hash.digest('hex'), createHash('sha256').update(large).digest('hex'), 'the whole file arrived');
  const [code] = (await once(server.child, 'exit')) as [number | null];
  assert.equal(code, 0);
  const order = server.lines.map((line) => (line.msg === 'stopped' ? (line.worker !== undefined ? 'worker' : line.controlPlane !== undefined ? 'control plane' : 'supervisor') : undefined));
  assert.deepEqual(order.filter((role) => role !== undefined), ['worker', 'worker', 'control plane', 'supervisor']);
  const controlStopping = server.lines.findIndex((line) => line.msg === 'control plane stopping; waiting for deploys to end');
  const lastWorkerStopped = server.lines.findLastIndex((line) => line.msg === 'stopped' && line.worker !== undefined);
  assert.ok(lastWorkerStopped < controlStopping, 'the control plane is asked to stop only after every worker has stopped');
});
