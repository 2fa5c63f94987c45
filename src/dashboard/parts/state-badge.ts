import type { ApiCertificateState } from '../../api/api-types.ts';
import type { ShownState } from '../../deploy/shown-state.ts';
import { html, type Html } from '../html.ts';

/**
 * How a state looks: the state's own word is always the badge's text, and
 * the tone (a colour and a border style in the CSS) only repeats it, so the
 * page reads the same without colour.
 */
export type BadgeTone = 'ok' | 'busy' | 'bad' | 'warn' | 'quiet';

const DEPLOY_TONES: Record<ShownState, BadgeTone> = {
  queued: 'busy',
  building: 'busy',
  publishing: 'busy',
  live: 'ok',
  superseded: 'quiet',
  'rolled back': 'warn',
  failed: 'bad',
  cancelled: 'quiet',
  skipped: 'quiet',
};

const CERTIFICATE_TONES: Record<ApiCertificateState, BadgeTone> = {
  valid: 'ok',
  expiring: 'warn',
  expired: 'bad',
  missing: 'bad',
  'self-signed': 'warn',
  failing: 'bad',
};

/** A badge with `text`; the tone comes from a closed list, never from the text. */
export function badge(text: string, tone: BadgeTone): Html {
  return html`<span class="badge badge-${tone}">${text}</span>`;
}

export function deployStateBadge(state: ShownState): Html {
  return badge(state, DEPLOY_TONES[state] ?? 'quiet');
}

export function certificateStateBadge(state: ApiCertificateState): Html {
  return badge(state, CERTIFICATE_TONES[state] ?? 'quiet');
}
