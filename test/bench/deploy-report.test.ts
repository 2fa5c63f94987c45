import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  publishStats,
  pushStats,
  renderDeploySection,
  spreadCell,
  updateDeploysSection,
  workerMemory,
  type DeployResults,
  type PublishPart,
  type PushPart,
} from '../../bench/lib/deploy-report.ts';
import { spread } from '../../bench/lib/rounds.ts';
import type { ProcessReading } from '../../bench/lib/tree-memory.ts';

const MIB = 1024;

/** A push part whose Berth pushes went live after `berthMs` and whose script runs took `scriptMs` (marker served at half). */
function pushPart(files: number, berthMs: Array<number | undefined>, scriptMs: number[]): PushPart {
  return {
    files,
    pushes: berthMs.length,
    changed: 10,
    order: berthMs.map((_, i) => (i % 2 === 0 ? ['Berth', 'script'] : ['script', 'Berth'])),
    berth: { samples: berthMs.map((liveMs, i) => ({ marker: `m${i + 1}`, delivery: `d${i + 1}`, hookStatus: 202, hookMs: 3, liveMs, everyMs: liveMs === undefined ? undefined : liveMs + 5, polls: 4 })) },
    traditional: { samples: scriptMs.map((ms, i) => ({ marker: `m${i + 1}`, scriptMs: ms, liveMs: ms / 2, ok: true, polls: 9 })) },
  };
}

function proc(pid: number, role: ProcessReading['role'], rssMiB: number): ProcessReading {
  return { pid, role, comm: role === 'other' ? 'git' : 'node', rssKiB: rssMiB * MIB, pssKiB: (rssMiB / 2) * MIB, hwmKiB: (rssMiB + 5) * MIB };
}

function publishPart(files: number, berthServed: Array<number | undefined>, nginxServed: number[]): PublishPart {
  return {
    files,
    rounds: berthServed.length,
    changed: 10,
    berth: {
      samples: berthServed.map((servedMs, i) => ({ round: i + 1, marker: `p${i + 1}`, commandMs: 900, ok: servedMs !== undefined, servedMs, everyMs: servedMs === undefined ? undefined : servedMs + 10, polls: 1 })),
    },
    nginx: { samples: nginxServed.map((servedMs, i) => ({ round: i + 1, marker: `p${i + 1}`, commandMs: 60, ok: true, servedMs, polls: 1 })) },
  };
}

function results(push: PushPart[], publish?: PublishPart[]): DeployResults {
  return {
    startedAt: '2026-12-04T08:00:00.000Z',
    finishedAt: '2026-12-04T08:12:00.000Z',
    command: 'bash bench/deploy.sh',
    settings: {
      sizes: push.map((p) => p.files),
      pushes: push.map((p) => p.pushes),
      changed: 10,
      pollMs: 5,
      floodPushes: 1000,
      floodRate: 100,
      floodBuildSeconds: 1,
      rssSampleMs: 50,
      restarts: 3,
      publishSizes: publish?.map((p) => p.files),
      publishRounds: 5,
      rssSweep: true,
      settleSeconds: 30,
    },
    machine: { cores: '2' },
    push,
    publish,
    notes: [],
  };
}

/** The table row of `text` that starts with `| first | second`. */
function row(text: string, ...cells: string[]): string {
  const start = `| ${cells.join(' | ')} |`;
  const found = text.split('\n').find((l) => l.startsWith(start));
  assert.ok(found, `no row starting ${start} in:\n${text}`);
  return found;
}

