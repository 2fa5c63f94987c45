import type { ApiPhase } from '../../api/api-types.ts';
import { html, type Html } from '../html.ts';
import { durationText } from '../time-text.ts';

/** `fetch 1.2 s, build 8.0 s, publish 300 ms`. */
export function phasesText(phases: readonly ApiPhase[]): string {
  return phases.map((phase) => `${phase.name} ${durationText(phase.ms)}`).join(', ');
}

/** The bar's coordinate width; the CSS stretches it to the cell. */
const WIDTH = 1000;

/**
 * The phases as one bar, each as wide as its share of the total. An SVG
 * with `width` attributes, because the content security policy allows no
 * `style` attribute; the colours come from a class per phase name, and the
 * same durations are its text alternative.
 */
export function phaseBar(phases: readonly ApiPhase[]): Html {
  const total = phases.reduce((sum, phase) => sum + Math.max(0, phase.ms), 0);
  if (phases.length === 0 || total <= 0) return html`<span class="none">—</span>`;
  let x = 0;
  const rects = phases.map((phase) => {
    const width = (Math.max(0, phase.ms) / total) * WIDTH;
    const rect = html`<rect class="phase-${phase.name}" x="${x.toFixed(1)}" y="0" width="${width.toFixed(1)}" height="10"/>`;
    x += width;
    return rect;
  });
  return html`<svg class="phase-bar" viewBox="0 0 ${WIDTH} 10" preserveAspectRatio="none" role="img" aria-label="${phasesText(phases)}">${rects}</svg>`;
}
