import type { ApiRelease, ApiSite } from '../../api/api-types.ts';
import { releasesPath, rollbackPath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import type { PageContext } from '../page-context.ts';
import { commitLink } from '../parts/commit-link.ts';
import { renderPage } from '../parts/layout.ts';
import { timeElement } from '../parts/time-element.ts';

export interface RollbackPageModel extends PageContext {
  site: ApiSite;
  /** The release to serve again. */
  target: ApiRelease;
  /** The release served now, or null when none is. */
  live: ApiRelease | null;
}

function describe(release: ApiRelease, now: Date): Html {
  return html`<code>${release.id}</code> (commit ${commitLink(release.sha, null)}, made ${timeElement(release.createdAt, now)})`;
}

/** Asks before a rollback: names the release that will be served and the one it replaces. */
export function renderRollbackPage(model: RollbackPageModel): string {
  const { site, target, live } = model;
  return renderPage({
    context: model,
    title: `${site.name}: roll back to ${target.id}`,
    heading: html`Roll back ${site.name} to ${target.id}?`,
    nav: 'sites',
    main: html`<p>${site.name} will serve release ${describe(target, model.now)}${live === null ? '.' : html` instead of the live release ${describe(live, model.now)}.`}</p>
<p>Rolling back also locks auto-deploy, so the next push or poll does not replace it: unlock the site to deploy again.</p>
<form method="post" action="${rollbackPath(site.name, target.id)}" class="actions">
<input type="hidden" name="csrf" value="${model.csrfToken}">
<input type="hidden" name="release" value="${target.id}">
<button type="submit" class="button button-primary">Roll back to ${target.id}</button>
<a href="${releasesPath(site.name)}">Keep the current release</a>
</form>`,
  });
}
