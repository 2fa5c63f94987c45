import type { ApiSite } from '../../api/api-types.ts';
import { lockPath, redeployPath, unlockPath } from '../dashboard-paths.ts';
import { html, type Html } from '../html.ts';
import { postButton } from './post-button.ts';

/**
 * A site's buttons: deploy the branch's head again, and lock or unlock
 * auto-deploy (locking takes an optional reason, shown to the other admins).
 */
export function siteActions(site: ApiSite, csrfToken: string): Html {
  const lock = site.lock === null
    ? html`<form method="post" action="${lockPath(site.name)}" class="inline-form"><input type="hidden" name="csrf" value="${csrfToken}"><label for="lock-reason">Reason <span class="hint">(optional)</span></label> <input id="lock-reason" name="reason" type="text" maxlength="200"> <button type="submit" class="button">Lock auto-deploy</button></form>`
    : postButton(unlockPath(site.name), 'Unlock auto-deploy', csrfToken);
  return html`<div class="actions">${site.repo === null ? '' : postButton(redeployPath(site.name), `Deploy ${site.branch} now`, csrfToken, {}, 'button button-primary')}${lock}</div>`;
}
