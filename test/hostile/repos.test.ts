/**
 * Hostile repositories (see helpers/hostile-site.ts), the files they and
 * their builds control: none may make Berth read, quote or publish a file
 * the build user could not read, or hang or exhaust Berth.
 */
import { test } from 'node:test';
import { assertRefused, building, deploy, hostileSite } from '../helpers/hostile-site.ts';
import { secretFile } from '../helpers/secret-file.ts';

test('a build that makes _headers a link to the TLS key gets a clear error, and the key is neither quoted nor published', async (t) => {
  const secret = await secretFile(t);
  const site = await hostileSite(t, building(`ln -s ${secret.file} out/_headers`));
  await assertRefused(site, deploy(site), 'E_PUBLISH_SYMLINK', /_headers in the published folder is a symbolic link/, secret);
});

test('a build that leaves _redirects as a FIFO fails at once instead of hanging the deploy', async (t) => {
  const site = await hostileSite(t, building('mkfifo out/_redirects'));
  await assertRefused(site, deploy(site), 'E_REDIRECTS_INVALID', /_redirects in the published folder is a FIFO, not a regular file/);
});

test('a build that links _redirects to /dev/zero fails without reading it', async (t) => {
  const site = await hostileSite(t, building('ln -s /dev/zero out/_redirects'));
  await assertRefused(site, deploy(site), 'E_PUBLISH_SYMLINK', /_redirects in the published folder is a symbolic link/);
});

for (const file of ['berth.toml', 'netlify.toml', 'package.json']) {
  test(`a repository whose ${file} is a link to a root-only file gets a clear error quoting none of it`, async (t) => {
    const secret = await secretFile(t);
    const site = await hostileSite(t, { 'index.html': '<h1>hi</h1>' }, { [file]: secret.file });
    await assertRefused(site, deploy(site), 'E_BUILD_CONFIG', new RegExp(`the repository's ${file.replace('.', '\\.')} is a symbolic link`), secret);
  });
}

test('a repository whose lockfile links to /dev/zero gets a clear error instead of filling memory', async (t) => {
  const site = await hostileSite(t, { ...building('true'), 'package.json': '{"name":"site"}' }, { 'package-lock.json': '/dev/zero' });
  await assertRefused(site, deploy(site), 'E_BUILD_CONFIG', /the repository's package-lock\.json is a symbolic link/);
});

