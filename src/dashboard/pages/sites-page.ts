import type { ApiSite } from '../../api/api-types.ts';
import { releasesPath, sitePath, deployPath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import { httpUrl } from '../http-url.ts';
import type { PageContext } from '../page-context.ts';
import { commitLink } from '../parts/commit-link.ts';
import { renderPage } from '../parts/layout.ts';
import { lockText } from '../parts/lock-text.ts';
import { certificateStateBadge, deployStateBadge } from '../parts/state-badge.ts';
import { timeElement } from '../parts/time-element.ts';

export interface SitesPageModel extends PageContext {
  sites: ApiSite[];
}

function domainLink(domain: string): Html {
  const href = httpUrl(`https://${domain}/`);
  return href === null ? html`<span>${domain}</span>` : html`<a href="${href}" rel="noreferrer">${domain}</a>`;
}

function siteCard(site: ApiSite, now: Date): Html {
  const live = site.liveDeploy;
  const last = site.lastDeploy;
  return html`<li class="card">
<h2><a href="${sitePath(site.name)}">${site.name}</a></h2>
<dl class="facts">
<dt>Domains</dt><dd>${site.domains.length === 0 ? html`<span class="none">none</span>` : html`<ul class="inline-list">${site.domains.map((domain) => html`<li>${domainLink(domain)}</li>`)}</ul>`}</dd>
<dt>Live</dt><dd>${site.liveRelease === null ? html`<span class="none">nothing published yet</span>` : html`<a href="${releasesPath(site.name)}"><code>${site.liveRelease}</code></a>${live === null ? '' : html` from ${commitLink(live.sha, live.commitUrl)}`}`}</dd>
<dt>Last deploy</dt><dd>${last === null ? html`<span class="none">none yet</span>` : html`<a href="${deployPath(last.id)}">${deployStateBadge(last.state)}</a> ${timeElement(last.createdAt, now)}`}</dd>
<dt>Certificate</dt><dd>${site.certificate === null ? html`<span class="none">none</span>` : html`${certificateStateBadge(site.certificate.state)}${site.certificate.notAfter === null ? '' : html` until ${timeElement(site.certificate.notAfter, now)}`}`}</dd>
<dt>Auto-deploy</dt><dd>${lockText(site.lock, now)}</dd>
</dl>
</li>`;
}

/** The home page: every site, with what it serves and how its last deploy went. */
export function renderSitesPage(model: SitesPageModel): string {
  return renderPage({
    context: model,
    title: 'Sites',
    nav: 'sites',
    main: model.sites.length === 0
      ? html`<p>No sites yet. Sites are added in <code>berth.toml</code> on the server.</p>`
      : html`<ul class="cards">${model.sites.map((site) => siteCard(site, model.now))}</ul>`,
  });
}
