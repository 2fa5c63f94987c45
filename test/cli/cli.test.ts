/**
 * The `berth` command line as a user meets it: each test starts
 * `node src/cli/main.ts …` as a child process in a directory of its own and
 * asserts on the exit code, standard output and standard error.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployLogPath } from '../../src/deploy/deploy-log.ts';
import { openStateStore } from '../../src/state/state-store.ts';
import { eventually, get } from '../helpers/server.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const ANSI = /\u001b\[/; // eslint-disable-line no-control-regex -- the escape character is what this looks for
const RELEASE_ID = /^\d{8}T\d{6}Z-[0-9a-f]{8}$/;

interface Site {
  name: string;
  domains: string[];
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  cwd: string;
  /** Added to a copy of this process's environment, minus anything Berth reads. */
  env?: NodeJS.ProcessEnv;
}

/** The environment a child gets: ours, without variables that would change what Berth does. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dropped = new Set(['BERTH_CONFIG', 'NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'FORCE_COLOR', 'NO_COLOR']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !dropped.has(name)));
  return { ...env, ...extra };
}

/** Runs `berth …` to completion. Every run is checked for ANSI escapes: the pipes here are never a TTY. */
async function berth(args: readonly string[], options: RunOptions): Promise<RunResult> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const out = collect(child);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  const result = { code, stdout: out.stdout(), stderr: out.stderr() };
  assert.doesNotMatch(result.stdout, ANSI, `berth ${args.join(' ')}: no ANSI escapes on stdout`);
  assert.doesNotMatch(result.stderr, ANSI, `berth ${args.join(' ')}: no ANSI escapes on stderr`);
  return result;
}

function collect(child: ChildProcess): { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return { stdout: () => stdout, stderr: () => stderr };
}

/** A failed run: the expected exit code, nothing on stdout, one `berth …:` message on stderr. */
function assertFailed(result: RunResult, code: 1 | 2, pattern?: RegExp): void {
  assert.equal(result.code, code, `exit code; stderr was:\n${result.stderr}`);
  assert.equal(result.stdout, '', 'nothing on stdout when a command fails');
  assert.match(result.stderr, /^berth[ :]/, 'the message says which program (and command) failed');
  if (pattern !== undefined) assert.match(result.stderr, pattern);
}

function assertSucceeded(result: RunResult): void {
  assert.equal(result.code, 0, `exit code; stderr was:\n${result.stderr}`);
  assert.equal(result.stderr, '', 'nothing on stderr when a command succeeds (not a TTY, so no progress)');
}

function configToml(sites: readonly Site[], options: { dataDir?: string } = {}): string {
  return [
    `data_dir = ${JSON.stringify(options.dataDir ?? 'data')}`,
    '[server]',
    'host = "127.0.0.1"',
    'http_port = 0',
    'https_port = 0',
    '[acme]',
    'directory = "off"',
    ...sites.flatMap((site) => ['[[sites]]', `name = ${JSON.stringify(site.name)}`, `domains = ${JSON.stringify(site.domains)}`]),
    '',
  ].join('\n');
}

const ONE_SITE: readonly Site[] = [{ name: 'site', domains: ['localhost'] }];
const TWO_SITES: readonly Site[] = [
  { name: 'one', domains: ['one.test'] },
  { name: 'two', domains: ['two.test'] },
];

/** A temp dir, removed after the test, holding a berth.toml for `sites`. */
async function project(t: TestContext, sites: readonly Site[] = ONE_SITE, options: { dataDir?: string } = {}): Promise<string> {
  const root = await tempDir(t, 'berth-cli-');
  await writeFile(join(root, 'berth.toml'), configToml(sites, options));
  return root;
}

interface ListedRelease {
  id: string;
  site: string;
  files: number;
  active: boolean;
}

async function listJson(cwd: string): Promise<ListedRelease[]> {
  const result = await berth(['releases', '--json'], { cwd });
  assertSucceeded(result);
  return JSON.parse(result.stdout) as ListedRelease[];
}

/** Publishes `files` through the CLI and returns the new release's id. */
async function publishTree(cwd: string, dir: string, files: Record<string, string | Buffer>, site?: string): Promise<string> {
  await writeTree(join(cwd, dir), files);
  const result = await berth(['publish', dir, ...(site === undefined ? [] : ['--site', site])], { cwd });
  assertSucceeded(result);
  const id = /^Published \S+ release (\S+) \(live\)/.exec(result.stdout)?.[1];
  assert.ok(id !== undefined && RELEASE_ID.test(id), `publish names the release; stdout was:\n${result.stdout}`);
  return id;
}

