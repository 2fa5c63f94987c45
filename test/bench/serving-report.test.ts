import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairedRatio, renderSection, summarizeCell, type Cell, type Results, type ServerRound } from '../../bench/lib/report.ts';
import type { ServerName } from '../../bench/lib/servers.ts';

const cell = (rps: number, p99Ms: number, meanMs = p99Ms): Cell => ({ rps, requests: rps * 8, p50Ms: p99Ms / 2, p99Ms, meanMs, non2xx: 0, errors: 0 });

/** One turn measuring /style.css over plain HTTP and HTTP/2, with `kib` as every memory figure. */
function turn(round: number, rps: number, p99Ms: number, kib: number, h2Mean = p99Ms): ServerRound {
  return {
    round,
    position: 1,
    ok: true,
    idleRssKiB: kib,
    rssAfterKiB: { http: kib, https: kib, h2: kib },
    cells: { http: { css: cell(rps, p99Ms) }, h2: { css: cell(rps, 0, h2Mean) } },
  };
}

function results(servers: Partial<Record<ServerName, ServerRound[]>>, rounds = 3): Results {
  const label: Record<ServerName, string> = { nginx: 'nginx', caddy: 'Caddy', berth: 'Berth', 'berth-before': 'Berth before issue 13 (bb55809)', bare: 'bare Node' };
  return {
    startedAt: '2026-12-03T19:00:00.000Z',
    finishedAt: '2026-12-03T19:20:00.000Z',
    command: 'npm run bench',
    settings: { rounds, durationSeconds: 8, warmupSeconds: 1, threads: 2, connections: 64, h2: true, h2Streams: 10, publishes: 0 },
    machine: { cores: '2' },
    files: {
      css: { path: '/style.css', bytes: 1024 },
      html: { path: '/index.html', bytes: 10240 },
      image: { path: '/image.jpg', bytes: 204800 },
    },
    order: [
      ['nginx', 'caddy', 'berth'],
      ['caddy', 'berth', 'nginx'],
      ['berth', 'nginx', 'caddy'],
    ].slice(0, rounds) as ServerName[][],
    servers: Object.fromEntries(Object.entries(servers).map(([n, turns]) => [n, { label: label[n as ServerName], ok: true, rounds: turns }])),
    publishUnderLoad: {},
    notes: [],
  };
}

