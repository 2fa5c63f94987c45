import { html, type Html } from '../html.ts';

/**
 * A button that POSTs to `action` with the session's CSRF token (field
 * `csrf`) and any `fields` as hidden inputs. Every change the dashboard
 * makes goes through one of these: a link (GET) never changes anything.
 */
export function postButton(action: string, label: string, csrfToken: string, fields: Readonly<Record<string, string>> = {}, className = 'button'): Html {
  return html`<form method="post" action="${action}" class="inline-form"><input type="hidden" name="csrf" value="${csrfToken}">${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}<button type="submit" class="${className}">${label}</button></form>`;
}
