import { signInPath } from '../dashboard-paths.ts';
import { html } from '../html.ts';
import { renderDocument } from '../parts/layout.ts';

export interface SignInLinkPageModel {
  /** The admin the link was made for. */
  name: string;
  /** The link's token, as it came in the query: posted back, unchanged, in the hidden field `token`. */
  token: string;
  /** Why the last attempt failed, or null. */
  error: string | null;
}

/**
 * What a one-time sign-in link opens: a button, not a sign-in. Opening the
 * link (GET) must not use it up, because mail scanners and link previews
 * fetch links before the person does; only the POST of this form spends it.
 */
export function renderSignInLinkPage(model: SignInLinkPageModel): string {
  return renderDocument({
    title: `Sign in as ${model.name}`,
    body: html`<main id="main" class="narrow">
<p class="brand">Berth</p>
<h1>Sign in as ${model.name}</h1>
<p id="sign-in-error" class="alert" role="alert">${model.error ?? ''}</p>
<p>This link works once: signing in uses it up.</p>
<form method="post" action="${signInPath()}" class="stack">
<input type="hidden" name="token" value="${model.token}">
<button type="submit" class="button button-primary">Sign in as ${model.name}</button>
</form>
</main>`,
  });
}
