/**
 * HTML built from template literals in which every interpolated value is
 * escaped unless it is already `Html`. Pages never concatenate strings into
 * markup by hand, so a commit message, a branch or a log line from a
 * repository cannot become markup: forgetting to escape would take a
 * deliberate `new Html(...)`.
 *
 * Escaping covers text and double-quoted attribute values (every attribute in
 * the dashboard is double-quoted). It does not make a URL safe to follow:
 * `httpUrl` (http-url.ts) decides which outside URLs may become links.
 */

/** Markup that is safe as it is: written by the dashboard, or escaped on the way in. */
export class Html {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toString(): string {
    return this.text;
  }
}

/** What a template accepts: nothing (`null`, `undefined`, `false` render as nothing), text, numbers, markup, or lists of those. */
export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for element content and for double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ENTITIES[char] ?? char);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** A tagged template: `` html`<p>${untrusted}</p>` `` escapes `untrusted`. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new Html(out);
}
