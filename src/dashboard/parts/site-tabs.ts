import { releasesPath, sitePath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';

/** The links between a site's pages, the current one marked. */
export function siteTabs(site: string, current: 'deploys' | 'releases'): Html {
  const tab = (href: string, label: string, on: boolean): Html => html`<li><a href="${href}"${on ? html` aria-current="page"` : ''}>${label}</a></li>`;
  return html`<nav class="tabs" aria-label="${site}"><ul>${tab(sitePath(site), 'Deploys', current === 'deploys')}${tab(releasesPath(site), 'Releases', current === 'releases')}</ul></nav>`;
}
