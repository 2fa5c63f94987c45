import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it, type TestContext } from 'node:test';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.ts';
import { parseExposition, total, type ParsedExposition } from '../helpers/prometheus-text.ts';
import { tempDir } from '../helpers/temp.ts';
import { createRepo, git } from '../helpers/git.ts';
import { deployConfig } from '../helpers/deploy-config.ts';
import { githubPushTo } from '../helpers/github-push.ts';
import { uniqueBuildUidBase } from '../helpers/build-uids.ts';
import { eventually } from '../helpers/server.ts';

const cli = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const SECRET = 'metrics-webhook-secret-0123';

const TOKEN = 'metrics-token-0123456789abcdef';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { connection: 'close', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metricsPort(s: ServeProcess): Promise<number> {
  const line = await s.waitForLine((candidate) => candidate.msg === 'metrics listening', 10_000);
  assert.ok(typeof line?.port === 'number', `no metrics listening line: ${JSON.stringify(s.lines)}`);
  return line.port;
}

/** Scrapes until `done` holds (the last answers are counted when their connections close), or fails with the last scrape. */
async function scrapeUntil(port: number, done: (parsed: ParsedExposition) => boolean, headers: Record<string, string> = {}): Promise<ParsedExposition> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await get(port, '/_berth/metrics', headers);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const parsed = parseExposition(answer.body);
    if (done(parsed)) return parsed;
    if (Date.now() > deadline) assert.fail(`the scrape never matched:\n${answer.body}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function serve(t: TestContext, tables: string): Promise<ServeProcess> {
  return startServeProcess(t, { server: 'workers = 2\naccess_log = false', tables, files: { 'index.html': '<!doctype html><title>hi</title>hello\n' } });
}

describe('berth serve metrics', () => {
  it('sums the counts of every serving worker, and no Host header or path a client sends adds a label value', async (t) => {
    const s = await serve(t, '[metrics]\nlisten = "127.0.0.1:0"');
    const port = await metricsPort(s);
    const sent = { site: 0, other: 0 };
    // One connection each, so that the kernel spreads them over both workers.
    for (let i = 0; i < 60; i++) {
      const answer = await get(s.httpPort, i % 3 === 0 ? '/' : `/missing-${Math.random().toString(36).slice(2)}`, { host: 'localhost' });
      assert.ok(answer.status === 200 || answer.status === 404, String(answer.status));
      sent.site++;
    }
    for (let i = 0; i < 40; i++) {
      await get(s.httpPort, `/${Math.random().toString(36).slice(2)}`, { host: `random-${Math.random().toString(36).slice(2)}.example` });
      sent.other++;
    }
    await get(s.httpPort, '/', { host: 'localhost' }, 'HEAD');
    sent.site++;
    const parsed = await scrapeUntil(port, (scrape) => total(scrape, 'berth_http_requests_total') >= sent.site + sent.other && total(scrape, 'berth_metrics_scrape_processes') === 3);
    assert.equal(total(parsed, 'berth_http_requests_total'), sent.site + sent.other);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: 'site' }), sent.site);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_other' }), sent.other);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: 'site', code: '2xx', method: 'GET' }), 20);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: 'site', code: '2xx', method: 'HEAD' }), 1);
    assert.equal(total(parsed, 'berth_http_request_duration_seconds_count'), sent.site + sent.other);
    assert.ok(total(parsed, 'berth_http_response_body_bytes_total', { site: 'site' }) >= 20 * 40);
    const labels = parsed.samples.filter((sample) => sample.name === 'berth_http_requests_total' || sample.name === 'berth_http_request_duration_seconds_bucket');
    assert.deepEqual(new Set(labels.map((sample) => sample.labels.site)), new Set(['site', '_other']));
    assert.ok(parsed.samples.length < 80, `series: ${parsed.samples.length}`);
    // Two workers and the control plane answered; nobody was left out.
    assert.equal(total(parsed, 'berth_metrics_scrape_processes'), 3);
    assert.equal(total(parsed, 'berth_metrics_scrape_missing_processes'), 0);
    assert.equal(total(parsed, 'berth_http_requests_in_flight'), 0);
    assert.equal(total(parsed, 'berth_deploy_queue_depth'), 0);
  });

  it('counts the admin domain\'s requests under _admin, whatever Host spelling reaches it', async (t) => {
    const s = await serve(t, '[metrics]\nlisten = "127.0.0.1:0"\n[admin]\ndomain = "admin.localhost"');
    const port = await metricsPort(s);
    // Until the control plane's admin socket is up the workers answer 503; then the admin app answers 404 (no admin exists).
    // Wait for the 404 so that the spellings below get one answer each, whichever process was quicker to start.
    let waiting = 0;
    const up = await eventually(async () => {
      waiting++;
      const answer = await get(s.httpPort, '/', { host: 'admin.localhost' });
      assert.ok(answer.status === 503 || answer.status === 404, `${answer.status} ${answer.body}`);
      return answer.status === 404 && answer.body.includes('E_ADMIN_NONE');
    }, 20_000);
    assert.ok(up, 'the admin app never answered');
    for (const host of ['admin.localhost', 'ADMIN.localhost:80', 'admin.localhost.']) {
      const answer = await get(s.httpPort, '/', { host });
      assert.equal(answer.status, 404, `${host}: ${answer.body}`);
      assert.match(answer.body, /E_ADMIN_NONE/);
    }
    assert.equal((await get(s.httpPort, '/_berth/health', { host: 'admin.localhost' })).status, 200);
    const sent = waiting + 4;
    const parsed = await scrapeUntil(port, (scrape) => total(scrape, 'berth_http_requests_total', { site: '_admin' }) >= sent);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_admin' }), sent);
    // Every wait but the last was answered 503, the last and the three spellings 404, the health check 200.
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_admin', code: '5xx' }), waiting - 1);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_admin', code: '4xx' }), 4);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_admin', code: '2xx' }), 1);
    assert.equal(total(parsed, 'berth_http_requests_total', { site: '_other' }), 0);
  });

  it('counts TLS handshakes and the ones that fail, over every worker', async (t) => {
    const s = await serve(t, '[metrics]\nlisten = "127.0.0.1:0"');
    const port = await metricsPort(s);
    const before = await scrapeUntil(port, (scrape) => total(scrape, 'berth_metrics_scrape_processes') === 3);
    assert.equal(total(before, 'berth_tls_handshakes_total'), 0);
    // Each a request and its answer, so that the server has read the client's last handshake message before the connection ends.
    for (let i = 0; i < 4; i++) {
      const answer = await new Promise<number>((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port: s.httpsPort, servername: 'localhost', path: '/', headers: { host: 'localhost', connection: 'close' }, rejectUnauthorized: false, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(answer, 200);
    }
    // Not TLS at all, and a TLS client that asks for no protocol the server has: both fail their handshake.
    for (let i = 0; i < 2; i++) {
      const plain = netConnect({ host: '127.0.0.1', port: s.httpsPort });
      await once(plain, 'connect');
      plain.end('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
      await once(plain, 'close');
    }
    const old = connect({ host: '127.0.0.1', port: s.httpsPort, servername: 'localhost', rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    await once(old, 'error').catch(() => undefined);
    old.destroy();
    const parsed = await scrapeUntil(port, (scrape) => total(scrape, 'berth_tls_handshakes_total') >= 4 && total(scrape, 'berth_tls_handshake_failures_total') >= 3);
    assert.equal(total(parsed, 'berth_tls_handshakes_total'), 4);
    assert.equal(total(parsed, 'berth_tls_handshake_failures_total'), 3);
    assert.equal(s.workerDeaths().length, 0);
  });

  it('counts webhook deliveries by forge and result, a site name from the URL never a label', async (t) => {
    const s = await serve(t, '[metrics]\nlisten = "127.0.0.1:0"');
    const port = await metricsPort(s);
    for (let i = 0; i < 3; i++) {
      const answer = await get(s.httpPort, `/_berth/hooks/nosuch-${i}`, { host: 'localhost', 'x-hub-signature-256': 'sha256=00', 'content-length': '0' }, 'POST');
      assert.equal(answer.status, 401);
    }
    const parsed = await scrapeUntil(port, (scrape) => total(scrape, 'berth_webhook_deliveries_total') >= 3);
    assert.equal(total(parsed, 'berth_webhook_deliveries_total', { forge: 'unknown', result: 'bad_signature' }), 3);
    assert.equal(parsed.samples.filter((sample) => sample.name === 'berth_webhook_deliveries_total').length, 1);
  });

  it('answers only GET /_berth/metrics, and with a token only a request that bears it', async (t) => {
    // A file, which every command reads (berth publish too), like a secret the server's environment has.
    const tokenFile = join(await tempDir(t), 'metrics-token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const s = await serve(t, `[metrics]\nlisten = "127.0.0.1:0"\ntoken_file = ${JSON.stringify(tokenFile)}`);
    const port = await metricsPort(s);
    assert.equal((await get(port, '/_berth/metrics')).status, 401);
    assert.equal((await get(port, '/_berth/metrics', { authorization: `Bearer ${TOKEN}x` })).status, 401);
    assert.equal((await get(port, '/_berth/metrics', { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` })).status, 401);
    const refused = await get(port, '/_berth/metrics', { authorization: 'Bearer ' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer realm="berth metrics"');
    assert.doesNotMatch(refused.body, /berth_/);
    await scrapeUntil(port, (scrape) => scrape.types.get('berth_metrics_scrape_processes') === 'gauge', { authorization: `Bearer ${TOKEN}` });
    assert.equal((await get(port, '/')).status, 404);
    assert.equal((await get(port, '/_berth/metrics/x')).status, 404);
    assert.equal((await get(port, '/_berth/health')).status, 404);
    const posted = await get(port, '/_berth/metrics', { authorization: `Bearer ${TOKEN}` }, 'POST');
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.allow, 'GET, HEAD');
  });

  it('opens no listener and counts nothing with listen = false', async (t) => {
    const s = await serve(t, '[metrics]\nlisten = false');
    assert.equal(s.lines.some((line) => line.msg === 'metrics listening'), false);
    assert.equal((await get(s.httpPort, '/', { host: 'localhost' })).status, 200);
  });

  it('counts a deploy by site, trigger and result with its phases and last success, and the webhook deliveries that asked for it', async (t) => {
    const root = await tempDir(t, 'berth-metrics-');
    await chmod(root, 0o755);
    await mkdir(join(root, 'git'));
    const repo = await createRepo(join(root, 'git'), { 'index.html': 'v1' });
    const config = join(root, 'berth.toml');
    await writeFile(
      config,
      `${deployConfig({ repo: repo.bare, buildUidBase: uniqueBuildUidBase(), more: ['[sites.webhook]', 'forge = "github"', `secret = "${SECRET}"`] })}\n[metrics]\nlisten = "127.0.0.1:0"\n`,
    );
    const child = spawn(process.execPath, [cli, 'serve', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
    t.after(() => child.kill('SIGKILL'));
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    assert.ok(await eventually(async () => ['metrics listening', 'control plane ready', 'listening'].every((msg) => lines.some((line) => line.msg === msg)), 60_000), JSON.stringify(lines));
    const port = lines.find((line) => line.msg === 'metrics listening')?.port as number;
    // The workers say they listen in their own time, which may be after the control plane is ready.
    const http = lines.find((line) => line.msg === 'listening')?.http as number;
    const head = git(repo.work, 'rev-parse', 'HEAD').trim();
    assert.equal((await githubPushTo(http, SECRET, { ref: 'refs/heads/main', after: head }, 'delivery-1')).status, 202);
    assert.equal((await githubPushTo(http, SECRET, { ref: 'refs/heads/main', after: head }, 'delivery-1')).status, 200);
    // Counted live as the record says so; the queue lets the deploy go a moment later, once its housekeeping is done.
    const parsed = await scrapeUntil(port, (scrape) => total(scrape, 'berth_deploys_total') >= 1 && total(scrape, 'berth_deploy_queue_depth') === 0);
    assert.equal(total(parsed, 'berth_deploys_total', { site: 'blog', trigger: 'webhook', result: 'live' }), 1);
    assert.equal(total(parsed, 'berth_webhook_deliveries_total', { forge: 'github', result: 'accepted' }), 1);
    assert.equal(total(parsed, 'berth_webhook_deliveries_total', { forge: 'github', result: 'duplicate' }), 1);
    for (const phase of ['queued', 'fetch', 'build', 'publish', 'smoke', 'activate']) {
      assert.equal(total(parsed, 'berth_deploy_phase_duration_seconds_count', { site: 'blog', phase }), 1, phase);
    }
    const last = total(parsed, 'berth_deploy_last_success_timestamp_seconds', { site: 'blog' });
    assert.ok(last > Date.now() / 1000 - 120 && last <= Date.now() / 1000 + 1, String(last));
    assert.equal(total(parsed, 'berth_deploy_queue_depth'), 0);
  });
});
