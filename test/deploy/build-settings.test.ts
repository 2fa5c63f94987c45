import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { ResolvedBuild, ResolvedSite } from '../../src/config/resolved-config.ts';
import { BerthError } from '../../src/errors.ts';
import { resolveBuildSettings, resolvePublishDir } from '../../src/deploy/build-settings.ts';
import { assertNotQuoted, secretFile } from '../helpers/secret-file.ts';
import { tempDir, writeTree } from '../helpers/temp.ts';

/** A site with only the fields build settings read. */
function siteWith(build: Partial<ResolvedBuild> = {}): ResolvedSite {
  return {
    name: 'blog',
    build: { command: undefined, publish: undefined, environment: {}, timeoutMs: 600_000, maxProcesses: 1024, maxOutputBytes: 1_073_741_824, ...build },
  } as ResolvedSite;
}

async function repo(t: TestContext, files: Record<string, string>): Promise<string> {
  const dir = await tempDir(t, 'berth-settings-');
  await writeTree(dir, files);
  return dir;
}

async function buildConfigError(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BerthError, `expected a BerthError, got ${String(error)}`);
    assert.equal(error.code, 'E_BUILD_CONFIG');
    return error.message;
  }
  assert.fail('expected E_BUILD_CONFIG');
}

const astroPackage = JSON.stringify({ scripts: { build: 'astro build' }, dependencies: { astro: '^5.0.0' } });
const berthToml = '[build]\ncommand = "make site"\npublish = "out"\n\n[build.environment]\nFROM_BERTH = "1"\nSHARED = "berth"\n';
const netlifyToml = '[build]\ncommand = "make netlify"\npublish = "netlify-out"\n\n[build.environment]\nFROM_NETLIFY = "1"\nSHARED = "netlify"\n';

describe('resolveBuildSettings() precedence', () => {
  it('uses the server config over everything in the repository', async (t) => {
    const dir = await repo(t, { 'berth.toml': berthToml, 'netlify.toml': netlifyToml, 'package.json': astroPackage });
    const settings = await resolveBuildSettings(siteWith({ command: 'make server', publish: 'server-out' }), dir);
    assert.equal(settings.command, 'make server');
    assert.equal(settings.publish, 'server-out');
    assert.equal(settings.source, 'server config');
    // The repository's environment still applies; berth.toml wins over netlify.toml.
    assert.deepEqual(settings.environment, { FROM_NETLIFY: '1', FROM_BERTH: '1', SHARED: 'berth' });
  });

  it('uses the repository berth.toml over netlify.toml and presets', async (t) => {
    const dir = await repo(t, { 'berth.toml': berthToml, 'netlify.toml': netlifyToml, 'package.json': astroPackage });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.command, 'make site');
    assert.equal(settings.publish, 'out');
    assert.equal(settings.source, 'berth.toml');
  });

  it('uses netlify.toml over a preset', async (t) => {
    const dir = await repo(t, { 'netlify.toml': netlifyToml, 'package.json': astroPackage });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.command, 'make netlify');
    assert.equal(settings.publish, 'netlify-out');
    assert.equal(settings.source, 'netlify.toml');
    assert.deepEqual(settings.environment, { FROM_NETLIFY: '1', SHARED: 'netlify' });
  });

  it('falls back to a preset when no file names a command or publish directory', async (t) => {
    const dir = await repo(t, {
      'netlify.toml': '[build.environment]\nNODE_VERSION = 22\n',
      'package.json': astroPackage,
      'package-lock.json': '{}',
    });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.command, 'npm ci && npm run build');
    assert.equal(settings.source, 'preset astro (npm ci)');
    assert.deepEqual(settings.environment, { NODE_VERSION: '22' });
  });

  it('takes a missing publish directory from the next source that names one', async (t) => {
    const dir = await repo(t, { 'package.json': astroPackage });
    const settings = await resolveBuildSettings(siteWith({ command: 'make' }), dir);
    assert.equal(settings.command, 'make');
    assert.equal(settings.publish, 'dist');
    assert.equal(settings.source, 'server config (publish from preset astro)');
  });

  it('publishes the repository root when nothing names a publish directory', async (t) => {
    const dir = await repo(t, { 'berth.toml': '[build]\ncommand = "make"\n' });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.publish, '.');
    assert.match(settings.notes.join('\n'), /repository root is published/);
  });

  it('runs nothing when the server config names only a publish directory', async (t) => {
    const dir = await repo(t, { 'package.json': astroPackage });
    const settings = await resolveBuildSettings(siteWith({ publish: 'site/' }), dir);
    assert.equal(settings.command, undefined);
    assert.equal(settings.publish, 'site');
  });
});