function cellsOf(line: string): string[] {
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

test('a spread reads as the median with the range in brackets, one unit when all three share it', () => {
  assert.equal(spreadCell(spread([80, 95, 90])), '90 ms (80–95)');
  assert.equal(spreadCell(spread([8, 12, 9.5])), '9.5 ms (8.0–12)');
  assert.equal(spreadCell(spread([900, 1500, 1200])), '1,200 ms (900–1,500)');
  assert.equal(spreadCell(spread([9000, 12_000, 11_000])), '11.0 s (9,000 ms–12.0 s)');
  assert.equal(spreadCell(spread([42])), '42 ms');
  assert.equal(spreadCell(undefined), '—');
});

test('at 1,000 files push to live meets its target only at 100 ms or less and below the script finished', () => {
  const fast = pushStats(pushPart(1000, [90, 80, 100], [300, 280, 320]));
  assert.equal(fast.berth?.median, 90);
  assert.equal(fast.scriptFinished?.median, 300);
  assert.equal(fast.scriptServed?.median, 150);
  assert.equal(fast.met, true);
  // Under 100 ms but slower than the script: not met.
  assert.equal(pushStats(pushPart(1000, [90, 80, 100], [70, 60, 80])).met, false);
  // Exactly 100 ms and below the script: met (the issue says ≤).
  assert.equal(pushStats(pushPart(1000, [100, 100, 100], [200, 200, 200])).met, true);
  assert.equal(pushStats(pushPart(1000, [101, 90, 120], [400, 400, 400])).met, false);
  // No script figure to compare with: undecided, not met.
  const noScript = pushPart(1000, [50, 60, 70], []);
  noScript.traditional.error = 'nginx did not start';
  assert.equal(pushStats(noScript).met, undefined);
});

test('at 100,000 files push to live is held to 2 s alone, and a push that never went live leaves it undecided', () => {
  assert.equal(pushStats(pushPart(100_000, [1900, 2000, 1500], [800, 900, 700])).met, true);
  assert.equal(pushStats(pushPart(100_000, [2100, 2000, 2500], [9000, 9000, 9000])).met, false);
  const lost = pushStats(pushPart(100_000, [1000, undefined, 1200], [9000, 9000, 9000]));
  assert.equal(lost.berth, undefined);
  assert.equal(lost.met, undefined);
});

test('the push rows show Berth against the script in the same run as ratios, with the target and whether it was met', () => {
  const text = renderDeploySection(results([pushPart(1000, [90, 80, 100, 70, 95], [300, 280, 320, 310, 290]), pushPart(100_000, [2500, 2400, 2600], [8000, 9000, 8500])]), 'bench/results/x.json');
  const small = cellsOf(row(text, '1,000 files', '5'));
  assert.deepEqual(small, ['1,000 files', '5', '90 ms (70–100)', '300 ms (280–320)', '150 ms (140–160)', '0.30×', '0.60×', '≤ 100 ms, and below the script', 'yes']);
  const large = cellsOf(row(text, '100,000 files', '3'));
  assert.deepEqual(large, ['100,000 files', '3', '2,500 ms (2,400–2,600)', '8,500 ms (8,000–9,000)', '4,250 ms (4,000–4,500)', '0.29×', '0.59×', '≤ 2,000 ms', '**no**']);
  const target = cellsOf(row(text, 'push to live minus the build, 1,000 files, 10 changed (median of 5)'));
  assert.deepEqual(target.slice(1), ['≤ 100 ms, and below the script', '90 ms (70–100); script 300 ms, 0.30×', 'yes']);
  assert.equal(cellsOf(row(text, 'push to live minus the build, 100,000 files, 10 changed (median of 3)'))[3], '**no**');
  assert.match(text, /\| 1,000 files \| push 2 \| script \| ok \| 280 ms \| 140 ms \|/);
  // The phases table: first answer on the polling connection, then every answer on new connections.
  assert.deepEqual(cellsOf(row(text, '1,000 files', 'push 1', '—')).slice(9, 11), ['90 ms', '95 ms']);
});

test('memory is reported for every process by role, and each serving worker against 150 MiB', () => {
  const part = pushPart(100_000, [1500, 1600, 1700], [8000, 8000, 8000]);
  part.berth.memory = {
    live: [proc(12, 'worker', 140), proc(10, 'supervisor', 60), proc(11, 'control plane', 90), proc(13, 'worker', 120)],
    liveIdle: true,
    swept: [proc(10, 'supervisor', 60), proc(11, 'control plane', 90), proc(12, 'worker', 149), proc(13, 'worker', 160)],
    sweptIdle: true,
    sweep: { requests: 100_001, failures: 0, ms: 41_000 },
  };
  const text = renderDeploySection(results([part]), 'bench/results/x.json');
  assert.deepEqual(cellsOf(row(text, '100,000 files', 'supervisor')), ['100,000 files', 'supervisor', '60.0 MiB', '30.0 MiB', '65.0 MiB', '60.0 MiB', '30.0 MiB', '65.0 MiB', '—']);
  assert.deepEqual(cellsOf(row(text, '100,000 files', 'control plane')).slice(2, 3), ['90.0 MiB']);
  // Workers in pid order; the second grew past the bound once every file was asked for.
  assert.deepEqual(cellsOf(row(text, '100,000 files', 'serving worker 1')), ['100,000 files', 'serving worker 1', '140.0 MiB', '70.0 MiB', '145.0 MiB', '149.0 MiB', '74.5 MiB', '154.0 MiB', '≤ 150 MiB: yes']);
  assert.deepEqual(cellsOf(row(text, '100,000 files', 'serving worker 2')).at(-1), '≤ 150 MiB: **no**');
  assert.deepEqual(cellsOf(row(text, '100,000 files', '**all processes**')).slice(2, 4), ['410.0 MiB', '205.0 MiB']);
  const target = cellsOf(row(text, 'RSS per serving worker, 100,000-file site live after 3 pushes (largest of 2)'));
  assert.deepEqual(target.slice(1), ['≤ 150 MiB', '140.0 MiB; after every file: 160.0 MiB', '**no**']);
  assert.match(text, /100,001 files requested in 41\.0 s, 0 answered other than 200/);
  assert.deepEqual(workerMemory(part.berth.memory.live), { workers: 2, maxRssKiB: 140 * MIB, met: true });
  assert.deepEqual(workerMemory([proc(1, 'supervisor', 500)]), { workers: 0, maxRssKiB: undefined, met: undefined });
});

test('restart rows give Berth\'s start to the live release against nginx\'s in the same rounds', () => {
  const part = pushPart(100_000, [1500, 1600, 1700], [8000, 8000, 8000]);
  part.restart = {
    rounds: 3,
    marker: 'files-100000-push-3',
    order: [['Berth', 'nginx'], ['nginx', 'Berth'], ['Berth', 'nginx']],
    berth: [1200, 900, 1500].map((ms, i) => ({ round: i + 1, ms, polls: 100, failures: 90 })),
    nginx: [40, 60, 50].map((ms, i) => ({ round: i + 1, ms, polls: 5, failures: 3 })),
  };
  const text = renderDeploySection(results([part]), 'bench/results/x.json');
  assert.deepEqual(cellsOf(row(text, '100,000 files', '3', '1,200 ms (900–1,500)')), ['100,000 files', '3', '1,200 ms (900–1,500)', '50 ms (40–60)', '24.00×']);
  assert.deepEqual(cellsOf(row(text, '`berth serve` start → the 100,000-file site answers (median of 3)')).slice(1), ['measured (no figure set)', '1,200 ms (900–1,500)', '—']);
});

test('publish rows time the exit of berth publish to the new release served, against 100 ms and nginx after a copy', () => {
  const failed = publishPart(20_000, [30, undefined], [2]);
  failed.berth.error = 'berth publish exited 1';
  const text = renderDeploySection(results([], [publishPart(1000, [3, 2.5, 4, 3.5, 2], [2, 1.5, 2.5, 2, 3]), publishPart(20_000, [150, 90, 200, 120, 130], [2, 2, 2, 2, 2]), failed]), 'x.json');
  assert.deepEqual(cellsOf(row(text, '1,000 files', '5', '3.0 ms (2.0–4.0)')), ['1,000 files', '5', '3.0 ms (2.0–4.0)', '13 ms (12–14)', '2.0 ms (1.5–3.0)', '1.50×', '≤ 100 ms: yes']);
  assert.deepEqual(cellsOf(row(text, '1,000 files', '900 ms (900–900)')), ['1,000 files', '900 ms (900–900)', '60 ms (60–60)']);
  assert.deepEqual(cellsOf(row(text, '20,000 files', '5')).slice(2, 3).concat(cellsOf(row(text, '20,000 files', '5')).slice(-1)), ['130 ms (90–200)', '≤ 100 ms: **no**']);
  assert.deepEqual(cellsOf(row(text, '20,000 files', '2')).slice(2, 3).concat(cellsOf(row(text, '20,000 files', '2')).slice(-1)), ['failed', '≤ 100 ms: —']);
  assert.deepEqual(cellsOf(row(text, '`berth publish` exit → served, 1,000 files (median of 5)')).slice(1), ['≤ 100 ms', '3.0 ms (2.0–4.0)', 'yes']);
  assert.match(text, /Berth, 20,000 files, could not be measured: berth publish exited 1/);
  assert.equal(publishStats(failed).met, undefined);
});

test('the deploys section is rewritten between its own markers and nothing else in BENCHMARKS.md changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-report-'));
  try {
    const file = join(dir, 'BENCHMARKS.md');
    const before = '# Benchmarks\n\n<!-- BEGIN static-serving: written by bench/run.sh -->\nserving numbers\n<!-- END static-serving -->\n';
    writeFileSync(file, `${before}\n<!-- BEGIN deploys: written by bench/deploy.sh -->\nold deploys\n<!-- END deploys -->\n\ntrailing section\n`);
    const section = renderDeploySection(results([pushPart(1000, [90, 80, 100], [300, 280, 320])]), 'bench/results/deploy-x.json');
    updateDeploysSection(file, section);
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith(before));
    assert.ok(text.endsWith('<!-- END deploys -->\n\ntrailing section\n'));
    assert.ok(!text.includes('old deploys'));
    assert.ok(text.includes('### Push to live, minus the build'));
    assert.ok(text.includes('Measured by `bash bench/deploy.sh` on 2026-12-04 08:00 UTC.'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
