import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { displayPath, formatProblem, formatProblems, summarizeProblems } from '../../src/config/format-problems.ts';
import type { ConfigProblem } from '../../src/config/load-config.ts';

const error: ConfigProblem = { path: 'sites[0].domains[1]', line: 12, message: '"a.com:80" has a port', severity: 'error' };
const warning: ConfigProblem = { path: 'sites[0].webhook.secret', line: 30, message: 'the secret is written in the config file', severity: 'warning' };
const whole: ConfigProblem = { path: '', line: undefined, message: 'config file /x not found', severity: 'error' };

describe('formatProblem()', () => {
  it('puts file, line and key path before the message', () => {
    assert.equal(formatProblem(error, 'berth.toml'), 'berth.toml:12 sites[0].domains[1]: "a.com:80" has a port');
  });

  it('marks warnings', () => {
    assert.equal(formatProblem(warning, 'berth.toml'), 'berth.toml:30 sites[0].webhook.secret: warning: the secret is written in the config file');
  });

  it('leaves out what it does not know', () => {
    assert.equal(formatProblem(whole, 'berth.toml'), 'berth.toml: config file /x not found');
    assert.equal(formatProblem({ ...error, line: undefined }, 'conf/b.toml'), 'conf/b.toml sites[0].domains[1]: "a.com:80" has a port');
    assert.equal(formatProblem({ ...whole, line: 3 }, 'berth.toml'), 'berth.toml:3: config file /x not found');
  });
});

describe('formatProblems()', () => {
  it('writes one line per problem', () => {
    assert.equal(formatProblems([error, warning], 'b.toml'), `${formatProblem(error, 'b.toml')}\n${formatProblem(warning, 'b.toml')}\n`);
    assert.equal(formatProblems([], 'b.toml'), '');
  });
});

describe('summarizeProblems()', () => {
  it('counts errors and warnings', () => {
    assert.equal(summarizeProblems([]), 'no problems');
    assert.equal(summarizeProblems([error]), '1 error');
    assert.equal(summarizeProblems([warning, warning]), '2 warnings');
    assert.equal(summarizeProblems([error, error, warning]), '2 errors and 1 warning');
  });
});

describe('displayPath()', () => {
  it('is relative inside the working directory and absolute outside it', () => {
    assert.equal(displayPath('/srv/site/berth.toml', '/srv/site'), 'berth.toml');
    assert.equal(displayPath('/srv/site/conf/berth.toml', '/srv/site'), 'conf/berth.toml');
    assert.equal(displayPath('/etc/berth/berth.toml', '/srv/site'), '/etc/berth/berth.toml');
    assert.equal(displayPath('/srv/..berth.toml', '/srv/x'), '/srv/..berth.toml');
    assert.equal(displayPath('/srv/x/..berth.toml', '/srv/x'), '..berth.toml');
  });
});
