import type { ApiRelease, ApiSite } from '../../api/api-types.ts';
import { deployPath, rollbackPath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import type { PageContext } from '../page-context.ts';
import { commitLink } from '../parts/commit-link.ts';
import { renderPage } from '../parts/layout.ts';
import { siteTabs } from '../parts/site-tabs.ts';
import { timeElement } from '../parts/time-element.ts';

export interface ReleasesPageModel extends PageContext {
  site: ApiSite;
  /** Newest first. */
  releases: ApiRelease[];
}

function releaseRow(release: ApiRelease, site: string, now: Date): Html {
  return html`<tr${release.live ? html` class="live-row"` : ''}>
<td><code>${release.id}</code>${release.live ? html` <span class="live-marker">live</span>` : ''}</td>
<td>${timeElement(release.createdAt, now)}</td>
<td>${commitLink(release.sha, null)}</td>
<td>${release.deployId === null ? html`<span class="none">—</span>` : html`<a href="${deployPath(release.deployId)}">${release.deployId}</a>`}</td>
<td class="number">${release.files ?? '—'}</td>
<td>${release.live ? '' : html`<a class="button" href="${rollbackPath(site, release.id)}">Roll back to ${release.id}</a>`}</td>
</tr>`;
}

/**
 * A site's releases. Rolling back starts from a link to a page that asks
 * first, so one click never changes what a site serves.
 */
export function renderReleasesPage(model: ReleasesPageModel): string {
  const { site } = model;
  return renderPage({
    context: model,
    title: `${site.name}: releases`,
    heading: site.name,
    nav: 'sites',
    main: html`${siteTabs(site.name, 'releases')}
<h2>Releases</h2>
${model.releases.length === 0 ? html`<p>No releases yet.</p>` : html`<div class="table-scroll" role="region" aria-label="Releases" tabindex="0"><table>
<thead><tr><th scope="col">Release</th><th scope="col">Made</th><th scope="col">Commit</th><th scope="col">Deploy</th><th scope="col">Files</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
<tbody>
${model.releases.map((release) => releaseRow(release, site.name, model.now))}
</tbody>
</table></div>`}`,
  });
}