/** The cells of the table row that starts with `first`, in the part of `md` after `heading`. */
function row(md: string, heading: string, first: string): string[] {
  const part = md.slice(md.indexOf(heading));
  const line = part.split('\n').find((l) => l.startsWith(`| ${first} |`));
  assert.ok(line, `no row "${first}" after "${heading}"`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

test('a cell is the median req/s of the rounds with their range, and the median of their p99', () => {
  const r = results({ berth: [turn(1, 30_000, 4, 0), turn(2, 10_000, 9, 0), turn(3, 20_000, 2, 0)] });
  assert.deepEqual(summarizeCell(r, 'berth', 'http', 'css'), {
    rps: { median: 20_000, min: 10_000, max: 30_000, count: 3 },
    latencyMs: 4,
    serverUsPerRequest: undefined,
    serverCores: undefined,
    loadCores: undefined,
    flagged: false,
  });
  assert.equal(summarizeCell(r, 'berth', 'http', 'html'), undefined);
});

test('HTTP/2 latency is the median of the rounds\' mean, as h2load reports no percentiles', () => {
  const r = results({ berth: [turn(1, 1000, 1, 0, 30), turn(2, 1000, 1, 0, 10), turn(3, 1000, 1, 0, 20)] });
  assert.equal(summarizeCell(r, 'berth', 'h2', 'css')?.latencyMs, 20);
});

test('the ratios to nginx and Berth/bare divide the medians, not the rounds one by one', () => {
  // Round by round Berth/nginx is 1.5, 0.25 and 0.33 (median 0.33); the medians give 100/200.
  const r = results({
    nginx: [turn(1, 100, 1, 0), turn(2, 200, 1, 0), turn(3, 300, 1, 0)],
    caddy: [turn(1, 40, 1, 0), turn(2, 50, 1, 0), turn(3, 60, 1, 0)],
    berth: [turn(1, 150, 1, 0), turn(2, 50, 1, 0), turn(3, 100, 1, 0)],
    bare: [turn(1, 160, 1, 0), turn(2, 400, 1, 0), turn(3, 125, 1, 0)],
  });
  const cols = row(renderSection(r, 'bench/results/x.json'), '### HTTP/1.1, plain', '/style.css (1 KiB)');
  assert.deepEqual(cols, ['/style.css (1 KiB)', '200 (100–300)', '50 (40–60)', '100 (50–150)', '160 (125–400)', '0.50×', '0.25×', '0.80×', '0.63×']);
});

test('the table heads name each server and each ratio in the order of the cells', () => {
  const r = results({ nginx: [turn(1, 100, 1, 0)] }, 1);
  const md = renderSection(r, 'x.json');
  const part = md.slice(md.indexOf('### HTTP/1.1, plain'));
  const head = part.split('\n').find((l) => l.startsWith('| file |'));
  assert.equal(head, '| file | nginx req/s | Caddy req/s | Berth req/s | bare Node req/s | Berth/nginx | Caddy/nginx | bare Node/nginx | Berth/bare Node |');
});

test('a ratio with a server that measured nothing is a dash, not 0 or NaN', () => {
  const r = results({ nginx: [turn(1, 100, 1, 0), turn(2, 100, 1, 0), turn(3, 100, 1, 0)], berth: [turn(1, 50, 1, 0), turn(2, 50, 1, 0), turn(3, 50, 1, 0)] });
  const cols = row(renderSection(r, 'x.json'), '### HTTP/1.1, plain', '/style.css (1 KiB)');
  assert.deepEqual(cols.slice(5), ['0.50×', '—', '—', '—']);
});

test('the range is written in thousands, and a cell some rounds missed says how many measured it', () => {
  const r = results({ nginx: [turn(1, 158_789, 1, 0), turn(2, 150_123, 1, 0), turn(3, 161_456, 1, 0)], berth: [turn(2, 9359, 1, 0), turn(3, 9120, 1, 0)] });
  const cols = row(renderSection(r, 'bench/results/x.json'), '### HTTP/1.1, plain', '/style.css (1 KiB)');
  assert.equal(cols[1], '158,789 (150k–161k)');
  assert.equal(cols[3], '9,240 (9.12k–9.36k, 2 of 3 rounds)');
});

test('a cell where some round had non-2xx responses or socket errors is marked', () => {
  const bad = turn(2, 100, 1, 0);
  const c = bad.cells.http?.css;
  assert.ok(c);
  c.errors = 3;
  const r = results({ berth: [turn(1, 100, 1, 0), bad, turn(3, 100, 1, 0)] });
  assert.equal(summarizeCell(r, 'berth', 'http', 'css')?.flagged, true);
  assert.match(row(renderSection(r, 'x.json'), '### HTTP/1.1, plain', '/style.css (1 KiB)')[3] ?? '', /⚠$/);
});

test('the latency table shows the median p99 of each server', () => {
  const r = results({ nginx: [turn(1, 1, 2, 0), turn(2, 1, 3, 0), turn(3, 1, 1, 0)], berth: [turn(1, 1, 12, 0), turn(2, 1, 14, 0), turn(3, 1, 13, 0)] });
  const md = renderSection(r, 'x.json');
  assert.deepEqual(row(md, '### Latency', 'HTTP/1.1, plain: /style.css (1 KiB)'), ['HTTP/1.1, plain: /style.css (1 KiB)', '2.00 ms', '13.0 ms']);
});

test('the memory table is round 1\'s, whichever round measured more', () => {
  const mib = 1024;
  const r = results({ berth: [turn(2, 1, 1, 50 * mib), turn(1, 1, 1, 20 * mib), turn(3, 1, 1, 70 * mib)] });
  const md = renderSection(r, 'x.json');
  assert.deepEqual(row(md, '### Memory', 'idle, after one request'), ['idle, after one request', '20.0 MiB']);
  assert.match(md, /in round 1/);
});

test('the section says how many rounds ran, in which orders, and the command that reproduces them', () => {
  const r = results({ nginx: [turn(1, 1, 1, 0), turn(2, 1, 1, 0), turn(3, 1, 1, 0)] });
  r.command = 'BENCH_DURATION=4 npm run bench';
  const md = renderSection(r, 'bench/results/x.json');
  assert.match(md, /Measured by `BENCH_DURATION=4 npm run bench`/);
  assert.match(md, /The run has 3 rounds/);
  assert.match(md, /round 1: nginx, Caddy, Berth; round 2: Caddy, Berth, nginx; round 3: Berth, nginx, Caddy/);
});

test('a failed round is named in the notes with its error', () => {
  const failed: ServerRound = { round: 2, position: 3, ok: false, error: 'Caddy does not serve the site correctly:\n  details', cells: {} };
  const r = results({ caddy: [turn(1, 1, 1, 0), failed, turn(3, 1, 1, 0)] });
  assert.match(renderSection(r, 'x.json'), /^- Caddy failed in round 2: Caddy does not serve the site correctly:$/m);
});

/** A turn whose /style.css cell over plain HTTP used `server` and `load` CPU seconds over `seconds`. */
function cpuTurn(round: number, requests: number, seconds: number, server: number, load: number): ServerRound {
  const c: Cell = { rps: requests / seconds, requests, seconds, p99Ms: 1, non2xx: 0, errors: 0, serverCpuSeconds: server, loadCpuSeconds: load };
  return { round, position: 1, ok: true, cells: { http: { css: c } } };
}

test('server CPU per request and the cores each side kept busy are the medians over the rounds', () => {
  // µs per request: 10, 30, 20 -> 20. Server cores: 0.5, 1.5, 1.0 -> 1.0. Load cores: 0.2, 0.6, 0.4 -> 0.4.
  const r = results({ berth: [cpuTurn(1, 100_000, 2, 1, 0.4), cpuTurn(2, 100_000, 2, 3, 1.2), cpuTurn(3, 100_000, 2, 2, 0.8)] });
  const c = summarizeCell(r, 'berth', 'http', 'css');
  assert.equal(c?.serverUsPerRequest, 20);
  assert.equal(c?.serverCores, 1);
  assert.equal(c?.loadCores, 0.4);
  const md = renderSection(r, 'x.json');
  assert.deepEqual(row(md, 'Server CPU time per request', 'HTTP/1.1, plain: /style.css (1 KiB)'), ['HTTP/1.1, plain: /style.css (1 KiB)', '20.0']);
  assert.deepEqual(row(md, 'Cores kept busy', 'HTTP/1.1, plain: /style.css (1 KiB)'), ['HTTP/1.1, plain: /style.css (1 KiB)', '1.00 / 0.40']);
});

test('a cell measured without CPU times shows a dash in the CPU tables', () => {
  const r = results({ nginx: [turn(1, 100, 1, 0), turn(2, 100, 1, 0), turn(3, 100, 1, 0)] });
  assert.equal(summarizeCell(r, 'nginx', 'http', 'css')?.serverUsPerRequest, undefined);
  assert.deepEqual(row(renderSection(r, 'x.json'), 'Cores kept busy', 'HTTP/1.1, plain: /style.css (1 KiB)').slice(1), ['—']);
});

test('the pinned table names the CPUs of each side and how many processes each server started there', () => {
  const pinnedTurn = (round: number, rps: number): ServerRound => ({
    round,
    position: 1,
    ok: true,
    pinnedProcesses: 2,
    cells: { pinned: { css: cell(rps, 1), html: cell(rps / 2, 1) } },
  });
  const r = results({ nginx: [pinnedTurn(1, 100), pinnedTurn(2, 100), pinnedTurn(3, 100)], berth: [pinnedTurn(1, 80), pinnedTurn(2, 90), pinnedTurn(3, 70)] });
  r.settings.pinned = { server: '0', load: '1' };
  const md = renderSection(r, 'x.json');
  assert.match(md, /### Pinned: server and load generator on separate cores/);
  assert.match(md, /`taskset -c 0`.*\n`taskset -c 1`/);
  assert.match(md, /processes in each tree: nginx 2; Berth 2\./);
  assert.equal(row(md, '### Pinned', '/style.css (1 KiB)')[5], '0.80×');
  assert.equal(row(md, '### Pinned', '/index.html (10 KiB)')[5], '0.80×');
});

test('without pinned measurements there is no pinned table', () => {
  const r = results({ nginx: [turn(1, 100, 1, 0)] }, 1);
  assert.doesNotMatch(renderSection(r, 'x.json'), /### Pinned/);
});

test('the compressed row says what each server sent, and whether nginx had brotli', () => {
  const compressedTurn = (round: number, encoding: string, bytes: number): ServerRound => ({
    round,
    position: 1,
    ok: true,
    compressedReply: { encoding, bytes },
    accessLogLines: 1234,
    cells: { compressed: { html: cell(500, 1) }, logged: { css: cell(400, 1) } },
  });
  const r = results({ nginx: [compressedTurn(1, 'gzip', 2506)], berth: [compressedTurn(1, 'br', 2011)] }, 1);
  r.settings.nginxBrotli = false;
  const md = renderSection(r, 'x.json');
  assert.match(md, /nginx gzip, 2,506 bytes; Berth br, 2,011 bytes\./);
  assert.match(md, /no `brotli_static`: Debian's libnginx-mod-http-brotli-static was not installed/);
  assert.match(md, /Lines written in round 1: nginx 1,234; Berth 1,234\./);
  assert.deepEqual(row(md, '### Compression and access logs', 'HTTP/1.1 over TLS, `Accept-Encoding: gzip, br`: /index.html (10 KiB)').slice(1, 4), ['500', '—', '500']);
  r.settings.nginxBrotli = true;
  assert.match(renderSection(r, 'x.json'), /`brotli_static on`/);
});

test('the section says its raw results are committed with it', () => {
  const r = results({ nginx: [turn(1, 1, 1, 0)] }, 1);
  assert.match(renderSection(r, 'bench/results/serving-x.json'), /are in `bench\/results\/serving-x\.json`, committed with this section\./);
});

test('a run that does not rewrite BENCHMARKS.md says its results file is not committed', () => {
  const r = results({ nginx: [turn(1, 1, 1, 0)] }, 1);
  assert.match(renderSection(r, 'bench/results/x.json', false), /are in `bench\/results\/x\.json` \(not committed\)\./);
});

/** Berth now and Berth before in the same three rounds, /style.css over plain HTTP. */
function nowAndBefore(now: number[], before: number[]): Results {
  const r = results({ berth: now.map((rps, i) => turn(i + 1, rps, 1, 0)), 'berth-before': before.map((rps, i) => turn(i + 1, rps, 1, 0)) });
  r.baseline = { ref: 'bb55809', commit: 'bb55809'.padEnd(40, '0'), label: 'Berth before issue 13 (bb55809)' };
  return r;
}

test('now / before divides the medians, with the lowest and highest ratio of one round\'s two turns', () => {
  // Rounds: 110/100, 90/100, 120/80 -> 1.10, 0.90, 1.50; medians 110/100.
  const r = nowAndBefore([110, 90, 120], [100, 100, 80]);
  assert.equal(pairedRatio(r, 'berth', 'berth-before', 'http', 'css'), '1.10× (0.90–1.50)');
  assert.equal(pairedRatio(r, 'berth', 'berth-before', 'http', 'html'), '—');
});

test('a round only one of the two measured gives no round ratio, and one round gives no range', () => {
  const r = nowAndBefore([100, 200], [50]);
  assert.equal(pairedRatio(r, 'berth', 'berth-before', 'http', 'css'), '3.00×');
});

test('with the earlier Berth, the section has its table and names its commit; the req/s tables keep their columns', () => {
  const md = renderSection(nowAndBefore([110, 90, 120], [100, 100, 80]), 'x.json');
  assert.match(md, /### Berth now against Berth before issue 13 \(bb55809\)/);
  assert.match(md, /commit\s+`bb558090{33}` \(`BENCH_BASELINE=bb55809`\)/);
  assert.deepEqual(row(md, '### Berth now against', 'HTTP/1.1, plain: /style.css (1 KiB)'), [
    'HTTP/1.1, plain: /style.css (1 KiB)',
    '110 (90–120)',
    '100 (80–100)',
    '1.10× (0.90–1.50)',
  ]);
  assert.equal(row(md, '### HTTP/1.1, plain', '/style.css (1 KiB)').length, 9);
  assert.deepEqual(row(md, '### Latency', 'HTTP/1.1, plain: /style.css (1 KiB)').length, 3);
});

test('without the earlier Berth there is no table for it', () => {
  const r = results({ berth: [turn(1, 100, 1, 0)] }, 1);
  assert.doesNotMatch(renderSection(r, 'x.json'), /Berth now against|BENCH_BASELINE/);
});
