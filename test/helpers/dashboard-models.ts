/**
 * Models for the dashboard's pages, as the app would pass them: a few sites,
 * a history of deploys, a long log. With `hostile`, every value that comes
 * from outside Berth (commit messages, authors, branches, log lines, error
 * messages, forge URLs) is an attempt to inject markup or a script, so tests
 * can check what the pages make of it.
 */
import type { ApiCertificate, ApiDeploy, ApiLogLine, ApiPhase, ApiRelease, ApiSite } from '../../src/api/api-types.ts';
import { SHOWN_STATES } from '../../src/deploy/shown-state.ts';
import { renderCertificatesPage } from '../../src/dashboard/pages/certificates-page.ts';
import { renderDeployPage } from '../../src/dashboard/pages/deploy-page.ts';
import { renderMessagePage } from '../../src/dashboard/pages/message-page.ts';
import { renderReleasesPage } from '../../src/dashboard/pages/releases-page.ts';
import { renderRollbackPage } from '../../src/dashboard/pages/rollback-page.ts';
import { renderSignInLinkPage } from '../../src/dashboard/pages/sign-in-link-page.ts';
import { renderSignInPage } from '../../src/dashboard/pages/sign-in-page.ts';
import { renderSiteDeploysPage } from '../../src/dashboard/pages/site-deploys-page.ts';
import { renderSitesPage } from '../../src/dashboard/pages/sites-page.ts';
import type { PageContext } from '../../src/dashboard/page-context.ts';
import { sitesPath } from '../../src/dashboard/dashboard-paths.ts';

/** Markup, an attribute break-out, an event handler and a script URL in one string. */
export const HOSTILE = `<script>alert(1)</script>"'><img src=x onerror=alert(2)> &amp; javascript:alert(3)`;
export const HOSTILE_URL = 'javascript:alert(4)';

export interface ModelOptions {
  hostile?: boolean;
  sites?: number;
  deploys?: number;
  logLines?: number;
}

export interface RenderedPage {
  name: string;
  html: string;
}

const NOW = new Date('2026-12-04T12:00:00Z');
const at = (minutesAgo: number): string => new Date(NOW.getTime() - minutesAgo * 60_000).toISOString();
const sha = (i: number): string => (i.toString(16).padStart(8, '0') + 'a1b2c3d4e5f6').repeat(4).slice(0, 40);

function phases(i: number, startedMinutesAgo: number): ApiPhase[] {
  const plan: Array<[ApiPhase['name'], number]> = [['queued', 400 + i * 7], ['fetch', 1200 + i * 11], ['build', 8000 + i * 97], ['publish', 300 + i], ['check', 150], ['activate', 40]];
  let t = NOW.getTime() - startedMinutesAgo * 60_000;
  return plan.map(([name, ms]) => {
    const phase = { name, startedAt: new Date(t).toISOString(), finishedAt: new Date(t + ms).toISOString(), ms };
    t += ms;
    return phase;
  });
}

function deploy(site: string, i: number, hostile: boolean): ApiDeploy {
  const state = i === 0 ? 'building' : i === 1 ? 'live' : SHOWN_STATES[i % SHOWN_STATES.length] ?? 'superseded';
  const running = state === 'queued' || state === 'building' || state === 'publishing';
  const minutesAgo = i * 47 + 2;
  const title = hostile ? HOSTILE : `Update the ${['pricing', 'docs', 'blog', 'home'][i % 4]} page (#${100 + i})`;
  return {
    id: `d${String(5000 - i).padStart(6, '0')}`,
    site,
    trigger: (['push', 'poll', 'hook', 'cli', 'api'] as const)[i % 5] ?? 'push',
    forge: 'github',
    ref: hostile ? `refs/heads/${HOSTILE}` : 'refs/heads/main',
    branch: hostile ? HOSTILE : i % 5 === 3 ? 'preview' : 'main',
    sha: sha(i),
    author: hostile ? HOSTILE : ['Ada Lovelace', 'Grace Hopper', 'Edsger Dijkstra'][i % 3] ?? null,
    title,
    message: `${title}\n\n${hostile ? HOSTILE : 'Rewrites the section and fixes two links.\nCo-authored-by: Someone <someone@example.com>'}`,
    commitUrl: hostile ? HOSTILE_URL : `https://github.com/example/${site}/commit/${sha(i)}`,
    state,
    live: state === 'live',
    createdAt: at(minutesAgo),
    startedAt: at(minutesAgo - 0.1),
    finishedAt: running ? null : at(minutesAgo - 0.3),
    durationMs: 10_090 + i * 116,
    phases: running ? phases(i, minutesAgo).slice(0, 3) : phases(i, minutesAgo),
    releaseId: running ? null : `r20261204${String(120000 - i * 100).padStart(6, '0')}`,
    buildSource: 'netlify.toml',
    error: state === 'failed' ? { code: 'E_BUILD_FAILED', message: hostile ? HOSTILE : 'The build command exited with status 1' } : null,
  };
}

function release(site: string, i: number, hostile: boolean): ApiRelease {
  return {
    id: `r20261204${String(120000 - i * 100).padStart(6, '0')}`,
    site,
    createdAt: at(i * 47 + 3),
    live: i === 1,
    sha: sha(i),
    deployId: i % 7 === 6 ? null : `d${String(5000 - i).padStart(6, '0')}`,
    files: hostile ? 1 : 240 + i,
    bytes: 3_400_000 + i * 1000,
  };
}