// --- usage, help, version ---------------------------------------------------

test('berth with no arguments prints the overview on stderr and exits 2', async (t) => {
  const result = await berth([], { cwd: await tempDir(t) });
  assertFailed(result, 2, /^berth: push-to-deploy hosting/);
  assert.match(result.stderr, /Usage: berth <command> \[options\]/);
  for (const name of ['serve', 'check', 'publish', 'releases', 'rollback']) assert.match(result.stderr, new RegExp(`^ {2}${name} +\\S`, 'm'), name);
});

test('berth --help prints the overview on stdout and exits 0', async (t) => {
  for (const flag of ['--help', '-h', 'help']) {
    const result = await berth([flag], { cwd: await tempDir(t) });
    assertSucceeded(result);
    assert.match(result.stdout, /Usage: berth <command> \[options\]/, flag);
    assert.match(result.stdout, /^ {2}publish +publish a directory/m, flag);
    assert.match(result.stdout, /docs\/errors\.md/, flag);
  }
});

test('berth help publish and berth publish --help print the same command help on stdout', async (t) => {
  const cwd = await tempDir(t);
  const viaHelp = await berth(['help', 'publish'], { cwd });
  const viaFlag = await berth(['publish', '--help'], { cwd });
  assertSucceeded(viaHelp);
  assertSucceeded(viaFlag);
  assert.match(viaHelp.stdout, /^Usage: berth publish <dir> --site S/);
  assert.match(viaHelp.stdout, /--no-activate/);
  assert.match(viaHelp.stdout, /--config, -c FILE/);
  assert.equal(viaFlag.stdout, viaHelp.stdout);
});

test('berth --version prints the version on stdout', async (t) => {
  for (const flag of ['--version', '-v']) {
    const result = await berth([flag], { cwd: await tempDir(t) });
    assertSucceeded(result);
    assert.match(result.stdout, /^berth \d+\.\d+\.\d+\n$/, flag);
  }
});

test('an unknown command exits 2, names the command, suggests a near one and prints the overview', async (t) => {
  const result = await berth(['frob'], { cwd: await tempDir(t) });
  assertFailed(result, 2, /^berth: unknown command "frob"\n/);
  assert.match(result.stderr, /Usage: berth <command> \[options\]/);
  const help = await berth(['help', 'frob'], { cwd: await tempDir(t) });
  assertFailed(help, 2, /^berth: unknown command "frob"/);
  const typo = await berth(['deplys'], { cwd: await tempDir(t) });
  assertFailed(typo, 2, /^berth: unknown command "deplys"; did you mean "deploys"\?/);
  const helpTypo = await berth(['help', 'rolback'], { cwd: await tempDir(t) });
  assertFailed(helpTypo, 2, /^berth: unknown command "rolback"; did you mean "rollback"\?/);
});

test('an unknown option exits 2 with the nearest option, or the list of them, and the command usage', async (t) => {
  const cwd = await project(t);
  const result = await berth(['publish', 'out', '--bogus'], { cwd });
  assertFailed(result, 2, /^berth publish: unknown option --bogus; the options are --config, -c, --site, -s, --no-activate, --help\n/);
  assert.match(result.stderr, /\nUsage: berth publish <dir> --site S/);
  const typo = await berth(['deploys', '--sit', 'blog'], { cwd });
  assertFailed(typo, 2, /^berth deploys: unknown option --sit; did you mean --site\?/);
  const withValue = await berth(['deploys', '--limt=3'], { cwd });
  assertFailed(withValue, 2, /^berth deploys: unknown option --limt; did you mean --limit\?/);
  const missing = await berth(['deploys', '--site'], { cwd });
  assertFailed(missing, 2, /^berth deploys: --site needs a value, as --site VALUE/);
});

