import type { ApiLock } from '../../api/api-types.ts';
import { html, type Html } from '../html.ts';
import { badge } from './state-badge.ts';
import { timeElement } from './time-element.ts';

/** Whether auto-deploy is on: "on", or a badge with who locked it, when, and why. */
export function lockText(lock: ApiLock | null, now: Date): Html {
  if (lock === null) return html`<span>on</span>`;
  return html`${badge('locked', 'warn')} by ${lock.by} ${timeElement(lock.at, now)}${lock.reason ? html`: ${lock.reason}` : ''}`;
}
