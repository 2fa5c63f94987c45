import { realpath } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { ResolvedSite } from '../config/resolved-config.ts';
import { BerthError } from '../errors.ts';
import { excerpt } from '../excerpt.ts';
import { installStepFor } from './build-cache.ts';
import { checkoutFiles, type RepoFiles } from './repo-files.ts';

/**
 * Decides how a checked-out commit is built. The first source that names a
 * command or a publish directory decides:
 *
 * 1. `[sites.build]` in the server's config,
 * 2. `[build]` in the repository's own `berth.toml`,
 * 3. `[build]` in the repository's `netlify.toml`,
 * 4. a preset recognised from the files (Astro, Vite, Eleventy, Hugo, or
 *    plain files with an `index.html`).
 *
 * See docs/building.md for the user-facing description.
 */

export interface BuildSettings {
  /** Run with `sh -c` in the work directory; undefined when there is nothing to build. */
  command: string | undefined;
  /** The output directory, relative to the work directory, normalised (`dist`, `.`). */
  publish: string;
  /**
   * `[build] environment` from the repository's berth.toml and netlify.toml
   * (berth.toml wins). The server config's `[sites.build] environment` is not
   * in here: `buildEnvironment` lays it on top.
   */
  environment: Record<string, string>;
  /** Where the settings came from, for the deploy record: `netlify.toml`, `preset astro (npm ci)`. */
  source: string;
  /** Things worth a line in the deploy log, such as the netlify.toml sections that were ignored. */
  notes: string[];
  /**
   * `command` as Berth runs it when it can tell the install from the build
   * (see `BuildSteps`); undefined for a command it cannot split, which runs
   * as one.
   */
  steps: BuildSteps | undefined;
}

/**
 * A build's command in two: the install step, then the build step, each run
 * with `sh -c` as a command of its own, so that Berth knows whether the
 * install succeeded. Berth splits only what it composed or recognises: the
 * install it puts before `npm run …`/`npx …`, and a leading plain `npm ci && `
 * or `npm install && ` whose rest is a chain of `&&` alone (the split then
 * means what the one command meant). With a split, node_modules is a
 * finished install (or came from the cache) before the build step runs, and
 * it is kept in the cache even when that step fails.
 */
export interface BuildSteps {
  /** `npm ci` or `npm install`; undefined when node_modules was restored from the cache. */
  install: string | undefined;
  build: string;
}

export interface ResolveBuildSettingsOptions {
  /**
   * node_modules was restored from the cache for this exact lockfile (see
   * `restoreNodeModules`). The install step is then left out, and a leading
   * plain `npm ci && ` or `npm install && ` is dropped from the command: npm
   * would delete the restored tree before installing the same thing again.
   */
  cacheHit?: boolean;
}

/** What one source says; any part may be missing. */
interface Layer {
  command?: string;
  publish?: string;
  environment: Record<string, string>;
  source: string;
  notes: string[];
}

/** Keys a repository's berth.toml may set under `[build]`. */
const REPO_BUILD_KEYS = ['command', 'publish', 'environment'];

/** Keys of netlify.toml's `[build]` that only mean something on Netlify. */
const NETLIFY_IGNORED_BUILD_KEYS = ['functions', 'edge_functions', 'ignore', 'processing'];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const HUGO_CONFIGS = ['hugo.toml', 'hugo.yaml', 'hugo.yml', 'hugo.json'];
/** Older Hugo sites use a generic name; they are recognised by their content. */
const GENERIC_CONFIGS = ['config.toml', 'config.yaml', 'config.yml', 'config.json'];

/**
 * The most Berth reads of one config file in the repository (berth.toml,
 * netlify.toml, package.json, a Hugo config). Real ones are a few KiB; the
 * cap keeps a huge file (or one that never ends) out of memory.
 */
export const REPO_CONFIG_MAX_BYTES = 1024 * 1024;

const CONFIG_HINT =
  'set command and publish under [sites.build] in the server\'s berth.toml, e.g. command = "npm ci && npm run build" and publish = "dist"';

/**
 * @param from the checkout, or the root files of the commit (a site with no
 *   build is then published without checking it out, see git-tree-source.ts)
 */