test('publish without a directory, or with two, exits 2 with usage', async (t) => {
  const cwd = await project(t);
  const none = await berth(['publish'], { cwd });
  assertFailed(none, 2, /^berth publish: publish takes exactly one directory.*\[E_USAGE\]/);
  assert.match(none.stderr, /\nUsage: berth publish <dir> --site S/);
  const two = await berth(['publish', 'a', 'b'], { cwd });
  assertFailed(two, 2, /^berth publish: takes at most 1 argument; "b" is one too many/);
  assert.match(two.stderr, /\nUsage: berth publish <dir> --site S/);
});

test('a command that takes no arguments refuses one instead of ignoring it', async (t) => {
  const cwd = await project(t);
  for (const name of ['serve', 'check', 'deploys', 'releases', 'certs']) {
    const result = await berth([name, 'blog'], { cwd });
    assertFailed(result, 2, new RegExp(`^berth ${name}: takes no arguments besides its options; "blog" is one too many`));
  }
});

// --- publish, releases, rollback ------------------------------------------

test('publish, list, publish again, roll back and forward, and the rollback errors', async (t) => {
  const cwd = await project(t);

  const empty = await berth(['releases'], { cwd });
  assertSucceeded(empty);
  assert.match(empty.stdout, /site has no releases yet; publish one with `berth publish <dir> --site site`/);
  // Given with --config, the hint names it, so that it works from any directory.
  const elsewhere = await berth(['releases', '--config', join(cwd, 'berth.toml')], { cwd: tmpdir() });
  assertSucceeded(elsewhere);
  assert.ok(elsewhere.stdout.includes(`publish one with \`berth publish <dir> --site site --config ${join(cwd, 'berth.toml')}\``), elsewhere.stdout);

  const first = await publishTree(cwd, 'v1', { 'index.html': '<h1>one</h1>' });
  const table1 = await berth(['releases'], { cwd });
  assertSucceeded(table1);
  assert.match(table1.stdout, new RegExp(`^\\* ${first} .* 1 files .*\\(live\\)\n$`), 'one line, marked live');

  const second = await publishTree(cwd, 'v2', { 'index.html': '<h1>two</h1>' });
  assert.ok(second > first, 'a later release sorts after the earlier one');
  const table2 = await berth(['releases'], { cwd });
  assertSucceeded(table2);
  const lines = table2.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', new RegExp(`^\\* ${second} .*\\(live\\)$`), 'newest first, marked live');
  assert.match(lines[1] ?? '', new RegExp(`^  ${first} `), 'the older one unmarked');
  assert.doesNotMatch(lines[1] ?? '', /live/);

  const listed = await listJson(cwd);
  assert.deepEqual(listed.map(({ id, site, files, active }) => ({ id, site, files, active })), [
    { id: second, site: 'site', files: 1, active: true },
    { id: first, site: 'site', files: 1, active: false },
  ]);

  const back = await berth(['rollback'], { cwd });
  assertSucceeded(back);
  assert.match(back.stdout, new RegExp(`^site is now on release ${first} \\(was ${second}\\); recorded as deploy \\S+\n$`));
  assert.deepEqual((await listJson(cwd)).map((release) => release.active), [false, true]);

  const forward = await berth(['rollback', second, '--site', 'site'], { cwd });
  assertSucceeded(forward);
  assert.match(forward.stdout, new RegExp(`^site is now on release ${second} \\(was ${first}\\); recorded as deploy \\S+\n$`));
  const again = await berth(['rollback', second], { cwd });
  assertSucceeded(again);
  assert.equal(again.stdout, `site release ${second} was already live\n`);

  const malformed = await berth(['rollback', 'latest'], { cwd });
  assertFailed(malformed, 2, /^berth rollback: "latest" is not a release id.*\[E_USAGE\]/);
  assert.match(malformed.stderr, /\nUsage: berth rollback/);

  const missing = await berth(['rollback', '20200101T000000Z-0badc0de'], { cwd });
  assertFailed(missing, 1, /^berth rollback: Release 20200101T000000Z-0badc0de does not exist.*\[E_RELEASE_NOT_FOUND\]\n$/);
  assert.equal((await listJson(cwd))[0]?.active, true, 'a failed rollback leaves the live release alone');

  assertSucceeded(await berth(['rollback'], { cwd }));
  const none = await berth(['rollback'], { cwd });
  assertFailed(none, 1, new RegExp(`^berth rollback: Release ${first} is the oldest one kept; .*\\[E_RELEASE_NONE\\]\\n$`));
  assert.deepEqual((await listJson(cwd)).map((release) => release.active), [false, true]);
});

