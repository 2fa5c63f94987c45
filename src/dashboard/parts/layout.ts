import { DASHBOARD_CSS, DASHBOARD_JS } from '../dashboard-assets.ts';
import { certificatesPath, signOutPath, sitesPath } from '../dashboard-paths.ts';
import { html, type Html, type HtmlValue } from '../html.ts';
import type { PageContext } from '../page-context.ts';

/** Which item of the main navigation a page belongs to, marked `aria-current`. */
export type NavItem = 'sites' | 'certificates';

export interface DocumentParts {
  /** The page's own title; ` · Berth` is added. */
  title: string;
  body: HtmlValue;
  /** Only on pages behind sign-in: the session's token, for scripts. */
  csrfToken?: string;
}

/**
 * A complete document: the hashed stylesheet and script (no inline script or
 * style anywhere, for the content security policy) and the body as given.
 */
export function renderDocument(parts: DocumentParts): string {
  return `<!doctype html>\n${html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="same-origin">
${parts.csrfToken === undefined ? '' : html`<meta name="csrf-token" content="${parts.csrfToken}">\n`}<title>${parts.title} · Berth</title>
<link rel="stylesheet" href="${DASHBOARD_CSS.path}">
<script src="${DASHBOARD_JS.path}" defer></script>
</head>
<body>
<a class="skip-link" href="#main">Skip to content</a>
${parts.body}
</body>
</html>
`.text}`;
}

export interface PageParts {
  context: PageContext;
  title: string;
  /** The main heading; the title when left out. */
  heading?: HtmlValue;
  nav?: NavItem;
  main: HtmlValue;
}

function navLink(href: string, label: string, current: boolean): Html {
  return html`<li><a href="${href}"${current ? html` aria-current="page"` : ''}>${label}</a></li>`;
}

/**
 * A page behind sign-in: the header (product, navigation, the admin, adding
 * a passkey, signing out) and the main part.
 *
 * The "Add a passkey" button lives here, in the header's account part, so it
 * is on every page; it stays hidden until dashboard.js finds WebAuthn in the
 * browser.
 */
export function renderPage(parts: PageParts): string {
  const { context } = parts;
  return renderDocument({
    title: parts.title,
    csrfToken: context.csrfToken,
    body: html`<header class="site-header">
<a class="brand" href="${sitesPath()}">Berth</a>
<nav aria-label="Main"><ul>${navLink(sitesPath(), 'Sites', parts.nav === 'sites')}${navLink(certificatesPath(), 'Certificates', parts.nav === 'certificates')}</ul></nav>
<div class="account">
<span>Signed in as <strong>${context.admin}</strong></span>
<button type="button" id="passkey-add" class="button button-quiet" hidden>Add a passkey</button>
<form method="post" action="${signOutPath()}" class="inline-form"><input type="hidden" name="csrf" value="${context.csrfToken}"><button type="submit" class="button button-quiet">Sign out</button></form>
<p id="passkey-add-status" class="status" role="status"></p>
</div>
</header>
<main id="main">
<h1>${parts.heading ?? parts.title}</h1>
${parts.main}
</main>`,
  });
}
