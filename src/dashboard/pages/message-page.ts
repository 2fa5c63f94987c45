import { sitesPath } from '../dashboard-paths.ts';
import { html } from '../html.ts';
import { renderDocument, renderPage } from '../parts/layout.ts';
import type { PageContext } from '../page-context.ts';

export interface MessagePageModel {
  /** Null before sign-in (a bad link, an expired session): the page then has no header. */
  context: PageContext | null;
  /** The HTTP status the app answers with, shown with the title: `404 Not found`. */
  status: number;
  title: string;
  /** One or more paragraphs of plain text (split on blank lines). */
  text: string;
  /** An error code from docs/errors.md, when there is one. */
  code?: string | null;
  /** Where to go from here: a dashboard path and its label. */
  back: { href: string; label: string };
}

/** A page that only says something: an error, or the result of an action that has no page of its own. */
export function renderMessagePage(model: MessagePageModel): string {
  const heading = `${model.status} ${model.title}`;
  // Only a path on this host: a back link made from a request's value must not lead off it.
  const back = /^\/(?![/\\])/.test(model.back.href) ? model.back : { href: sitesPath(), label: 'Sites' };
  const main = html`${model.text.split(/\n\s*\n/).map((paragraph) => html`<p>${paragraph.trim()}</p>`)}
${model.code ? html`<p>Code: <code>${model.code}</code></p>` : ''}
<p><a href="${back.href}">${back.label}</a></p>`;
  if (model.context === null) {
    return renderDocument({ title: heading, body: html`<main id="main" class="narrow">\n<p class="brand">Berth</p>\n<h1>${heading}</h1>\n${main}\n</main>` });
  }
  return renderPage({ context: model.context, title: heading, main });
}