function certificate(names: string[], sites: string[], i: number, hostile: boolean): ApiCertificate {
  const states = ['valid', 'expiring', 'failing', 'self-signed'] as const;
  const state = states[i % states.length] ?? 'valid';
  return {
    names,
    sites,
    state,
    issuer: "(STAGING) Let's Encrypt R11",
    notBefore: at(60 * 24 * 30),
    notAfter: at(-60 * 24 * 60),
    nextCheckAt: at(-90),
    lastError: state === 'failing' ? { code: 'E_ACME_ORDER', message: hostile ? HOSTILE : 'The CA refused the order: rate limited' } : null,
  };
}

/** Every page, rendered from one coherent set of models. */
export function renderDashboardPages(options: ModelOptions = {}): RenderedPage[] {
  const hostile = options.hostile ?? false;
  const deployCount = options.deploys ?? 50;
  const logLines = options.logLines ?? 200;
  const context: PageContext = { admin: hostile ? HOSTILE : 'alice', csrfToken: hostile ? HOSTILE : 'Qk9Fa2xxY3NyZi10b2tlbi0zMi1ieXRlcy1sb25nLi4u', now: NOW };
  const siteNames = ['blog', 'docs', 'shop', 'wiki', 'status'].slice(0, options.sites ?? 3);
  const histories = new Map(siteNames.map((name) => [name, Array.from({ length: deployCount }, (_, i) => deploy(name, i, hostile))]));
  const sites: ApiSite[] = siteNames.map((name, s) => {
    const deploys = histories.get(name) ?? [];
    return {
      name,
      domains: hostile ? [HOSTILE, `${name}.example.com`] : [`${name}.example.com`, `www.${name}.example.com`],
      repo: `https://github.com/example/${name}.git`,
      branch: hostile ? HOSTILE : 'main',
      liveRelease: deploys[1]?.releaseId ?? null,
      liveDeploy: deploys[1] ?? null,
      lastDeploy: deploys[0] ?? null,
      lock: s === 1 ? { by: hostile ? HOSTILE : 'bob', at: at(300), reason: hostile ? HOSTILE : 'Freeze during the launch' } : null,
      certificate: certificate([`${name}.example.com`, `www.${name}.example.com`], [name], s, hostile),
    };
  });
  const site = sites[0];
  const deploys = histories.get(siteNames[0] ?? '') ?? [];
  const running = deploys[0];
  const failed = deploys.find((d) => d.state === 'failed');
  if (site === undefined || running === undefined || failed === undefined) throw new Error('the fixture needs a site with a running and a failed deploy');
  const releases = Array.from({ length: 20 }, (_, i) => release(site.name, i, hostile));
  const log: ApiLogLine[] = Array.from({ length: logLines }, (_, i) => ({
    n: i + 1,
    text: hostile ? `${HOSTILE} ${i}` : i % 10 === 0 ? `> npm run build (step ${i / 10})` : `  dist/assets/page-${i}.html   ${(i * 37) % 900 + 100} kB │ gzip: ${(i * 13) % 90 + 10} kB`,
  }));
  const certificates = [
    ...sites.flatMap((s) => (s.certificate === null ? [] : [s.certificate])),
    certificate(['berth.example.com'], ['admin'], 0, hostile),
  ];
  return [
    { name: 'sign-in', html: renderSignInPage({ error: hostile ? HOSTILE : null, name: hostile ? HOSTILE : 'alice' }) },
    { name: 'sign-in-error', html: renderSignInPage({ error: 'Wrong name or password' }) },
    { name: 'sign-in-link', html: renderSignInLinkPage({ name: hostile ? HOSTILE : 'alice', token: hostile ? HOSTILE : 'Yx3uVbq0m4pS7rZ1cT9wQe2Lk8HnJfA6dG5sB0oX-_4', error: null }) },
    { name: 'sites', html: renderSitesPage({ ...context, sites }) },
    { name: 'sites-empty', html: renderSitesPage({ ...context, sites: [] }) },
    { name: 'site-deploys', html: renderSiteDeploysPage({ ...context, site, deploys, filter: { state: null, branch: null }, branches: hostile ? [HOSTILE] : ['main', 'preview'], more: true }) },
    {
      name: 'site-deploys-older',
      html: renderSiteDeploysPage({ ...context, site, deploys: deploys.slice(5, 10), filter: { state: 'live', branch: hostile ? HOSTILE : 'main' }, branches: ['main'], paged: true, more: true }),
    },
    { name: 'site-deploys-filtered', html: renderSiteDeploysPage({ ...context, site: sites[1] ?? site, deploys: [], filter: { state: 'failed', branch: hostile ? HOSTILE : 'preview' }, branches: ['main'] }) },
    { name: 'deploy-running', html: renderDeployPage({ ...context, deploy: running, summary: null, log }) },
    {
      name: 'deploy-failed',
      html: renderDeployPage({ ...context, deploy: failed, summary: { filesChanged: 12, filesTotal: 240, redirects: 3, headers: 1, warnings: [hostile ? HOSTILE : '_redirects: line 4 has no status, 301 assumed'] }, log: log.slice(0, 40) }),
    },
    { name: 'releases', html: renderReleasesPage({ ...context, site, releases }) },
    { name: 'rollback', html: renderRollbackPage({ ...context, site, target: releases[5] ?? release(site.name, 5, hostile), live: releases[1] ?? null }) },
    { name: 'certificates', html: renderCertificatesPage({ ...context, certificates }) },
    { name: 'message', html: renderMessagePage({ context, status: 404, title: 'Not found', text: hostile ? HOSTILE : 'There is no deploy d000042.\n\nIt may have been pruned from the history.', code: 'E_API_NOT_FOUND', back: { href: sitesPath(), label: 'Sites' } }) },
    { name: 'message-signed-out', html: renderMessagePage({ context: null, status: 410, title: 'Link used', text: 'This sign-in link was used already.', code: 'E_ADMIN_LINK_USED', back: { href: hostile ? HOSTILE_URL : '/_berth/sign-in', label: 'Sign in' } }) },
  ];
}