export async function resolveBuildSettings(
  site: ResolvedSite,
  from: string | RepoFiles,
  options: ResolveBuildSettingsOptions = {},
): Promise<BuildSettings> {
  const workDir = typeof from === 'string' ? await checkoutFiles(from) : from;
  const berthToml = await readRepoBerthToml(workDir);
  const netlifyToml = await readNetlifyToml(workDir);
  const server: Layer | undefined =
    site.build.command !== undefined || site.build.publish !== undefined
      ? { command: site.build.command, publish: site.build.publish, environment: {}, source: 'server config', notes: [] }
      : undefined;

  const ordered = [server, berthToml, netlifyToml].filter((layer) => layer !== undefined);
  const decides = (layer: Layer): boolean => layer.command !== undefined || layer.publish !== undefined;
  let index = ordered.findIndex(decides);
  if (index === -1) {
    // Presets are looked at only now: detection reads package.json, which
    // may be broken in a repository whose build is configured elsewhere.
    const preset = await detectPreset(workDir);
    if (preset === undefined) throw await nothingDetected(site, workDir);
    index = ordered.push(preset) - 1;
  }
  const winner = ordered[index] as Layer;

  const details: string[] = [];
  const notes: string[] = [...(berthToml?.notes ?? []), ...(netlifyToml?.notes ?? [])];
  let publish = winner.publish;
  let publishSource = winner.source;
  if (publish === undefined) {
    // A command without an output directory (presets always name one): take
    // it from the next source that names one, else the repository itself.
    const from = ordered.slice(index + 1).find((layer) => layer.publish !== undefined) ?? (await detectPreset(workDir));
    if (from?.publish !== undefined) {
      publish = from.publish;
      publishSource = from.source;
      details.push(`publish from ${from.source}`);
    } else {
      notes.push(`${winner.source} names no publish directory; the repository root is published`);
    }
  }
  publish = checkPublish(publish ?? '.', publishSource);

  let command = winner.command;
  let steps: BuildSteps | undefined;
  if (command !== undefined && (await isFile(workDir, 'package.json'))) {
    const cacheHit = options.cacheHit ?? false;
    const plainInstall = /^\s*(npm (?:ci|install))\s*&&\s*/.exec(command);
    if (plainInstall !== null) {
      const rest = command.slice(plainInstall[0].length);
      if (cacheHit) {
        command = rest;
        details.unshift('install skipped, node_modules from cache');
      }
      if (isAndChain(rest)) steps = { install: cacheHit ? undefined : plainInstall[1], build: rest };
    } else if (/^\s*(?:npm run|npx)\s/.test(command)) {
      const install = await installStepFor(workDir, cacheHit);
      // Berth's own install goes first; the command then runs as written, as one step.
      steps = { install, build: command };
      if (install !== undefined) {
        command = `${install} && ${command}`;
        details.unshift(install);
      } else if (cacheHit) {
        details.unshift('node_modules from cache');
      }
    }
  }

  return {
    command,
    publish,
    environment: { ...netlifyToml?.environment, ...berthToml?.environment },
    source: details.length === 0 ? winner.source : `${winner.source} (${details.join('; ')})`,
    notes,
    steps,
  };
}

/**
 * Whether `npm ci && <text>` means the same as `npm ci`, then `<text>` on
 * its own if that succeeded: true when `<text>` is a chain of `&&` with no
 * `||`, `;`, `&` (but `2>&1`) or line break, which would bind `npm ci` into a
 * larger list (`npm ci && a || b` runs `b` when `npm ci` fails). Looked at as plain
 * text, quotes included: a command this refuses is run whole, as before.
 */
function isAndChain(text: string): boolean {
  return !/\|\||;|\n|\r/.test(text) && !text.replaceAll('&&', '').replace(/[<>]&/g, '').includes('&');
}

/**
 * The absolute output directory after the build, checked again with
 * symbolic links resolved: the build itself could have made `dist` a link
 * to somewhere outside the work directory. When the directory does not
 * exist, the path is returned as is and publishing reports it.
 */
