import type { ApiDeploy, ApiLogLine } from '../../api/api-types.ts';
import type { ShownState } from '../../deploy/shown-state.ts';
import { cancelPath, deployLogEventsPath, redeployPath, releasesPath, sitePath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import type { PageContext } from '../page-context.ts';
import { commitLink } from '../parts/commit-link.ts';
import { renderPage } from '../parts/layout.ts';
import { phaseBar } from '../parts/phase-bar.ts';
import { postButton } from '../parts/post-button.ts';
import { deployStateBadge } from '../parts/state-badge.ts';
import { timeElement } from '../parts/time-element.ts';
import { durationText, utcText } from '../time-text.ts';

/** What a finished deploy changed, when the app knows it. */
export interface DeploySummary {
  /** Files that differ from the release served before. */
  filesChanged: number;
  filesTotal: number;
  /** Redirect and header rules in the release. */
  redirects: number;
  headers: number;
  warnings: string[];
}

export interface DeployPageModel extends PageContext {
  deploy: ApiDeploy;
  summary: DeploySummary | null;
  /** The log lines known when the page is rendered, in order; dashboard.js follows on from the last. */
  log: ApiLogLine[];
}

/** The states in which a deploy can still change, be cancelled, and its log grow. */
const RUNNING: ReadonlySet<ShownState> = new Set(['queued', 'building', 'publishing']);

function fact(term: string, value: Html | string): Html {
  return html`<dt>${term}</dt><dd>${value}</dd>`;
}

function summaryList(summary: DeploySummary): Html {
  return html`<h2>Changes</h2>
<dl class="facts">
${fact('Files', `${summary.filesChanged} changed of ${summary.filesTotal}`)}
${fact('Rules', `${summary.redirects} redirect${summary.redirects === 1 ? '' : 's'}, ${summary.headers} header rule${summary.headers === 1 ? '' : 's'}`)}
</dl>
${summary.warnings.length === 0 ? '' : html`<h3>Warnings</h3><ul class="warnings">${summary.warnings.map((warning) => html`<li>${warning}</li>`)}</ul>`}`;
}

function exactTime(iso: string | null, now: Date): Html {
  if (iso === null) return html`<span class="none">—</span>`;
  return html`${timeElement(iso, now)} <span class="hint">(${utcText(new Date(iso))})</span>`;
}

/**
 * One deploy: what it is and how it went, its buttons, then its log. The
 * summary and the buttons carry `data-refresh`: when the log's stream says
 * the deploy ended, dashboard.js fetches this page again and swaps those
 * parts in. While the deploy runs, the log has `data-follow` (the log's
 * event stream) and `data-last` (the last line here), and the script
 * appends what comes after.
 */
export function renderDeployPage(model: DeployPageModel): string {
  const { deploy, now } = model;
  const running = RUNNING.has(deploy.state);
  const last = model.log.at(-1)?.n ?? 0;
  const message = deploy.message ?? deploy.title;
  const actions = html`${running ? postButton(cancelPath(deploy.id), 'Cancel this deploy', model.csrfToken) : ''}${deploy.sha === null ? '' : postButton(redeployPath(deploy.site), `Deploy ${deploy.sha.slice(0, 7)} again`, model.csrfToken, { ref: deploy.sha })}`;
  return renderPage({
    context: model,
    title: `${deploy.site}: deploy ${deploy.id}`,
    heading: html`Deploy <code>${deploy.id}</code> of <a href="${sitePath(deploy.site)}">${deploy.site}</a>`,
    nav: 'sites',
    main: html`<section id="deploy-summary" data-refresh aria-label="Summary">
<p class="state-line">${deployStateBadge(deploy.state)}${deploy.live ? html` <span class="live-marker">serving now</span>` : ''}</p>
${deploy.error === null ? '' : html`<div class="error-box"><p><strong>${deploy.error.code}</strong></p><p>${deploy.error.message}</p></div>`}
<dl class="facts">
${fact('Commit', html`${commitLink(deploy.sha, deploy.commitUrl)} on <code>${deploy.ref}</code>`)}
${fact('Author', deploy.author ?? html`<span class="none">—</span>`)}
${fact('Trigger', `${deploy.trigger}${deploy.forge === null ? '' : ` (${deploy.forge})`}`)}
${fact('Created', exactTime(deploy.createdAt, now))}
${fact('Started', exactTime(deploy.startedAt, now))}
${fact('Finished', exactTime(deploy.finishedAt, now))}
${fact('Duration', durationText(deploy.durationMs))}
${fact('Phases', deploy.phases.length === 0 ? html`<span class="none">—</span>` : html`${phaseBar(deploy.phases)}<ul class="inline-list">${deploy.phases.map((phase) => html`<li><span class="phase-key phase-key-${phase.name}"></span>${phase.name} ${durationText(phase.ms)}</li>`)}</ul>`)}
${fact('Build', deploy.buildSource ?? html`<span class="none">—</span>`)}
${fact('Release', deploy.releaseId === null ? html`<span class="none">none</span>` : html`<a href="${releasesPath(deploy.site)}"><code>${deploy.releaseId}</code></a>`)}
</dl>
${message === null ? '' : html`<h2>Commit message</h2><pre class="message">${message}</pre>`}
${model.summary === null ? '' : summaryList(model.summary)}
</section>
<div id="deploy-actions" class="actions" data-refresh>${actions}</div>
<section aria-labelledby="log-heading">
<h2 id="log-heading">Log</h2>
<pre id="log" class="log" tabindex="0"${running ? html` data-follow="${deployLogEventsPath(deploy.id)}" data-last="${last}"` : html` data-last="${last}"`}>${model.log.map((line) => html`<span data-n="${line.n}">${line.text}</span>\n`)}</pre>
<p id="log-status" class="status" role="status" aria-live="polite">${running ? '' : `The deploy ended: ${deploy.state}.`}</p>
</section>`,
  });
}