test('rollback of a site that was never published fails with E_RELEASE_NONE', async (t) => {
  const cwd = await project(t);
  assertFailed(await berth(['rollback'], { cwd }), 1, /no active release to roll back from; publish one first \[E_RELEASE_NONE\]/);
});

// --- choosing the site and the config --------------------------------------

test('--site naming an unconfigured site fails with E_SITE_UNKNOWN and lists the configured ones', async (t) => {
  const cwd = await project(t, TWO_SITES);
  await writeTree(join(cwd, 'out'), { 'index.html': 'x' });
  for (const args of [['releases', '--site', 'three'], ['publish', 'out', '--site', 'three'], ['rollback', '-s', 'three']]) {
    const result = await berth(args, { cwd });
    assertFailed(result, 1, /No site named "three" in .*berth\.toml; configured: one, two \[E_SITE_UNKNOWN\]/);
  }
  assert.deepEqual((await readdir(cwd)).sort(), ['berth.toml', 'out'], 'nothing was written for the unknown site');
});

test('leaving out --site when the config has two sites is a usage error', async (t) => {
  const cwd = await project(t, TWO_SITES);
  await writeTree(join(cwd, 'out'), { 'index.html': 'x' });
  for (const args of [['releases'], ['publish', 'out'], ['rollback']]) {
    const result = await berth(args, { cwd });
    assertFailed(result, 2, /Missing --site; this config has the sites one, two \[E_USAGE\]/);
    assert.match(result.stderr, /\nUsage: berth /, args.join(' '));
  }
});

test('a missing config file fails with E_CONFIG_NOT_FOUND and says how to name one', async (t) => {
  const cwd = await tempDir(t);
  const implicit = await berth(['releases'], { cwd });
  assertFailed(implicit, 1, /berth\.toml not found; run `berth init` to write one, or pass --config <file>, or set BERTH_CONFIG.*\[E_CONFIG_NOT_FOUND\]/);
  const explicit = await berth(['releases', '--config', 'elsewhere.toml'], { cwd });
  assertFailed(explicit, 1, /elsewhere\.toml not found; run `berth init` to write one, or pass --config.*\[E_CONFIG_NOT_FOUND\]/);
});

test('$BERTH_CONFIG is used when there is no ./berth.toml, and --config wins over both', async (t) => {
  const home = await project(t);
  const id = await publishTree(home, 'out', { 'index.html': 'hello' });
  const elsewhere = await tempDir(t);

  const viaEnv = await berth(['releases', '--json'], { cwd: elsewhere, env: { BERTH_CONFIG: join(home, 'berth.toml') } });
  assertSucceeded(viaEnv);
  assert.equal((JSON.parse(viaEnv.stdout) as ListedRelease[])[0]?.id, id, 'data_dir is taken relative to the config file');

  const viaFlag = await berth(['releases', '--json', '-c', join(home, 'berth.toml')], { cwd: elsewhere, env: { BERTH_CONFIG: join(elsewhere, 'nope.toml') } });
  assertSucceeded(viaFlag);
  assert.equal((JSON.parse(viaFlag.stdout) as ListedRelease[])[0]?.id, id);

  // A ./berth.toml in the working directory comes before $BERTH_CONFIG.
  await writeFile(join(elsewhere, 'berth.toml'), configToml([{ name: 'other', domains: ['other.test'] }]));
  const local = await berth(['releases'], { cwd: elsewhere, env: { BERTH_CONFIG: join(home, 'berth.toml') } });
  assertSucceeded(local);
  assert.match(local.stdout, /^other has no releases yet/);
});

// --- failed publishes leave the live release alone -------------------------

test('publishing a directory that does not exist fails with E_PUBLISH_SOURCE', async (t) => {
  const cwd = await project(t);
  const result = await berth(['publish', 'dist'], { cwd });
  assertFailed(result, 1, /^berth publish: Cannot publish .*dist: it is not a readable directory.*\[E_PUBLISH_SOURCE\]\n$/);
  assert.deepEqual(await listJson(cwd), []);
});