export async function resolvePublishDir(workDir: string, publish: string): Promise<string> {
  const lexical = join(workDir, checkPublish(publish, 'the build settings'));
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return lexical;
    throw error;
  }
  const root = await realpath(workDir);
  if (real !== root && !real.startsWith(root + sep)) {
    throw new BerthError(
      'E_BUILD_CONFIG',
      `the publish directory "${publish}" leads to ${real}, outside the repository, through a symbolic link; publish a directory inside it`,
    );
  }
  return real;
}

/** Lexical checks; the result is normalised (`./dist/` -> `dist`). */
function checkPublish(publish: string, source: string): string {
  const fail = (why: string): never => {
    throw new BerthError('E_BUILD_CONFIG', `publish directory ${JSON.stringify(publish)} from ${source} ${why}; write a directory inside the repository, e.g. "dist"`);
  };
  if (publish.trim() === '') fail('is empty');
  if (publish.includes('\0')) fail('contains a NUL character');
  if (publish.startsWith('/') || publish.startsWith('\\') || /^[a-z]:/i.test(publish)) fail('is absolute');
  if (publish.split(/[\\/]/).includes('..')) fail('leaves the repository');
  const normal = posix.normalize(publish).replace(/\/+$/, '');
  return normal === '' ? '.' : normal;
}

async function readRepoBerthToml(workDir: RepoFiles): Promise<Layer | undefined> {
  const file = 'berth.toml';
  const parsed = await readToml(workDir, file);
  if (parsed === undefined) return undefined;
  const { data, text } = parsed;
  const problems = problemList(text);
  for (const key of Object.keys(data)) {
    if (key !== 'build') {
      problems.add(
        key,
        `unknown key ${excerpt(key)}; a repository's berth.toml holds only a [build] table (${REPO_BUILD_KEYS.join(', ')}), other settings belong in the server's berth.toml`,
      );
    }
  }
  const layer: Layer = { environment: {}, source: file, notes: [] };
  const build = data.build;
  if (build !== undefined && !isTable(build)) {
    problems.add('build', '"build" must be a table: [build]');
  } else if (build !== undefined) {
    for (const key of Object.keys(build)) {
      if (!REPO_BUILD_KEYS.includes(key)) problems.add(key, `unknown key ${excerpt(`build.${key}`)}; use ${REPO_BUILD_KEYS.join(', ')}`);
    }
    if (build.command !== undefined) {
      if (typeof build.command === 'string' && build.command.trim() !== '') layer.command = build.command;
      else problems.add('command', 'build.command must be a shell command in quotes, e.g. "npm run build"');
    }
    if (build.publish !== undefined) {
      if (typeof build.publish === 'string') layer.publish = build.publish;
      else problems.add('publish', 'build.publish must be a directory in quotes, e.g. "dist"');
    }
    if (build.environment !== undefined) {
      if (!isTable(build.environment)) {
        problems.add('environment', 'build.environment must be a table of NAME = "value"');
      } else {
        for (const [name, value] of Object.entries(build.environment)) {
          if (!ENV_NAME.test(name)) problems.add(name, `${excerpt(name)} is not a valid environment variable name; use letters, digits and underscores`);
          // Values may be tokens, so they are never echoed.
          else if (typeof value !== 'string') problems.add(name, `build.environment.${excerpt(name).slice(1, -1)} must be a string; put the value in quotes`);
          else layer.environment[name] = value;
        }
      }
    }
  }
  problems.throwIfAny(file);
  return layer;
}