describe('resolveBuildSettings() presets, each from a real directory', () => {
  const cases: Array<{ name: string; files: Record<string, string>; command: string | undefined; publish: string; source: string }> = [
    {
      name: 'Astro',
      files: { 'package.json': astroPackage, 'package-lock.json': '{}' },
      command: 'npm ci && npm run build',
      publish: 'dist',
      source: 'preset astro (npm ci)',
    },
    {
      name: 'Astro before Vite when both are listed',
      files: { 'package.json': JSON.stringify({ scripts: { build: 'astro build' }, devDependencies: { vite: '6', astro: '5' } }) },
      command: 'npm install && npm run build',
      publish: 'dist',
      source: 'preset astro (npm install)',
    },
    {
      name: 'Vite',
      files: { 'package.json': JSON.stringify({ scripts: { build: 'vite build' }, devDependencies: { vite: '^6.0.0' } }), 'package-lock.json': '{}' },
      command: 'npm ci && npm run build',
      publish: 'dist',
      source: 'preset vite (npm ci)',
    },
    {
      name: 'Vite without a build script',
      files: { 'package.json': JSON.stringify({ devDependencies: { vite: '^6.0.0' } }), 'package-lock.json': '{}' },
      command: 'npm ci && npx vite build',
      publish: 'dist',
      source: 'preset vite (npm ci)',
    },
    {
      name: 'Eleventy',
      files: { 'package.json': JSON.stringify({ devDependencies: { '@11ty/eleventy': '^3.0.0' } }), 'package-lock.json': '{}' },
      command: 'npm ci && npx @11ty/eleventy',
      publish: '_site',
      source: 'preset eleventy (npm ci)',
    },
    {
      name: 'Hugo with hugo.toml',
      files: { 'hugo.toml': 'baseURL = "https://example.org/"\ntitle = "Blog"\n', 'content/_index.md': '# hi' },
      command: 'hugo --minify',
      publish: 'public',
      source: 'preset hugo',
    },
    {
      name: 'Hugo with hugo.yaml',
      files: { 'hugo.yaml': 'title: Blog\n' },
      command: 'hugo --minify',
      publish: 'public',
      source: 'preset hugo',
    },
    {
      name: 'Hugo with an older config.toml',
      files: { 'config.toml': 'baseURL = "https://example.org/"\ntheme = "ananke"\n' },
      command: 'hugo --minify',
      publish: 'public',
      source: 'preset hugo',
    },
    {
      name: 'plain static files',
      files: { 'index.html': '<h1>hi</h1>', 'style.css': 'h1{}' },
      command: undefined,
      publish: '.',
      source: 'static files',
    },
  ];
  for (const { name, files, command, publish, source } of cases) {
    it(`detects ${name}`, async (t) => {
      const settings = await resolveBuildSettings(siteWith(), await repo(t, files));
      assert.deepEqual(
        { command: settings.command, publish: settings.publish, source: settings.source },
        { command, publish, source },
      );
    });
  }

  it('does not take an unrelated config.toml for Hugo', async (t) => {
    const dir = await repo(t, { 'config.toml': '[server]\nport = 8080\n', 'index.html': '<h1>hi</h1>' });
    assert.equal((await resolveBuildSettings(siteWith(), dir)).source, 'static files');
  });

  it('explains what it looked for when nothing is recognised', async (t) => {
    const dir = await repo(t, { 'README.md': '# notes', 'package.json': JSON.stringify({ scripts: { build: 'custom' } }) });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /cannot tell how to build site blog/);
    assert.match(message, /netlify\.toml/);
    assert.match(message, /astro, vite or @11ty\/eleventy/);
    assert.match(message, /index\.html/);
    assert.match(message, /package\.json has a build script/);
    assert.match(message, /\[sites\.build\]/);
  });
});

