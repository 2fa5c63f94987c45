import { html, type Html } from '../html.ts';
import { httpUrl } from '../http-url.ts';

/** The first 7 hex digits, as git shows a commit. */
export function shortCommit(sha: string): string {
  return sha.slice(0, 7);
}

/**
 * A commit's short id, linked to the forge's page for it when that is a
 * plain http(s) URL; otherwise (no forge, or a URL that is not http(s))
 * the id alone. The full id is in `title` for copying.
 */
export function commitLink(sha: string | null, commitUrl: string | null): Html {
  if (sha === null) return html`<span class="none">—</span>`;
  const code = html`<code title="${sha}">${shortCommit(sha)}</code>`;
  const href = httpUrl(commitUrl);
  return href === null ? code : html`<a href="${href}" rel="noreferrer">${code}</a>`;
}