test('a data_dir that is a file fails the publish with E_CONFIG_INVALID naming it, not a crash', async (t) => {
  const cwd = await project(t, ONE_SITE, { dataDir: 'data-file' });
  await writeFile(join(cwd, 'data-file'), 'not a directory');
  await writeTree(join(cwd, 'out'), { 'index.html': 'x' });
  const result = await berth(['publish', 'out'], { cwd });
  assertFailed(result, 1, /^berth publish: Invalid configuration in berth\.toml \(1 error\):\nberth\.toml:1 data_dir: \S+data-file is a file, not a directory; .*\[E_CONFIG_INVALID\]\n$/);
  assert.doesNotMatch(result.stderr, /unexpected failure|\n\s+at /);
});

test('an invalid _redirects fails the publish with its line numbers and keeps the live release', async (t) => {
  const cwd = await project(t);
  const live = await publishTree(cwd, 'good', { 'index.html': 'good' });
  const before = await listJson(cwd);

  await writeTree(join(cwd, 'bad'), {
    'index.html': 'bad',
    '_redirects': '# comment\n/old /new 301\n/lonely\n/a /b 999\n',
  });
  const result = await berth(['publish', 'bad'], { cwd });
  assertFailed(result, 1, /^berth publish: _redirects has 2 invalid lines\n/);
  assert.match(result.stderr, /^_redirects line 3: /m);
  assert.match(result.stderr, /^_redirects line 4: .*999/m);
  assert.match(result.stderr, /\[E_REDIRECTS_INVALID\]\n$/);

  assert.deepEqual(await listJson(cwd), before);
  assert.equal(before[0]?.id, live);
  assert.deepEqual(await readdir(join(cwd, 'data', 'sites', 'site', 'releases')), [live], 'no temporary directory left behind');
});

// --- output hygiene ---------------------------------------------------------

test('failures write to stderr only, without colour, even when colour is forced', async (t) => {
  const cwd = await project(t, TWO_SITES);
  const failures: Array<[string[], 1 | 2]> = [
    [[], 2],
    [['nope'], 2],
    [['releases', '--what'], 2],
    [['releases'], 2],
    [['releases', '--site', 'x'], 1],
    [['publish', 'missing', '--site', 'one'], 1],
    [['rollback', '--site', 'one'], 1],
    [['releases', '--config', 'none.toml'], 1],
  ];
  for (const [args, code] of failures) {
    // FORCE_COLOR and a colour TERM must not matter: the output is a pipe.
    const result = await berth(args, { cwd, env: { FORCE_COLOR: '3', TERM: 'xterm-256color' } });
    assertFailed(result, code);
    assert.ok(result.stderr.endsWith('\n'), `berth ${args.join(' ')}: the message ends with a newline`);
    assert.doesNotMatch(result.stderr, /\n {4}at /, `berth ${args.join(' ')}: a known failure prints no stack trace`);
  }
});

test('a successful publish prints one summary line on stdout and no progress on a pipe', async (t) => {
  const cwd = await project(t);
  await writeTree(join(cwd, 'out'), Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`page-${i}.html`, `<p>${i}</p>`])));
  const result = await berth(['publish', 'out', '--no-activate'], { cwd });
  assertSucceeded(result);
  assert.match(result.stdout, /^Published site release \S+ \(not activated\): 30 files, .* in \d+ ms\n$/);
  assert.doesNotMatch(result.stdout, /\r/);
  const [release] = await listJson(cwd);
  assert.equal(release?.active, false, '--no-activate leaves the site without a live release');
});

/**
 * Runs `berth …` with its standard output a pipe that this side closes as
 * soon as the first chunk arrives, as `berth deploys | head -3` does.
 */
async function berthReadOnce(args: readonly string[], cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; first: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  child.stdout.destroy();
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, first: chunk.toString(), stderr };
}