describe('resolveBuildSettings() install step and the node_modules cache', () => {
  it('adds npm install when there is no npm lockfile', async (t) => {
    const dir = await repo(t, { 'package.json': '{}', 'netlify.toml': '[build]\ncommand = "npm run build"\npublish = "dist"\n' });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.command, 'npm install && npm run build');
    assert.equal(settings.source, 'netlify.toml (npm install)');
  });

  it('adds nothing when the command is not an npm script, or there is no package.json', async (t) => {
    const withPackage = await repo(t, { 'package.json': '{}', 'package-lock.json': '{}' });
    assert.equal((await resolveBuildSettings(siteWith({ command: 'make', publish: 'out' }), withPackage)).command, 'make');
    const without = await repo(t, { 'index.html': 'x' });
    assert.equal((await resolveBuildSettings(siteWith({ command: 'npm run build', publish: 'out' }), without)).command, 'npm run build');
  });

  it('leaves out the install step on a cache hit', async (t) => {
    const dir = await repo(t, { 'package.json': astroPackage, 'package-lock.json': '{}' });
    const settings = await resolveBuildSettings(siteWith(), dir, { cacheHit: true });
    assert.equal(settings.command, 'npm run build');
    assert.equal(settings.source, 'preset astro (node_modules from cache)');
  });

  it('drops a leading plain npm ci from a configured command on a cache hit, and only then', async (t) => {
    const dir = await repo(t, { 'package.json': astroPackage, 'package-lock.json': '{}' });
    const site = siteWith({ command: 'npm ci && npm run build', publish: 'dist' });
    const hit = await resolveBuildSettings(site, dir, { cacheHit: true });
    assert.equal(hit.command, 'npm run build');
    assert.equal(hit.source, 'server config (install skipped, node_modules from cache)');
    const miss = await resolveBuildSettings(site, dir, { cacheHit: false });
    assert.equal(miss.command, 'npm ci && npm run build');
    assert.equal(miss.source, 'server config');
    const flagged = await resolveBuildSettings(siteWith({ command: 'npm ci --omit=dev && npm run build', publish: 'dist' }), dir, { cacheHit: true });
    assert.equal(flagged.command, 'npm ci --omit=dev && npm run build');
  });
});

describe('resolveBuildSettings() publish directory checks', () => {
  for (const [where, files, build] of [
    ['server config', {}, { command: 'make', publish: '../elsewhere' }],
    ['server config', {}, { command: 'make', publish: '/var/www' }],
    ['berth.toml', { 'berth.toml': '[build]\npublish = "dist/../../x"\n' }, {}],
    ['netlify.toml', { 'netlify.toml': '[build]\npublish = "/etc"\n' }, {}],
    ['netlify.toml', { 'netlify.toml': '[build]\npublish = "..\\\\up"\n' }, {}],
  ] as const) {
    it(`rejects ${JSON.stringify(build.publish ?? Object.values(files)[0])} from ${where}`, async (t) => {
      const dir = await repo(t, { ...files });
      const message = await buildConfigError(resolveBuildSettings(siteWith(build), dir));
      assert.match(message, /publish directory .* (is absolute|leaves the repository)/);
      assert.match(message, new RegExp(where.replace('.', '\\.')));
    });
  }

  it('normalises a harmless publish path', async (t) => {
    const dir = await repo(t, {});
    assert.equal((await resolveBuildSettings(siteWith({ publish: './build/site/' }), dir)).publish, 'build/site');
  });

  it('resolvePublishDir() refuses an output directory that is a link out of the work directory', async (t) => {
    const dir = await repo(t, { 'real/index.html': 'x' });
    const outside = await tempDir(t, 'berth-outside-');
    await symlink(outside, join(dir, 'dist'));
    await symlink(join(dir, 'real'), join(dir, 'inside'));
    const message = await buildConfigError(resolvePublishDir(dir, 'dist'));
    assert.match(message, /outside the repository/);
    assert.match(await resolvePublishDir(dir, 'inside'), /\/real$/);
    assert.equal(await resolvePublishDir(dir, 'missing'), join(dir, 'missing'));
    await mkdir(join(dir, 'out'));
    assert.match(await resolvePublishDir(dir, 'out'), /\/out$/);
  });
});

