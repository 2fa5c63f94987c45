import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configCases, problemAt } from '../helpers/config-cases.ts';

const { read } = configCases('berth-limits-config-');

const site = (build: string): string => `[[sites]]\nname = "blog"\ndomains = ["example.com"]\n[sites.build]\n${build}\n`;

describe('build isolation and limit settings', () => {
  it('accepts build_uid_base, max_processes and max_output_size at their bounds', async () => {
    const low = await read(`[deploy]\nbuild_uid_base = 1000\n${site('max_processes = 16\nmax_output_size = 1024')}`);
    assert.deepEqual(low.problems, []);
    assert.equal(low.config?.deploy.buildUidBase, 1000);
    assert.equal(low.config?.sites[0]?.build.maxProcesses, 16);
    assert.equal(low.config?.sites[0]?.build.maxOutputBytes, 1024);
    const high = await read(`[deploy]\nbuild_uid_base = 2000000000\n${site('max_processes = 1000000\nmax_output_size = "1024GiB"')}`);
    assert.deepEqual(high.problems, []);
    assert.equal(high.config?.sites[0]?.build.maxOutputBytes, 1024 * 1024 ** 3);
  });

  it('refuses a uid base that could reach system accounts or run past the uid range, naming the range', async () => {
    for (const value of ['999', '0', '-5', '2000000001', '4294967295']) {
      const { problems } = await read(`[deploy]\nbuild_uid_base = ${value}\n`);
      assert.match(problemAt(problems, 'deploy.build_uid_base').message, /out of range; use 1000 to 2000000000/, value);
    }
    for (const value of ['"200000"', '200000.5', 'true']) {
      const { problems } = await read(`[deploy]\nbuild_uid_base = ${value}\n`);
      assert.match(problemAt(problems, 'deploy.build_uid_base').message, /1000 to 2000000000/, value);
    }
  });

  it('refuses process limits too low to build with, too high, or not a number', async () => {
    for (const value of ['15', '0', '-1', '1000001', '"512"', '12.5']) {
      const { problems } = await read(site(`max_processes = ${value}`));
      assert.match(problemAt(problems, 'sites[0].build.max_processes').message, /16 to 1000000/, value);
    }
  });

  it('refuses an output size that is not a size or out of range', async () => {
    for (const [value, message] of [
      ['"lots"', /is not a size/],
      ['"-1GiB"', /is not a size/],
      ['1023', /out of range/],
      ['"1025GiB"', /out of range/],
      ['1.5', /not a whole number/],
    ] as const) {
      const { problems } = await read(site(`max_output_size = ${value}`));
      assert.match(problemAt(problems, 'sites[0].build.max_output_size').message, message, value);
    }
  });

  it('refuses a key given twice', async () => {
    const { problems } = await read(`[deploy]\nbuild_uid_base = 300000\nbuild_uid_base = 400000\n`);
    assert.ok(problems.some((problem) => problem.severity === 'error'), problems.map((problem) => problem.message).join('\n'));
  });
});
