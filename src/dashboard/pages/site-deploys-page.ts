import type { ApiDeploy, ApiSite } from '../../api/api-types.ts';
import { SHOWN_STATES, type ShownState } from '../../deploy/shown-state.ts';
import { deployPath, sitePath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import type { PageContext } from '../page-context.ts';
import { commitLink } from '../parts/commit-link.ts';
import { renderPage } from '../parts/layout.ts';
import { lockText } from '../parts/lock-text.ts';
import { phaseBar } from '../parts/phase-bar.ts';
import { siteActions } from '../parts/site-actions.ts';
import { siteTabs } from '../parts/site-tabs.ts';
import { deployStateBadge } from '../parts/state-badge.ts';
import { timeElement } from '../parts/time-element.ts';
import { durationText } from '../time-text.ts';

export interface DeployFilter {
  /** From the query's `state`; null: every state. */
  state: ShownState | null;
  /** From the query's `branch`; null: every branch. */
  branch: string | null;
}

export interface SiteDeploysPageModel extends PageContext {
  site: ApiSite;
  /** The deploys to list, newest first, already filtered. */
  deploys: ApiDeploy[];
  filter: DeployFilter;
  /** The branches the filter offers (those in the history). */
  branches: string[];
  /** This is an older page (the query has `before`). */
  paged?: boolean;
  /** Older deploys than these match the filter: the page links to them. */
  more?: boolean;
}

/** This page's filter, continued from the last deploy shown. */
function olderLink(model: SiteDeploysPageModel): Html {
  const last = model.deploys.at(-1);
  if (model.more !== true || last === undefined) return html``;
  const query = new URLSearchParams();
  if (model.filter.state !== null) query.set('state', model.filter.state);
  if (model.filter.branch !== null) query.set('branch', model.filter.branch);
  query.set('before', last.id);
  return html`<p><a href="${sitePath(model.site.name)}?${query.toString()}">Older deploys</a></p>`;
}

function filterForm(model: SiteDeploysPageModel): Html {
  const { filter } = model;
  const branches = filter.branch !== null && !model.branches.includes(filter.branch) ? [...model.branches, filter.branch] : model.branches;
  return html`<form method="get" action="${sitePath(model.site.name)}" class="filter" role="search" aria-label="Filter deploys">
<label for="filter-state">State</label>
<select id="filter-state" name="state"><option value="">any</option>${SHOWN_STATES.map((state) => html`<option${state === filter.state ? html` selected` : ''}>${state}</option>`)}</select>
<label for="filter-branch">Branch</label>
<select id="filter-branch" name="branch"><option value="">any</option>${branches.map((branch) => html`<option${branch === filter.branch ? html` selected` : ''}>${branch}</option>`)}</select>
<button type="submit" class="button">Filter</button>
</form>`;
}

function deployRow(deploy: ApiDeploy, now: Date): Html {
  return html`<tr>
<td>${deployStateBadge(deploy.state)}${deploy.live ? html` <span class="live-marker">serving</span>` : ''}</td>
<td>${commitLink(deploy.sha, deploy.commitUrl)}</td>
<td class="title-cell"><a href="${deployPath(deploy.id)}">${deploy.title ?? `Deploy ${deploy.id}`}</a>${deploy.branch === null ? '' : html` <span class="branch">${deploy.branch}</span>`}</td>
<td>${deploy.author ?? html`<span class="none">—</span>`}</td>
<td>${deploy.trigger}</td>
<td>${timeElement(deploy.createdAt, now)}</td>
<td class="number">${durationText(deploy.durationMs)}</td>
<td class="phases-cell">${phaseBar(deploy.phases)}</td>
</tr>`;
}

/** A site's deploys, newest first, with a filter and the site's buttons. */
export function renderSiteDeploysPage(model: SiteDeploysPageModel): string {
  const { site } = model;
  const filtered = model.filter.state !== null || model.filter.branch !== null || model.paged === true;
  return renderPage({
    context: model,
    title: `${site.name}: deploys`,
    heading: site.name,
    nav: 'sites',
    main: html`${siteTabs(site.name, 'deploys')}
<p>Deploys <code>${site.branch}</code>${site.repo === null ? html` (published with <code>berth publish</code>)` : html` from <code>${site.repo}</code>`}. Auto-deploy: ${lockText(site.lock, model.now)}</p>
${siteActions(site, model.csrfToken)}
<h2>Deploys</h2>
${filterForm(model)}
${model.deploys.length === 0
  ? html`<p>${filtered ? html`No deploy matches this filter. <a href="${sitePath(site.name)}">Show all</a>` : 'No deploys yet.'}</p>`
  : html`<div class="table-scroll" role="region" aria-label="Deploys" tabindex="0"><table>
<thead><tr><th scope="col">State</th><th scope="col">Commit</th><th scope="col">Title</th><th scope="col">Author</th><th scope="col">Trigger</th><th scope="col">When</th><th scope="col">Duration</th><th scope="col">Phases</th></tr></thead>
<tbody>
${model.deploys.map((deploy) => deployRow(deploy, model.now))}
</tbody>
</table></div>
${olderLink(model)}`}`,
  });
}