async function readNetlifyToml(workDir: RepoFiles): Promise<Layer | undefined> {
  const file = 'netlify.toml';
  const parsed = await readToml(workDir, file);
  if (parsed === undefined) return undefined;
  const { data, text } = parsed;
  const problems = problemList(text);
  const layer: Layer = { environment: {}, source: file, notes: [] };

  const ignored = Object.keys(data)
    .filter((key) => key !== 'build')
    .map((key) => (Array.isArray(data[key]) ? `[[${excerpt(key).slice(1, -1)}]]` : `[${excerpt(key).slice(1, -1)}]`));
  const build = data.build;
  if (build !== undefined && !isTable(build)) {
    problems.add('build', '"build" must be a table: [build]');
  } else if (build !== undefined) {
    for (const key of NETLIFY_IGNORED_BUILD_KEYS) if (key in build) ignored.push(`build.${key}`);
    if (build.base !== undefined && !(typeof build.base === 'string' && ['', '.', './', '/'].includes(build.base.trim()))) {
      problems.add(
        'base',
        `build.base is not supported: Berth builds in the repository root; set [sites.build] in the server's berth.toml with command = "cd <base> && …" and publish = "<base>/<dir>"`,
      );
    }
    if (typeof build.command === 'string' && build.command.trim() !== '') layer.command = build.command;
    else if (build.command !== undefined && build.command !== '') problems.add('command', 'build.command must be a string');
    if (typeof build.publish === 'string') layer.publish = build.publish;
    else if (build.publish !== undefined) problems.add('publish', 'build.publish must be a string');
    if (build.environment !== undefined) {
      if (!isTable(build.environment)) {
        problems.add('environment', 'build.environment must be a table of NAME = "value"');
      } else {
        for (const [name, value] of Object.entries(build.environment)) {
          if (!ENV_NAME.test(name)) problems.add(name, `${excerpt(name)} is not a valid environment variable name`);
          // Netlify accepts NODE_VERSION = 20; so does Berth, as the text "20".
          else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') layer.environment[name] = String(value);
          else problems.add(name, `build.environment.${excerpt(name).slice(1, -1)} must be a string`);
        }
      }
    }
  }
  problems.throwIfAny(file);
  if (ignored.length > 0) layer.notes.push(`netlify.toml: ignored ${ignored.join(', ')} (Berth reads only command, publish and environment from [build])`);
  return layer;
}

/**
 * Reads a file at the root of the repository the way Berth reads every file
 * a repository controls (see RepoFiles): a symbolic link, a FIFO, a device
 * or a directory is refused, and so is a file over `REPO_CONFIG_MAX_BYTES`,
 * with an error that quotes none of it (a link to `/etc/shadow` must not end
 * up in the deploy log). Undefined when absent.
 */
async function readRepoFile(workDir: RepoFiles, file: string): Promise<string | undefined> {
  const buffer = await workDir.read(file, REPO_CONFIG_MAX_BYTES);
  return buffer?.toString('utf8');
}

/** smol-toml's own messages are fixed phrases like this; anything else (a date library's message) may quote the file. */
const PLAIN_REASON = /^[a-z][a-z ,:-]{0,79}$/;

async function readToml(workDir: RepoFiles, file: string): Promise<{ data: Record<string, unknown>; text: string } | undefined> {
  const text = await readRepoFile(workDir, file);
  if (text === undefined) return undefined;
  try {
    return { data: parseToml(text) as Record<string, unknown>, text };
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // Never the parser's code frame: it quotes lines of the file, which may hold environment values.
    const first = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    const reason = PLAIN_REASON.test(first) ? first : excerpt(first);
    throw new BerthError('E_BUILD_CONFIG', `${file} in the repository, line ${error.line}, column ${error.column}: not valid TOML: ${reason}`);
  }
}

interface ProblemList {
  /** Records a problem with the key it is about, placed on the key's line when it can be found. */
  add(key: string, message: string): void;
  /** Throws one `E_BUILD_CONFIG` listing every problem, in line order. */
  throwIfAny(file: string): void;
}

function problemList(text: string): ProblemList {
  const problems: Array<{ line: number | undefined; message: string }> = [];
  return {
    add: (key, message) => problems.push({ line: lineOf(text, key), message }),
    throwIfAny: (file) => {
      if (problems.length === 0) return;
      problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
      const list = problems.map(({ line, message }) => `\n  ${file}${line === undefined ? '' : ` line ${line}`}: ${message}`).join('');
      const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`;
      throw new BerthError('E_BUILD_CONFIG', `the repository's ${file} has ${count}:${list}`);
    },
  };
}