test('a reader that stops early (berth deploys | head) ends the listing quietly with exit 0', async (t) => {
  const cwd = await project(t);
  const dataDir = join(cwd, 'data');
  // Far more output than a pipe holds, so Berth is still writing when the reader goes.
  const store = openStateStore(dataDir);
  let last = '';
  try {
    // One a second, as ids name their second: 3000 in one second could draw the same random part.
    const start = Date.parse('2026-01-01T00:00:00Z');
    for (let i = 0; i < 3000; i++) {
      last = store.createDeploy({ site: 'site', trigger: 'cli', ref: 'refs/heads/main', sha: randomBytes(20).toString('hex'), message: `commit ${i}` }, new Date(start + i * 1000)).id;
    }
  } finally {
    store.close();
  }
  await mkdir(join(dataDir, 'logs', 'deploys'), { recursive: true });
  await writeFile(deployLogPath(dataDir, last), Array.from({ length: 100_000 }, (_, i) => `build output line ${i}\n`).join(''));

  for (const args of [['deploys', '--limit', '3000'], ['deploys', '--limit', '3000', '--json'], ['logs', last]]) {
    const result = await berthReadOnce(args, cwd);
    assert.ok(result.first.length > 0, `berth ${args.join(' ')} printed before the reader left`);
    assert.equal(result.stderr, '', `berth ${args.join(' ')}: nothing on stderr, no stack trace`);
    assert.deepEqual({ code: result.code, signal: result.signal }, { code: 0, signal: null }, `berth ${args.join(' ')} exits 0 by itself`);
  }
});

// --- serve as a separate process --------------------------------------------

interface ServeProcess {
  child: ChildProcess;
  /** The JSON log lines written to stdout so far, parsed (anything else on stdout fails the test). */
  logs(): Array<Record<string, unknown>>;
  stderr(): string;
  /** Sends SIGTERM; resolves with the exit code. `timeoutMs` only guards against a hang, never measures the stop. */
  stop(timeoutMs?: number): Promise<number | null>;
}

