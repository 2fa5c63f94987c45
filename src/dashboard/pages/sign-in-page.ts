import { signInPath } from '../dashboard-paths.ts';
import { html } from '../html.ts';
import { renderDocument } from '../parts/layout.ts';

export interface SignInPageModel {
  /** What went wrong with the last attempt (the error's message), or null. */
  error: string | null;
  /** The name given in the last attempt, kept so only the password is typed again. */
  name?: string;
}

/**
 * The sign-in page: name and password (POST to the sign-in path, fields
 * `name` and `password`), and a passkey button dashboard.js shows and runs
 * when the browser has WebAuthn. The alert paragraph is always there, empty
 * when there is nothing to say, so the script can put a passkey error in it.
 */
export function renderSignInPage(model: SignInPageModel): string {
  return renderDocument({
    title: 'Sign in',
    body: html`<main id="main" class="narrow">
<p class="brand">Berth</p>
<h1>Sign in</h1>
<p id="sign-in-error" class="alert" role="alert">${model.error ?? ''}</p>
<form method="post" action="${signInPath()}" class="stack">
<label for="name">Name</label>
<input id="name" name="name" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="64" value="${model.name ?? ''}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<button type="submit" class="button button-primary">Sign in</button>
</form>
<div class="passkey">
<button type="button" id="passkey-sign-in" class="button" hidden>Sign in with a passkey</button>
</div>
<p class="hint">No password? An admin on the server can make a one-time sign-in link with <code>berth admin link NAME</code>.</p>
</main>`,
  });
}