/** The 1-based first line that sets `key` (`key =`, `[key]`, `key.x =`), if any: a best effort, not a parser. */
function lineOf(text: string, key: string): number | undefined {
  const escaped = key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const pattern = new RegExp(`^\\s*(?:\\[\\[?\\s*)?["']?${escaped}["']?\\s*(?:=|\\]|\\.)`);
  const index = text.split('\n').findIndex((line) => pattern.test(line));
  return index === -1 ? undefined : index + 1;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * Where JSON.parse gave up, as a line and column. Its message is not passed
 * on: V8 quotes the text around the error.
 */
function jsonErrorPlace(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineColumn !== null) return ` (line ${lineColumn[1]}, column ${lineColumn[2]})`;
  const position = /at position (\d+)/.exec(message);
  if (position === null) return message.includes('Unexpected end of JSON input') ? ' (it ends too early)' : '';
  const before = text.slice(0, Number(position[1])).split('\n');
  return ` (line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1})`;
}

interface PackageJson {
  dependencies: Record<string, unknown>;
  scripts: Record<string, unknown>;
}

async function readPackageJson(workDir: RepoFiles): Promise<PackageJson | undefined> {
  const text = await readRepoFile(workDir, 'package.json');
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new BerthError('E_BUILD_CONFIG', `package.json in the repository is not valid JSON${jsonErrorPlace(text, error)}; check it with \`npm pkg get name\``);
  }
  if (!isTable(data)) throw new BerthError('E_BUILD_CONFIG', 'package.json in the repository is not a JSON object');
  const table = (value: unknown): Record<string, unknown> => (isTable(value) ? value : {});
  return {
    dependencies: { ...table(data.devDependencies), ...table(data.dependencies) },
    scripts: table(data.scripts),
  };
}

async function detectPreset(workDir: RepoFiles): Promise<Layer | undefined> {
  const preset = (name: string, command: string | undefined, publish: string): Layer => ({
    command,
    publish,
    environment: {},
    source: name,
    notes: [],
  });
  const pkg = await readPackageJson(workDir);
  if (pkg !== undefined) {
    const hasBuildScript = typeof pkg.scripts.build === 'string';
    // Astro first: an Astro project may list vite as well.
    if ('astro' in pkg.dependencies) return preset('preset astro', hasBuildScript ? 'npm run build' : 'npx astro build', 'dist');
    if ('vite' in pkg.dependencies) return preset('preset vite', hasBuildScript ? 'npm run build' : 'npx vite build', 'dist');
    if ('@11ty/eleventy' in pkg.dependencies) return preset('preset eleventy', 'npx @11ty/eleventy', '_site');
  }
  if (await isHugoSite(workDir)) return preset('preset hugo', 'hugo --minify', 'public');
  if (await isFile(workDir, 'index.html')) return preset('static files', undefined, '.');
  return undefined;
}

async function isHugoSite(workDir: RepoFiles): Promise<boolean> {
  for (const name of HUGO_CONFIGS) if (await isFile(workDir, name)) return true;
  for (const name of GENERIC_CONFIGS) {
    const text = await readRepoFile(workDir, name);
    if (text === undefined) continue;
    // `baseURL` is Hugo's spelling (keys are case-insensitive in Hugo).
    if (/^\s*"?baseurl"?\s*[=:]/im.test(text)) return true;
    const dirs = await Promise.all(['content', 'layouts', 'themes', 'archetypes'].map((dir) => isDirectory(workDir, dir)));
    if (dirs[0] === true && dirs.slice(1).some(Boolean)) return true;
  }
  return false;
}

async function nothingDetected(site: ResolvedSite, workDir: RepoFiles): Promise<BerthError> {
  const pkg = await readPackageJson(workDir);
  const found =
    pkg !== undefined && typeof pkg.scripts.build === 'string'
      ? '; package.json has a build script, but Berth cannot tell which directory it writes the site to'
      : '';
  return new BerthError(
    'E_BUILD_CONFIG',
    `cannot tell how to build site ${site.name}: no [sites.build] in the server config, no [build] with a command or publish directory in the repository's berth.toml or netlify.toml, no package.json depending on astro, vite or @11ty/eleventy, no Hugo config and no index.html at the repository root${found}; ${CONFIG_HINT}`,
  );
}

/** Links are neither files nor directories here, so detection never looks through one. */
async function isFile(files: RepoFiles, name: string): Promise<boolean> {
  return (await files.kind(name)) === 'file';
}

async function isDirectory(files: RepoFiles, name: string): Promise<boolean> {
  return (await files.kind(name)) === 'directory';
}