describe('resolveBuildSettings() repository files', () => {
  it('reports a malformed berth.toml with its line', async (t) => {
    const dir = await repo(t, { 'berth.toml': '[build]\ncommand = "make"\npublish = dist\n' });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /^berth\.toml in the repository, line 3, column \d+: not valid TOML/);
  });

  it('reports a malformed netlify.toml with its line', async (t) => {
    const dir = await repo(t, { 'netlify.toml': '[build\ncommand = "make"\n' });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /^netlify\.toml in the repository, line 1, column \d+: not valid TOML/);
  });

  it('reports a malformed repository file even when the server config decides', async (t) => {
    const dir = await repo(t, { 'netlify.toml': 'command = \n' });
    await buildConfigError(resolveBuildSettings(siteWith({ command: 'make', publish: 'out' }), dir));
  });

  it('rejects unknown keys in the repository berth.toml, all of them at once', async (t) => {
    const dir = await repo(t, {
      'berth.toml': 'data_dir = "/tmp"\n\n[build]\ncommand = "make"\ntimeout = "5m"\n\n[[sites]]\nname = "x"\n',
    });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /has 3 problems/);
    assert.match(message, /berth\.toml line 1: unknown key "data_dir"; a repository's berth\.toml holds only a \[build\] table/);
    assert.match(message, /berth\.toml line 5: unknown key "build\.timeout"; use command, publish, environment/);
    assert.match(message, /berth\.toml line 7: unknown key "sites"/);
  });

  it('rejects wrongly typed values in the repository berth.toml without echoing them', async (t) => {
    const dir = await repo(t, { 'berth.toml': '[build]\ncommand = 5\n[build.environment]\nAPI_TOKEN = 12345\n' });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /build\.command must be a shell command/);
    assert.match(message, /build\.environment\.API_TOKEN must be a string/);
    assert.doesNotMatch(message, /12345/);
  });

  it('ignores Netlify-only sections and says so in the notes', async (t) => {
    const dir = await repo(t, {
      'netlify.toml': [
        '[build]',
        'command = "npm run build"',
        'publish = "dist"',
        'functions = "netlify/functions"',
        '',
        '[build.processing]',
        'skip_processing = true',
        '',
        '[[plugins]]',
        'package = "@netlify/plugin-lighthouse"',
        '',
        '[context.production]',
        'command = "npm run build:prod"',
        '',
        '[context.deploy-preview.environment]',
        'PREVIEW = "1"',
        '',
        '[[redirects]]',
        'from = "/old"',
        'to = "/new"',
        'status = 301',
        '',
        '[[headers]]',
        'for = "/*"',
        '[headers.values]',
        'X-Frame-Options = "DENY"',
        '',
        '[dev]',
        'port = 8888',
        '',
      ].join('\n'),
      'package.json': '{}',
    });
    const settings = await resolveBuildSettings(siteWith(), dir);
    assert.equal(settings.command, 'npm install && npm run build');
    assert.equal(settings.publish, 'dist');
    assert.deepEqual(settings.environment, {});
    const note = settings.notes.join('\n');
    for (const section of ['[[plugins]]', '[context]', '[[redirects]]', '[[headers]]', '[dev]', 'build.functions', 'build.processing']) {
      assert.ok(note.includes(section), `${section} in ${note}`);
    }
  });

  it('refuses netlify.toml build.base rather than building in the wrong directory', async (t) => {
    const dir = await repo(t, { 'netlify.toml': '[build]\nbase = "site"\ncommand = "make"\npublish = "out"\n' });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /netlify\.toml line 2: build\.base is not supported/);
  });

  it('reports a package.json that is not JSON when a preset is needed', async (t) => {
    const dir = await repo(t, { 'package.json': '{ "dependencies": ' });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /package\.json in the repository is not valid JSON/);
  });
});

