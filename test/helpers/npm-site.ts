/** The line a site's install prints (its postinstall script): in a deploy log, it proves the install ran. */
export const INSTALL_MARKER = 'INSTALL-RAN-7c2e';

export interface NpmSiteOptions {
  /** Local packages the site depends on (`file:./deps/<name>`), so that `npm ci` needs no network. */
  deps: string[];
  /** The content of build.js, which `npm run build` runs with node. */
  build: string;
  /** The root package's postinstall script, run by `npm ci` after the packages are in node_modules. */
  postinstall?: string;
}

/**
 * The files of a repository that `npm ci && npm run build` builds offline: a
 * package.json, the package-lock.json npm would write for it, and each
 * dependency as a local package. Changing `deps` changes the lockfile, and
 * so the node_modules cache key; changing `build` or `postinstall` does not.
 */
export function npmSiteFiles(options: NpmSiteOptions): Record<string, string> {
  const dependencies = Object.fromEntries(options.deps.map((name) => [name, `file:./deps/${name}`]));
  const manifest = {
    name: 'site',
    version: '1.0.0',
    private: true,
    scripts: { postinstall: options.postinstall ?? `echo ${INSTALL_MARKER}`, build: 'node build.js' },
    dependencies,
  };
  const packages: Record<string, unknown> = { '': { name: 'site', version: '1.0.0', hasInstallScript: true, dependencies } };
  for (const name of options.deps) {
    packages[`deps/${name}`] = { version: '1.0.0' };
    packages[`node_modules/${name}`] = { resolved: `deps/${name}`, link: true };
  }
  const lock = { name: 'site', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(manifest, null, 2)}\n`,
    'package-lock.json': `${JSON.stringify(lock, null, 2)}\n`,
    'build.js': options.build,
  };
  for (const name of options.deps) {
    files[`deps/${name}/package.json`] = `${JSON.stringify({ name, version: '1.0.0', main: 'index.js' })}\n`;
    files[`deps/${name}/index.js`] = `module.exports = ${JSON.stringify(name)};\n`;
  }
  return files;
}

/** build.js for a build that works: dist/index.html names `text` and every dependency it loaded. */
export function goodBuild(text: string, deps: string[]): string {
  return [
    "const fs = require('node:fs');",
    `const loaded = ${JSON.stringify(deps)}.map((name) => require(name)).join(',');`,
    "fs.mkdirSync('dist', { recursive: true });",
    `fs.writeFileSync('dist/index.html', '<h1>' + ${JSON.stringify(text)} + ' ' + loaded + '</h1>');`,
    '',
  ].join('\n');
}