function startServe(t: TestContext, cwd: string): ServeProcess {
  const child = spawn(process.execPath, [MAIN, 'serve'], { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const out = collect(child);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    // Only whole lines: a pipe may deliver a line in two chunks.
    logs: () =>
      out
        .stdout()
        .split('\n')
        .slice(0, -1)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stderr: out.stderr,
    async stop(timeoutMs = 60_000) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`berth serve did not exit on SIGTERM (gave up waiting after ${timeoutMs} ms)`)), timeoutMs);
      });
      try {
        const [code, signal] = await Promise.race([exited, timeout]);
        assert.equal(signal, null, 'serve exits by itself rather than being killed by the signal');
        return code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function body(port: number, host: string, path = '/'): Promise<string> {
  return (await get(port, path, { host })).body.toString();
}

/** Waits for serve's "listening" log line (or its exit; the bound is only against a hang) and returns the HTTP port it names. */
/** The HTTP port, once a worker listens and has loaded the sites (ports open first; later workers join only once loaded). */
async function listeningPort(serve: ServeProcess): Promise<number> {
  const listening = (): Record<string, unknown> | undefined => serve.logs().find((line) => line.msg === 'listening');
  const loaded = (): boolean => serve.logs().some((line) => line.msg === 'sites ready');
  const seen = await eventually(async () => (listening() !== undefined && loaded()) || serve.child.exitCode !== null, 60_000);
  const port = listening()?.http;
  assert.ok(seen && typeof port === 'number', `berth serve logged "listening" with its HTTP port; stderr was:\n${serve.stderr()}`);
  return port;
}

test('serve picks up a publish and a rollback made by other processes, and stops on SIGTERM', async (t) => {
  const cwd = await project(t);
  const first = await publishTree(cwd, 'v1', { 'index.html': '<h1>version one</h1>' });
  const serve = startServe(t, cwd);
  const port = await listeningPort(serve);

  const page = await get(port, '/', { host: 'localhost' });
  assert.equal(page.status, 200);
  assert.equal(page.body.toString(), '<h1>version one</h1>');
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');

  const second = await publishTree(cwd, 'v2', { 'index.html': '<h1>version two</h1>' });
  assert.ok(await eventually(async () => (await body(port, 'localhost')) === '<h1>version two</h1>'), 'the running server serves the new release');

  const rolled = await berth(['rollback'], { cwd });
  assertSucceeded(rolled);
  assert.match(rolled.stdout, new RegExp(`^site is now on release ${first} \\(was ${second}\\); recorded as deploy \\S+\n$`));
  assert.ok(await eventually(async () => (await body(port, 'localhost')) === '<h1>version one</h1>'), 'the running server serves the old release again');

  assert.equal(await serve.stop(), 0, 'serve exits 0 on SIGTERM');
  assert.equal(serve.stderr(), '', 'serve writes its logs to stdout, nothing to stderr');
  const logs = serve.logs();
  const listening = logs.find((line) => line.msg === 'listening');
  assert.equal(typeof listening?.https, 'number', 'the listening line names the HTTPS port too');
  assert.notEqual(listening?.https, 0, 'the ports named are the ones bound, not the 0 asked for');
  assert.deepEqual(listening?.sites, ['site']);
  // Each serving worker logs its own switches.
  const active = logs.filter((line) => line.msg === 'release active' && line.worker === listening?.worker).map((line) => line.release);
  assert.deepEqual(active, [first, second, first], 'each switch was logged, in order');
  assert.equal(logs.at(-1)?.msg, 'stopped', 'the last line says the server stopped');
  await assert.rejects(get(port, '/'), { code: 'ECONNREFUSED' });
});

test('one serve process serves two sites, each by its host name', async (t) => {
  const cwd = await project(t, TWO_SITES);
  await publishTree(cwd, 'one-out', { 'index.html': 'this is site one' }, 'one');
  const serve = startServe(t, cwd);
  const port = await listeningPort(serve);

  assert.equal(await body(port, 'one.test'), 'this is site one');
  const unpublished = await get(port, '/', { host: 'two.test' });
  assert.equal(unpublished.status, 503, 'a site with no release yet answers 503');

  await publishTree(cwd, 'two-out', { 'index.html': 'this is site two' }, 'two');
  assert.ok(await eventually(async () => (await body(port, 'two.test')) === 'this is site two'), 'site two goes live');
  assert.equal(await body(port, 'one.test'), 'this is site one', 'site one is unchanged');
  assert.equal((await get(port, '/', { host: 'three.test' })).status, 421, 'an unknown host gets neither site');

  assert.equal(await serve.stop(), 0);
  assert.ok(serve.logs().some((line) => line.msg === 'stopped'));
});

// --- a full disk ------------------------------------------------------------

test('a publish that runs out of disk space fails with E_PUBLISH_NO_SPACE and leaves nothing behind', async (t) => {
  assert.equal(
    process.getuid?.(),
    0,
    'this test mounts a 256 KiB tmpfs as the data directory, which needs root; run it as root (CI does)',
  );
  const mountPoint = await mkdtemp(join(tmpdir(), 'berth-full-'));
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint], { encoding: 'utf8' });
  t.after(async () => {
    if (mount.status === 0) {
      const umount = spawnSync('umount', [mountPoint], { encoding: 'utf8' });
      assert.equal(umount.status, 0, `umount ${mountPoint}: ${umount.stderr}`);
    }
    await rm(mountPoint, { recursive: true, force: true });
  });
  assert.equal(mount.status, 0, `mount -t tmpfs failed: ${mount.stderr ?? mount.error?.message}`);

  const cwd = await project(t, ONE_SITE, { dataDir: mountPoint });
  const live = await publishTree(cwd, 'small', { 'index.html': '<h1>small</h1>' });

  await writeTree(join(cwd, 'big'), {
    'index.html': '<h1>big</h1>',
    // Random bytes do not compress and no earlier release has them to link.
    'video.bin': randomBytes(512 * 1024),
  });
  const result = await berth(['publish', 'big'], { cwd });
  assertFailed(result, 1, /^berth publish: Publish failed: the disk holding the data directory is full.*\[E_PUBLISH_NO_SPACE\]\n$/);

  const listed = await listJson(cwd);
  assert.deepEqual(listed.map(({ id, active }) => ({ id, active })), [{ id: live, active: true }], 'the first release is still the live one');
  const left = await readdir(join(mountPoint, 'sites', 'site', 'releases'));
  assert.deepEqual(left.filter((name) => name.startsWith('.tmp-')), [], 'no temporary release directory left');
  assert.deepEqual(left, [live]);
});

test('berth logs --site for a site with no deploys names a deploy command that works as printed, with the config it was given', async (t) => {
  const cwd = await project(t);
  const config = join(cwd, 'berth.toml');
  const none = await berth(['logs', '--site', 'site', '--config', config], { cwd: tmpdir() });
  assert.equal(none.code, 1);
  assert.ok(none.stderr.includes(`Site site has no deploys yet; \`berth deploy --site site --config ${config}\` runs one [E_DEPLOY_NOT_FOUND]`), none.stderr);
  const here = await berth(['logs', '--site', 'site'], { cwd });
  assert.ok(here.stderr.includes('Site site has no deploys yet; `berth deploy --site site` runs one'), here.stderr);
});