describe('resolveBuildSettings() with hostile files in the repository', () => {
  for (const file of ['berth.toml', 'netlify.toml', 'package.json']) {
    it(`refuses a ${file} that links to a root-only secret, quoting none of it`, async (t) => {
      const secret = await secretFile(t);
      const dir = await repo(t, { 'index.html': 'home' });
      await symlink(secret.file, join(dir, file));
      const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
      assert.equal(message, `the repository's ${file} is a symbolic link; Berth follows no link in files a repository or a build controls, make it a regular file`);
      assertNotQuoted(message, secret);
    });
  }

  it('refuses a package.json that links to /dev/zero and a netlify.toml that is a FIFO, without hanging', { timeout: 20_000 }, async (t) => {
    const dir = await repo(t, { 'index.html': 'home' });
    await symlink('/dev/zero', join(dir, 'package.json'));
    assert.match(await buildConfigError(resolveBuildSettings(siteWith(), dir)), /^the repository's package\.json is a symbolic link/);
    execFileSync('mkfifo', [join(dir, 'netlify.toml')]);
    assert.match(await buildConfigError(resolveBuildSettings(siteWith(), dir)), /^the repository's netlify\.toml is a FIFO, not a regular file/);
  });

  it('refuses a Hugo config.toml that links elsewhere instead of reading it', async (t) => {
    const secret = await secretFile(t, 'config.toml');
    const dir = await repo(t, { 'content/post.md': '# hi', 'layouts/index.html': '' });
    await symlink(secret.file, join(dir, 'config.toml'));
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /^the repository's config\.toml is a symbolic link/);
  });

  it('refuses a berth.toml over 1 MiB by its size', async (t) => {
    const dir = await repo(t, { 'berth.toml': `# ${'x'.repeat(1024 * 1024)}\n[build]\ncommand = "make"\n` });
    assert.match(await buildConfigError(resolveBuildSettings(siteWith(), dir)), /^the repository's berth\.toml is \d+ bytes; the limit is 1 MiB$/);
  });

  it('quotes no line of an invalid berth.toml or package.json, only where the error is', async (t) => {
    const token = 'tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
    const toml = await repo(t, { 'berth.toml': `[build]\ncommand = "make"\n[build.environment]\nAPI_TOKEN = "${token}\n` });
    const tomlMessage = await buildConfigError(resolveBuildSettings(siteWith(), toml));
    assert.match(tomlMessage, /^berth\.toml in the repository, line 4, column \d+: not valid TOML: /);
    assert.ok(!tomlMessage.includes(token.slice(0, 8)), tomlMessage);
    const json = await repo(t, { 'package.json': `{\n  "name": "site",\n  "token": ${token}\n}` });
    const jsonMessage = await buildConfigError(resolveBuildSettings(siteWith(), json));
    assert.match(jsonMessage, /^package\.json in the repository is not valid JSON(?: \(line 3, column \d+\))?; check it with `npm pkg get name`$/);
    assert.ok(!jsonMessage.includes(token.slice(0, 8)), jsonMessage);
  });

  it('quotes at most an excerpt of an unknown key', async (t) => {
    const key = `k${'x'.repeat(500)}`;
    const dir = await repo(t, { 'berth.toml': `${key} = 1\n[build]\ncommand = "make"\n` });
    const message = await buildConfigError(resolveBuildSettings(siteWith(), dir));
    assert.match(message, /unknown key "kx{39}…"/);
    assert.ok(message.length < 400, message);
  });
});

describe('resolveBuildSettings() install and build steps', () => {
  const lockfile = { 'package.json': astroPackage, 'package-lock.json': '{}' };

  it('runs the install it adds as a step of its own, and none on a cache hit', async (t) => {
    const dir = await repo(t, lockfile);
    assert.deepEqual((await resolveBuildSettings(siteWith(), dir)).steps, { install: 'npm ci', build: 'npm run build' });
    assert.deepEqual((await resolveBuildSettings(siteWith(), dir, { cacheHit: true })).steps, { install: undefined, build: 'npm run build' });
    const npx = siteWith({ command: 'npx astro build --verbose', publish: 'dist' });
    assert.deepEqual((await resolveBuildSettings(npx, dir)).steps, { install: 'npm ci', build: 'npx astro build --verbose' });
  });

  it('splits a leading plain npm ci or npm install off a chain of && alone, and nothing else', async (t) => {
    const dir = await repo(t, lockfile);
    const split = async (command: string, cacheHit = false): Promise<unknown> => (await resolveBuildSettings(siteWith({ command, publish: 'dist' }), dir, { cacheHit })).steps;
    assert.deepEqual(await split('npm ci && npm run build'), { install: 'npm ci', build: 'npm run build' });
    assert.deepEqual(await split('  npm install&&npm run build && cp -r extra dist 2>&1'), { install: 'npm install', build: 'npm run build && cp -r extra dist 2>&1' });
    assert.deepEqual(await split('npm ci && npm run build | tee build.log'), { install: 'npm ci', build: 'npm run build | tee build.log' });
    assert.deepEqual(await split('npm ci && npm run build', true), { install: undefined, build: 'npm run build' });

    // Run whole: a command whose split would change what it means, or that Berth does not recognise.
    const whole = [
      'npm ci && npm run build || true',
      'npm ci && npm run build; echo done',
      'npm ci && npm run build & wait',
      'npm ci && npm run build\necho done',
      'npm ci && npm run build\r\necho done',
      'npm ci --omit=dev && npm run build',
      'make',
      'cd site && npm ci && npm run build',
      'npm ci',
    ];
    for (const command of whole) {
      for (const cacheHit of [false, true]) {
        const settings = await resolveBuildSettings(siteWith({ command, publish: 'dist' }), dir, { cacheHit });
        assert.equal(settings.steps, undefined, `${JSON.stringify(command)} cacheHit ${cacheHit}`);
      }
    }
    // Without package.json Berth adds and splits nothing.
    const plain = await repo(t, { 'index.html': 'x' });
    assert.equal((await resolveBuildSettings(siteWith({ command: 'npm ci && npm run build', publish: 'dist' }), plain)).steps, undefined);
  });
});
