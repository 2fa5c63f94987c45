import { html, type Html } from '../html.ts';
import { ageText, utcText } from '../time-text.ts';

/**
 * A moment as `<time>`: its age as text, the exact UTC time in `title` and
 * `datetime`. dashboard.js rewrites the text each minute from `datetime`,
 * so an open page does not keep saying "just now". `null` (not yet, or
 * unknown) is a dash.
 */
export function timeElement(iso: string | null, now: Date): Html {
  if (iso === null) return html`<span class="none">—</span>`;
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return html`<span class="none">—</span>`;
  return html`<time datetime="${at.toISOString()}" title="${utcText(at)}">${ageText(at, now)}</time>`;
}
